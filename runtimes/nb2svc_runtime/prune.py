"""Build side: drop packages' `tests/` folders from the serving venv.

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
Standard library only, Python 3.9+.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

PRUNED_NAME = "tests"


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
        f"nb2svc: pruned {count} tests/ folders ({size / 1e6:.0f} MB) from the serving venv{kept}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
