"""Per-package cut-offs: each package as of the notebook's date, unless that has no wheel.

When nothing resolves as of the notebook's date with wheels for the image's Python (a
2020 notebook on the Python 3.9 base: numpy of April 2020 has no wheel for 3.9), moving
the cut-off forward for every package would give the notebook versions years newer than
the ones it was written with. Instead only the packages that need it move: each one whose
release current on that date has no wheel for the image's Python gets its own cut-off,
just after the oldest later release that has one (uv's `--exclude-newer-package`); every
other package stays as of the date. A model server requirement with a floor newer than
the date (`starlette>=0.40`) likewise gets the oldest release that meets it.

The packages to look at are the requirements, the closure of today's lock for them and
whatever the resolver names when a round fails; a few rounds settle it. When they do not
(a conflict the dates cannot explain, or an index that cannot be asked), nb2svc.era falls
back to stepping the one cut-off forward. See README.md, "Versions: one commit, one lock".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from nb2svc.deps.releases import Release, many_releases
from nb2svc.errors import DependencyError
from nb2svc.lock import Lock, LockInput, ResolutionError, lowest_pins

ROUNDS = 8
_NAMED = re.compile(
    r"\b([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?(?:\{[^}]*\})?(?:==|>=|<=|!=|~=|<|>)\s*\d"
)
_ALL_VERSIONS = re.compile(r"(?:all versions of|only) ([A-Za-z0-9][A-Za-z0-9._-]*)")
_DEPENDS = re.compile(
    r"depends on ([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?(?:\{[^}]*\})?"
    r"((?:(?:[<>=!~]=?|==)[^\s,]+,?)+)"
)


@dataclass(frozen=True)
class PackageCutoff:
    """One package's own cut-off (an RFC 3339 time for uv) and why it is not the date's."""

    name: str
    cutoff: str
    why: str
    version: str = ""  # the release the cut-off admits

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "exclude_newer": self.cutoff, "why": self.why}


def package_cutoff(
    name: str,
    history: Sequence[Release],
    day: str,
    python: str,
    specifier: SpecifierSet,
    floor: SpecifierSet | None = None,
) -> PackageCutoff | None:
    """The cut-off `name` needs beyond `day`, or None when the day's release will do.

    The day's release is the newest final version uploaded before `day` that `specifier`
    (what the requirements ask) allows. If it has a wheel for `python` and meets `floor`
    (what the newer releases of other packages need of it), nothing is needed. Otherwise
    the oldest newer release that has one and meets both is chosen. A package that never
    published a wheel is built from its source (nb2svc.lock) and needs no cut-off either.
    """
    if not any(r.has_wheels for r in history):
        return None
    floor = floor or SpecifierSet()
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    final = [r for r in history if not r.yanked and not r.version.is_prerelease]
    allowed = [r for r in final if specifier.contains(r.version, prereleases=False)]
    current = max((r for r in allowed if r.uploaded < start), key=lambda r: r.version, default=None)
    fits = current is not None and current.wheel_for(python) is not None
    if current is not None and fits and floor.contains(current.version, prereleases=True):
        return None
    for release in allowed:
        wheel = release.wheel_for(python)
        newer = current is None or release.version > current.version
        if wheel is None or not newer or not floor.contains(release.version, prereleases=True):
            continue
        cutoff = (max(wheel.uploaded, start) + timedelta(seconds=1)).astimezone(UTC)
        came = release.uploaded.date().isoformat()
        if current is None:
            what = f"no release of {name}{specifier or ''} came out before {day}"
        elif not fits:
            what = f"{name} {current.version}, current on {day}, has no wheel for Python {python}"
        else:
            what = (f"{name} {current.version}, current on {day}, is older than the {floor} "
                    "that the newer releases of other packages need")  # fmt: skip
        why = f"{what}; {release.version} ({came}) is the oldest that has one"
        stamp = cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")
        return PackageCutoff(name, stamp, why, str(release.version))
    return None


Resolve = Callable[[Mapping[str, str]], Lock]


def resolve_per_package(
    resolve: Resolve,
    inputs: Sequence[LockInput],
    day: str,
    python: str,
    cache_dir: Path,
    seed: Iterable[str] = (),
) -> tuple[Lock, tuple[PackageCutoff, ...]] | None:
    """The lock as of `day` with per-package cut-offs where a package needs one, or None.

    `resolve(overrides)` resolves as of `day` with {name: cutoff} overrides (raising
    DependencyError); `seed` names packages to look at first (today's closure).
    """
    specifiers = _specifiers(inputs)
    floors: dict[str, SpecifierSet] = {}  # learned from the newer releases' dependencies
    extras = _extras(inputs)
    seen: set[str] = set()
    cutoffs: dict[str, PackageCutoff] = {}
    floored: dict[str, str] = {}
    todo: set[str] = {canonicalize_name(n) for n in [*specifiers, *seed]}
    for _ in range(ROUNDS):
        histories = many_releases(todo - seen, cache_dir)
        seen |= todo
        for name, history in histories.items():
            asked = specifiers.get(name, SpecifierSet())
            found = package_cutoff(name, history, day, python, asked, floors.get(name))
            if found is not None:
                cutoffs[name] = found
        if not cutoffs:
            return None  # nothing here needs a cut-off of its own: the dates cannot help
        moved = {n: c.version for n, c in cutoffs.items() if floored.get(n) != c.version}
        if moved:  # a release newer than the day brings its dependencies' newer floors
            floored.update(moved)
            todo = _raise_floors(moved, extras, python, floors)
            if todo:
                seen -= todo
                continue
        try:
            lock = resolve({n: c.cutoff for n, c in sorted(cutoffs.items())})
        except DependencyError as exc:
            text = exc.output if isinstance(exc, ResolutionError) else " ".join(exc.details)
            learned = _learn_floors(text, floors)  # a dependency's own floor: look again
            todo = (named_in(text) - seen) | learned
            seen -= learned
            if not todo:
                return None
            continue
        return lock, tuple(cutoffs[n] for n in sorted(cutoffs))
    return None


def named_in(text: str) -> set[str]:
    """Package names a resolver's explanation mentions with a version or as 'all versions of'."""
    flat = " ".join(text.split())
    return {canonicalize_name(m) for m in _NAMED.findall(flat) + _ALL_VERSIONS.findall(flat)}


def _raise_floors(
    moved: Mapping[str, str], extras: Mapping[str, str], python: str,
    floors: dict[str, SpecifierSet],
) -> set[str]:  # fmt: skip
    """Floors from the lowest versions the moved releases' dependencies accept; the names
    whose floor rose (so their cut-off is looked at again)."""
    pins = [f"{n}{extras.get(n, '')}>={v}" for n, v in sorted(moved.items())]
    changed: set[str] = set()
    for name, version in lowest_pins(pins, python).items():
        before = floors.get(name, SpecifierSet())
        if (name in moved and Version(version) <= Version(moved[name])) or _implied(
            before, version
        ):
            continue
        floors[name] = before & SpecifierSet(f">={version}")
        changed.add(name)
    return changed


def _implied(spec: SpecifierSet, version: str) -> bool:
    """True when `spec` already has a floor at or above `version`."""
    floors = [s.version for s in spec if s.operator in (">=", ">", "==", "~=")]
    return any(Version(f) >= Version(version) for f in floors)


def _extras(inputs: Sequence[LockInput]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in inputs:
        req = Requirement(item.requirement)
        if req.extras:
            out[canonicalize_name(req.name)] = "[" + ",".join(sorted(req.extras)) + "]"
    return out


def _learn_floors(text: str, floors: dict[str, SpecifierSet]) -> set[str]:
    """Add the version ranges a failed round says packages depend on; the names that changed."""
    changed: set[str] = set()
    for raw, spec in _DEPENDS.findall(" ".join(text.split())):
        name = canonicalize_name(raw)
        try:
            wanted = SpecifierSet(spec.rstrip(","))
        except ValueError:
            continue
        before = floors.get(name, SpecifierSet())
        if str(before & wanted) != str(before):
            floors[name] = before & wanted
            changed.add(name)
    return changed


def _specifiers(inputs: Sequence[LockInput]) -> dict[str, SpecifierSet]:
    out: dict[str, SpecifierSet] = {}
    for item in inputs:
        req = Requirement(item.requirement)
        name = canonicalize_name(req.name)
        out[name] = out.get(name, SpecifierSet()) & req.specifier
    return out
