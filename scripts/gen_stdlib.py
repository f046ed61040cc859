"""Generate builder/nb2svc/resources/stdlib.json from real interpreters.

Usage: python scripts/gen_stdlib.py [--pythons DIR] [--check]

For every CPython 3.8-3.13 found under DIR (default /root/.pyenv/versions) this runs
the interpreter itself and records its top-level standard-library module names:

* 3.10 and later: `sys.stdlib_module_names`, verbatim (it is static, so it does not
  depend on which optional extensions the build compiled).
* 3.8 and 3.9 (no `sys.stdlib_module_names`): derived from the installed tree:
  `sys.builtin_module_names`, plus every module and package that `pkgutil.iter_modules`
  finds in the `stdlib` directory and in `lib-dynload`, minus CPython's own test modules
  (`test`, `_test*`, `_xx*`, `xx*`, `_ctypes_test`, `__hello__`, `__phello__`,
  `_sysconfigdata_*`), plus the names that exist only on other platforms or in other
  build configurations (`PLATFORM_ONLY`: Windows/macOS modules, `_dbm`/`_gdbm`,
  the frozen importlib modules).
  The same rule applied to 3.10-3.13 reproduces `sys.stdlib_module_names` exactly for 3.10-3.12;
  `--check` verifies that, so the derivation for 3.8/3.9 is trustworthy.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "builder" / "nb2svc" / "resources" / "stdlib.json"
# The derivation rule is checked against the official list of the versions nearest to
# 3.8/3.9; 3.13 differs by design (Windows-only `_wmi` added, `msilib` removed).
CHECKED = ("3.10", "3.11", "3.12")
VERSIONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")

PROBE = """
import json, os, pkgutil, sys, sysconfig
paths = sysconfig.get_paths()
dirs = [paths["stdlib"], os.path.join(paths["platstdlib"], "lib-dynload")]
names = set(sys.builtin_module_names)
names.update(m.name for m in pkgutil.iter_modules(dirs))
print(json.dumps({
    "version": "%d.%d" % sys.version_info[:2],
    "derived": sorted(names),
    "official": sorted(getattr(sys, "stdlib_module_names", ())),
}))
"""

TEST_ONLY = re.compile(r"^(test|_test.*|_xx.*|xx.*|_ctypes_test|__p?hello__|_sysconfigdata_.*)$")
PLATFORM_ONLY = frozenset(
    {
        "_dbm", "_gdbm", "_frozen_importlib", "_frozen_importlib_external", "_msi",
        "_overlapped", "_scproxy", "_winapi", "msilib", "msvcrt", "nt", "winreg", "winsound",
    }
)  # fmt: skip


def derive(found: list[str]) -> list[str]:
    names = {n for n in found if not TEST_ONLY.match(n) and n != "site-packages"}
    return sorted(names | PLATFORM_ONLY)


def probe(python: Path) -> dict[str, list[str] | str]:
    out = subprocess.run([str(python), "-c", PROBE], check=True, capture_output=True, text=True)
    data: dict[str, list[str] | str] = json.loads(out.stdout)
    return data


def find_pythons(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for exe in sorted(root.glob("3.*/bin/python3")):
        minor = ".".join(exe.parent.parent.name.split(".")[:2])
        if minor in VERSIONS:
            found[minor] = exe
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pythons", type=Path, default=Path("/root/.pyenv/versions"))
    parser.add_argument("--check", action="store_true", help="verify the 3.8/3.9 derivation")
    args = parser.parse_args()
    pythons = find_pythons(args.pythons)
    missing = [v for v in VERSIONS if v not in pythons]
    if missing:
        print(f"missing interpreters for {missing} under {args.pythons}", file=sys.stderr)
        return 1
    table: dict[str, object] = {"_generated_by": "scripts/gen_stdlib.py", "_method": {}}
    method: dict[str, str] = {}
    for version in VERSIONS:
        data = probe(pythons[version])
        official, derived = list(data["official"]), derive(list(data["derived"]))
        if official:
            method[version] = "sys.stdlib_module_names"
            if args.check and version in CHECKED and official != derived:
                print(f"{version}: derivation differs: {set(official) ^ set(derived)}")
                return 1
            table[version] = official
        else:
            method[version] = "derived from the installed tree (see the script's docstring)"
            table[version] = derived
    table["_method"] = method
    OUT.write_text(json.dumps(table, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} for {', '.join(pythons)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
