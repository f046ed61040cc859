"""Train side: which distributions a pickled model needs at load time.

The pickle stream is scanned with `pickletools` (never executed): every GLOBAL and
STACK_GLOBAL opcode names a module; top-level modules are mapped to installed
distributions with `importlib.metadata.packages_distributions()` and pinned to the
installed versions.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import pickletools
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from pathlib import Path

_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING"}
_STRING_OPS |= {"BINSTRING", "SHORT_BINSTRING"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_IGNORED_DISTS = {"nb2svc"}


def pickle_globals(stream: bytes) -> list[tuple[str, str]]:
    """(module, qualname) of every global the pickle references, in order."""
    found: list[tuple[str, str]] = []
    memo: dict[int, object] = {}
    recent: list[object] = []
    for opcode, arg, _ in pickletools.genops(stream):
        name = opcode.name
        if name in _STRING_OPS:
            recent.append(arg)
        elif name in _GET_OPS:
            recent.append(memo.get(int(arg)))  # type: ignore[arg-type]
        elif name == "MEMOIZE":
            memo[len(memo)] = recent[-1] if recent else None
        elif name in _PUT_OPS:
            memo[int(arg)] = recent[-1] if recent else None  # type: ignore[arg-type]
        elif name == "GLOBAL":
            module, _, qualname = str(arg).partition(" ")
            found.append((module, qualname))
            recent.append(None)
        elif name == "STACK_GLOBAL" and len(recent) >= 2:
            pushed_module, pushed_name = recent[-2], recent[-1]
            if isinstance(pushed_module, str) and isinstance(pushed_name, str):
                found.append((pushed_module, pushed_name))
            recent.append(None)
        else:
            recent.append(None)
    return found


def pickle_strings(stream: bytes) -> set[str]:
    """Every string constant in the stream (cloudpickle names by-value modules this way)."""
    return {str(arg) for opcode, arg, _ in pickletools.genops(stream) if opcode.name in _STRING_OPS}


def top_level_modules(modules: Iterable[str]) -> set[str]:
    return {m.split(".")[0] for m in modules if m}


def third_party(modules: Iterable[str]) -> set[str]:
    """Top-level modules that are neither the standard library nor `__main__`."""
    stdlib = _stdlib_names() | {"builtins", "__builtin__", "copy_reg", "__main__"}
    return {m for m in top_level_modules(modules) if m not in stdlib and not m.startswith("_")}


@functools.lru_cache(maxsize=1)
def _stdlib_names() -> frozenset[str]:
    """`sys.stdlib_module_names`, or on Python 3.9 (which lacks it) what the stdlib folder
    and the built-in modules hold."""
    names = getattr(sys, "stdlib_module_names", None)
    if names is not None:
        return frozenset(names)
    found = set(sys.builtin_module_names)
    for entry in Path(sysconfig.get_paths()["stdlib"]).iterdir():
        if entry.name != "site-packages":
            found.add(entry.name[:-3] if entry.suffix == ".py" else entry.name.split(".")[0])
    return frozenset(found)


def packages_distributions_compat() -> Mapping[str, list[str]]:
    """`importlib.metadata.packages_distributions()`, which Python 3.9 lacks: top-level
    module -> the distributions that install it (top_level.txt, else the files' roots)."""
    if hasattr(metadata, "packages_distributions"):
        return metadata.packages_distributions()
    mapping: dict[str, list[str]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        tops = (dist.read_text("top_level.txt") or "").split()
        if not tops:
            roots = {f.parts[0] for f in dist.files or () if f.parts}
            tops = [r[:-3] if r.endswith(".py") else r for r in roots if ".dist-info" not in r]
        for top in tops:
            mapping.setdefault(top, []).append(name)
    return mapping


def distributions_for(modules: Iterable[str]) -> dict[str, str]:
    """Installed distributions (name -> version) that provide these top-level modules."""
    mapping = packages_distributions_compat()
    pins: dict[str, str] = {}
    for module in sorted(third_party(modules)):
        for dist in mapping.get(module, []):
            if dist.lower() in _IGNORED_DISTS:
                continue
            try:
                pins[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
    return pins


def installed_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def requirements_text(pins: dict[str, str]) -> str:
    lines = [
        "# Distributions the serialized model needs at load time (nb2svc_runtime.capture).",
        *(
            f"{name}=={version}"
            for name, version in sorted(pins.items(), key=lambda p: p[0].lower())
        ),
    ]
    return "\n".join(lines) + "\n"
