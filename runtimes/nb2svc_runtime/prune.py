"""Build side: drop packages' `tests/` folders, shared libraries no import loads, toolkits
serving never imports and distributions the server never uses, from the serving venv
(docs/architecture.md, "The serving venv").

Run as a script in the serve-deps stage, in the same RUN that installs the venv (so
the bytes never reach a layer):

    python prune.py SITE_PACKAGES KEEP_FILE

Test suites are a fifth of a typical scientific venv (pandas alone ships 46 MB) and
the server never imports them, with two exceptions, and a `tests` folder on the path
of either stays:
- a package's own code imports from one (numpy 2.2's `numpy.testing` imports
  `numpy._core.tests._natype`): found by reading the import lines of every module
  outside the test folders;
- the model's pickle references a class in one: the train stage lists such modules in
  KEEP_FILE (one dotted name per line, see train/capture.py).
Only folders inside a package are pruned, never a top-level distribution.

UNLOADED_LIBRARIES names shared libraries a wheel ships for other consumers than its own
Python binding: onnxruntime's C API library (35 MB of a compiled model's venv; its Python
binding carries the runtime itself). One goes only when no binding beside it names it.

UNUSED_SUBPACKAGES are toolkits inside a package for other jobs than loading and running a
model (onnxruntime's converters, optimisers and quantisers), which the package never imports
but in a CUDA-only debug printout, and which no attribute access reaches; one stays if the
model's pickle names a module in it (KEEP_FILE). numpy's f2py and distutils are not among
them: `numpy.__getattr__` imports them on an attribute access, and a native scikit-learn
model's load reached `numpy.f2py` that way (measured: the churn image did not serve).

UNUSED_DISTRIBUTIONS are what `uvicorn[standard]` brings that the server never turns on
(serve/process.py configures no reload, websockets, YAML log config or .env file): one is
uninstalled (the files of its RECORD) unless another installed distribution requires it.

With `--strip ROOT` (the build base's root, mounted read-only), extension modules lose their
symbol tables and debug sections (`strip --strip-unneeded`, run by ROOT's own loader and
libraries: the runtime base has no binutils). uvloop alone ships 12 MB of them. A module is
stripped only if it imports before, and kept stripped only if it imports after (else the
original is put back); libraries bundled beside packages (`*.libs`, patched by auditwheel)
are never touched.
Standard library only, Python 3.9+.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

PRUNED_NAME = "tests"
# (folder, the library's file pattern, the Python binding's pattern) in site-packages
UNLOADED_LIBRARIES = (("onnxruntime/capi", "libonnxruntime.so*", "onnxruntime_pybind11_state*"),)
# (package, its subpackages serving never imports), see the docstring; 9 MB of onnxruntime's
# 45 (onnxruntime 1.32)
UNUSED_SUBPACKAGES = (("onnxruntime", ("tools", "transformers", "quantization")),)
# uvicorn[standard]'s extras the server never turns on (file watching for --reload, the
# websockets protocol, YAML logging config, .env files): 9 MB
UNUSED_DISTRIBUTIONS = ("watchfiles", "websockets", "pyyaml", "python-dotenv")
# the one distribution whose requirement on them does not count: it asks for them as extras
EXTRAS_OF = "uvicorn"


def kept_folders(modules: list[str]) -> set[tuple[str, ...]]:
    """Package-relative paths of the `tests` folders that referenced modules live in."""
    keep: set[tuple[str, ...]] = set()
    for module in modules:
        parts = tuple(module.strip().split("."))
        for depth, part in enumerate(parts):
            if part == PRUNED_NAME and depth > 0:
                keep.add(parts[: depth + 1])
    return keep


_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+([\w, \t()]+)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w., \t]+)$", re.M)


def _names(clause: str) -> list[str]:
    """`a as b, c` -> [a, c]"""
    names = (part.split()[0] for part in clause.strip("() \t").split(",") if part.strip())
    return [n for n in names if n != "("]


def imported_modules(source: str, package: tuple[str, ...]) -> set[str]:
    """Dotted modules a module's import lines name (relative ones resolved in `package`)."""
    found: set[str] = set()
    for dots, name, clause in _FROM.findall(source):
        base = package[: len(package) - len(dots) + 1] if dots else ()
        stem = ".".join([*base, *([name] if name else [])])
        found.add(stem)
        found.update(f"{stem}.{n}" for n in _names(clause))
    for clause in _IMPORT.findall(source):
        found.update(_names(clause))
    return found


