"""Build side: drop packages' `tests/` folders, and shared libraries no import loads, from
the serving venv.

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
Standard library only, Python 3.9+.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

PRUNED_NAME = "tests"
# (folder, the library's file pattern, the Python binding's pattern) in site-packages
UNLOADED_LIBRARIES = (("onnxruntime/capi", "libonnxruntime.so*", "onnxruntime_pybind11_state*"),)


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
    return len(folders), total


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: prune.py SITE_PACKAGES KEEP_FILE", file=sys.stderr)
        return 2
    site_packages, keep_file = Path(argv[0]), Path(argv[1])
    modules = keep_file.read_text().split() if keep_file.exists() else []
    count, size = prune(site_packages, modules)
    kept = f"; kept for the model: {', '.join(sorted(modules))}" if modules else ""
    print(
        f"nb2svc: pruned {count} tests/ folders and unloaded libraries ({size / 1e6:.0f} MB) "
        f"from the serving venv{kept}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