def referenced_by_code(site_packages: Path) -> set[str]:
    """Test modules that packages' non-test code imports."""
    found: set[str] = set()
    for path in site_packages.glob("*/**/*.py"):
        rel = path.relative_to(site_packages).parts
        if PRUNED_NAME in rel[1:-1]:
            continue
        try:
            source = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if PRUNED_NAME not in source:
            continue
        package = rel[:-1]
        found.update(m for m in imported_modules(source, package) if PRUNED_NAME in m.split("."))
    return found


def prunable(site_packages: Path, keep: set[tuple[str, ...]]) -> list[Path]:
    found: list[Path] = []
    for folder in sorted(site_packages.glob("*/**/" + PRUNED_NAME)):
        if not folder.is_dir() or folder.is_symlink():
            continue
        rel = folder.relative_to(site_packages).parts
        if any(rel[: len(k)] == k or k[: len(rel)] == rel for k in keep):
            continue
        if any(parent in found for parent in folder.parents):
            continue
        found.append(folder)
    return found


def unloaded_libraries(site_packages: Path) -> list[Path]:
    """The UNLOADED_LIBRARIES present whose Python binding is there and never names them
    (a binding linked against its library has the library's name in its dynamic section)."""
    found: list[Path] = []
    for folder, library, binding in UNLOADED_LIBRARIES:
        where = site_packages / folder
        bindings = sorted(where.glob(binding))
        libraries = sorted(p for p in where.glob(library) if p.is_file())
        if not bindings or not libraries:
            continue
        stems = {p.name.split(".so")[0].encode() + b".so" for p in libraries}
        if any(stem in b.read_bytes() for b in bindings for stem in stems):
            continue
        found.extend(libraries)
    return found


def unused_subpackages(site_packages: Path, keep_modules: list[str]) -> list[Path]:
    """The UNUSED_SUBPACKAGES present that no module the model's pickle names lives in."""
    kept = {tuple(m.strip().split(".")) for m in keep_modules}
    found: list[Path] = []
    for package, subpackages in UNUSED_SUBPACKAGES:
        for sub in subpackages:
            folder = site_packages / package / sub
            if not (folder / "__init__.py").is_file() or folder.is_symlink():
                continue
            if any(parts[:2] == (package, sub) for parts in kept):
                continue
            found.append(folder)
    return found


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _required_names(dist: metadata.Distribution) -> set[str]:
    """Every distribution `dist` names in a requirement, whatever its marker or extra."""
    names = set()
    for requirement in dist.requires or []:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[)?", requirement)
        if match:
            names.add(_normalized(match[1]))
            if match[2] and _normalized(match[1]) == EXTRAS_OF:  # asks for uvicorn's extras
                names.update(UNUSED_DISTRIBUTIONS)
    return names


def unused_distributions(site_packages: Path) -> list[metadata.Distribution]:
    """The UNUSED_DISTRIBUTIONS installed that no distribution but EXTRAS_OF requires."""
    dists = list(metadata.distributions(path=[str(site_packages)]))
    needed: set[str] = set()
    for dist in dists:
        if _normalized(dist.metadata["Name"] or "") != EXTRAS_OF:
            needed |= _required_names(dist)
    return [
        dist
        for dist in dists
        if _normalized(dist.metadata["Name"] or "") in UNUSED_DISTRIBUTIONS
        and _normalized(dist.metadata["Name"] or "") not in needed
    ]


def uninstall(site_packages: Path, dist: metadata.Distribution) -> int:
    """Remove the files of `dist`'s RECORD that are inside `site_packages`; returns bytes."""
    root = site_packages.resolve()
    total = 0
    folders: set[Path] = set()
    for record in dist.files or []:
        path = (site_packages / record).resolve()
        if root not in path.parents or not path.is_file():
            continue
        total += path.stat().st_size
        path.unlink()
        folders.update(p for p in path.parents if root in p.parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not folder.is_symlink():
            for cache in folder.glob("__pycache__"):
                shutil.rmtree(cache)
            if not any(folder.iterdir()):
                folder.rmdir()
    return total


def _strip_command(root: Path) -> list[str] | None:
    """`strip --strip-unneeded` as ROOT's own dynamic loader runs it, or None without one."""
    strip = root / "usr" / "bin" / "strip"
    loaders = [p for pattern in ("lib64/ld-linux*.so*", "usr/lib64/ld-linux*.so*",
                                 "lib/ld-linux*.so*", "usr/lib/*-linux-gnu/ld-linux*.so*")
               for p in sorted(root.glob(pattern))]  # fmt: skip
    if not strip.is_file() or not loaders:
        return None
    dirs = [*sorted(root.glob("usr/lib/*-linux-gnu")), *sorted(root.glob("lib/*-linux-gnu"))]
    path = ":".join(str(d) for d in [*dirs, root / "usr" / "lib", root / "lib"])
    return [str(loaders[0]), "--library-path", path, str(strip), "--strip-unneeded"]


def extension_modules(site_packages: Path) -> dict[str, Path]:
    """Dotted name -> file of the ELF extension modules inside packages."""
    found: dict[str, Path] = {}
    for path in sorted(site_packages.glob("*/**/*.so")):
        rel = path.relative_to(site_packages).parts
        if any(part.endswith(".libs") or not part.isidentifier() for part in rel[:-1]):
            continue
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as handle:
            if handle.read(4) != b"\x7fELF":
                continue
        found[".".join([*rel[:-1], path.name.split(".", 1)[0]])] = path
    return found


_IMPORT_EACH = (
    "import importlib, sys\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n"
    "        importlib.import_module(name)\n"
    "    except BaseException:\n"
    "        print(name)\n"
)


def failing_imports(site_packages: Path, modules: list[str]) -> set[str]:
    """Which of `modules` do not import in a fresh interpreter with `site_packages` first."""
    if not modules:
        return set()
    env = dict(os.environ, PYTHONPATH=str(site_packages), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH, *modules],
        capture_output=True, text=True, env=env, check=False, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        return set(modules)
    return set(done.stdout.split())


def strip_extensions(site_packages: Path, root: Path) -> int:
    """Strip the extension modules that import before and after; returns the bytes saved."""
    command = _strip_command(root)
    if command is None:
        print(f"nb2svc: no strip in {root}; extension modules kept as they are")
        return 0
    modules = extension_modules(site_packages)
    importable = sorted(set(modules) - failing_imports(site_packages, sorted(modules)))
    saved = 0
    with tempfile.TemporaryDirectory(prefix="nb2svc-strip-") as tmp:
        originals: dict[str, Path] = {}
        for index, name in enumerate(importable):
            path = modules[name]
            stripped = path.with_name(path.name + ".nb2svc-stripped")  # same file system
            done = subprocess.run([*command, "-o", str(stripped), str(path)], capture_output=True)
            if (
                done.returncode != 0
                or not stripped.is_file()
                or (stripped.stat().st_size >= path.stat().st_size)
            ):
                stripped.unlink(missing_ok=True)
                continue
            backup = Path(tmp) / f"{index}.orig"
            shutil.copy2(path, backup)
            shutil.copymode(path, stripped)
            saved += path.stat().st_size - stripped.stat().st_size
            stripped.replace(path)
            originals[name] = backup
        for name in failing_imports(site_packages, sorted(originals)):
            path = modules[name]
            saved -= path.stat().st_size
            shutil.copy2(originals[name], path)
            saved += path.stat().st_size
            print(f"nb2svc: {name} does not import stripped; kept as it was")
    return saved


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def prune(site_packages: Path, keep_modules: list[str]) -> tuple[int, int]:
    """Remove the prunable folders; returns (folders, bytes)."""
    keep = kept_folders([*keep_modules, *referenced_by_code(site_packages)])
    folders = prunable(site_packages, keep)
    total = 0
    for folder in folders:
        total += _size(folder)
        shutil.rmtree(folder)
    for library in unloaded_libraries(site_packages):
        total += library.stat().st_size
        library.unlink()
    for folder in unused_subpackages(site_packages, keep_modules):
        total += _size(folder)
        shutil.rmtree(folder)
    for dist in unused_distributions(site_packages):
        total += uninstall(site_packages, dist)
    return len(folders), total


def main(argv: list[str]) -> int:
    strip_root = None
    if len(argv) == 4 and argv[2] == "--strip":
        strip_root, argv = Path(argv[3]), argv[:2]
    if len(argv) != 2:
        print("usage: prune.py SITE_PACKAGES KEEP_FILE [--strip ROOT]", file=sys.stderr)
        return 2
    site_packages, keep_file = Path(argv[0]), Path(argv[1])
    modules = keep_file.read_text().split() if keep_file.exists() else []
    count, size = prune(site_packages, modules)
    if strip_root is not None:
        size += strip_extensions(site_packages, strip_root)
    kept = f"; kept for the model: {', '.join(sorted(modules))}" if modules else ""
    print(
        f"nb2svc: pruned {count} tests/ folders, unloaded libraries, unused toolkits and "
        f"distributions ({size / 1e6:.0f} MB) "
        f"from the serving venv{kept}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
