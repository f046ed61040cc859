"""Era-aware versions: resolve an unpinned notebook as of the day it was last committed.

A notebook written in 2021 that says `import sklearn` means the scikit-learn of 2021,
not today's. When none of the notebook's requirements carries a version, the lock is
resolved with `uv pip compile --exclude-newer DATE --only-binary :all:` where DATE is the
notebook's last commit date, so only versions released by then *and* with wheels for the
image's Python count. When nothing resolves at that date (old releases have no wheels
for a newer Python; the model server needs recent numpy/pandas), the cut-off steps
forward: the earliest month start that resolves is found by bisection between the
notebook's date and today (about seven resolutions, each about a second, done once:
the answer is cached with the locks). The choice and why are reported.

The rule in order: `--exclude-newer none` turns it off; `--exclude-newer DATE` starts
at DATE; a notebook with any pinned requirement keeps its pins and resolves today's
versions; a source without git history (an S2I upload, an archive) starts at
`SOURCE_DATE_EPOCH` when it is set (the reproducible-builds convention: the commit's
time, passed by whoever made the copy), else at a date estimated from the notebook itself
(`estimate_date`: its kernel's Python and its nbformat version); an uncommitted or
modified notebook (or nothing to date it by) resolves today's versions. A committed
`nb2svc.lock` that matches its inputs comes before all of this (nb2svc.lockfile).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from nb2svc.errors import DependencyError
from nb2svc.lock import Lock, LockInput, resolve_lock
from nb2svc.notebook.load import Notebook
from nb2svc.package_era import PackageCutoff, resolve_per_package
from nb2svc.wheelhouse import NO_WHEELS, Wheelhouse

Resolver = Callable[[str | None], Lock]
PerPackage = Callable[[], "tuple[PackageCutoff, ...] | None"]


@dataclass(frozen=True)
class EraStart:
    """Where era resolution starts (`start` None: resolve today's versions) and why."""

    start: str | None
    source: str  # "git", "option", "disabled", "pinned", "uncommitted", "no-git"
    reason: str


@dataclass(frozen=True)
class EraChoice:
    """The cut-off used for the lock, what was tried and why; goes into report.json."""

    start: EraStart
    cutoff: str | None
    attempts: tuple[tuple[str, bool], ...] = field(default=())
    packages: tuple[PackageCutoff, ...] = field(default=())  # their own cut-offs

    @property
    def overrides(self) -> dict[str, str]:
        return {p.name: p.cutoff for p in self.packages}

    @property
    def reason(self) -> str:
        if self.cutoff is None:
            return self.start.reason
        if self.packages:
            moved = ", ".join(p.name for p in self.packages)
            return (
                f"{self.start.reason}; resolved as of {self.cutoff}, except {moved}: as of that "
                "day they had no wheel for the image's Python (or were older than what the "
                "newer releases need), so each is at the oldest release that fits (report.json "
                "versions.packages says why, per package)"
            )
        if self.cutoff == self.start.start:
            return f"{self.start.reason}; resolved as of {self.cutoff}"
        return (
            f"{self.start.reason}; nothing resolved as of {self.start.start} with wheels for "
            f"the image's Python, so the cut-off stepped forward to {self.cutoff}, the "
            "earliest month that resolves"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "start": self.start.start,
            "source": self.start.source,
            "exclude_newer": self.cutoff,
            "reason": self.reason,
            "attempts": [{"exclude_newer": d, "resolved": ok} for d, ok in self.attempts],
            "packages": [p.to_json() for p in self.packages],
        }


def has_pins(requirements: Sequence[str]) -> bool:
    """True when any requirement names a version (or a URL): the notebook chose versions."""
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            return True
        if req.specifier or req.url:
            return True
    return False


def choose_start(
    option: str | None,
    root: Path,
    notebooks: Sequence[str],
    requirements: Sequence[str],
    env: Mapping[str, str] | None = None,
    evidence: Sequence[Notebook] = (),
) -> EraStart:
    """Decide where resolution starts; see the module docstring for the rule."""
    if option is not None and option.lower() in ("none", "off", "latest"):
        return EraStart(None, "disabled", "--exclude-newer none: today's versions")
    if option is not None:
        return EraStart(_check_date(option), "option", f"--exclude-newer {option}")
    if has_pins(requirements):
        return EraStart(None, "pinned", "the notebook pins versions; today's versions otherwise")
    day, why = notebook_date(root, notebooks)
    if day is None and why == "no-git":  # a copy without history: dated explicitly, or by itself
        epoch = (os.environ if env is None else env).get("SOURCE_DATE_EPOCH", "").strip()
        if epoch:
            day = _epoch_date(epoch)
            return EraStart(day, "source-date-epoch", f"no pinned versions and no git history; "
                            f"SOURCE_DATE_EPOCH dates the source {day}")  # fmt: skip
        estimated, evidence_said = estimate_date(evidence)
        if estimated is not None:
            reason = f"no pinned versions and no git history; {evidence_said}"
            return EraStart(estimated, "estimate", reason)
    if day is None:
        return EraStart(None, why, f"no commit date for the notebook ({why}): today's versions")
    return EraStart(day, "git", f"no pinned versions; the notebook was last committed on {day}")


# When each Python minor version came out (its x.0 release): a kernel on 3.7 was written
# while 3.7 was current, so before 3.8 arrived.
PYTHON_RELEASES = {
    "3.5": "2015-09-13", "3.6": "2016-12-23", "3.7": "2018-06-27", "3.8": "2019-10-14",
    "3.9": "2020-10-05", "3.10": "2021-10-04", "3.11": "2022-10-24", "3.12": "2023-10-02",
    "3.13": "2024-10-07", "3.14": "2025-10-07",
}  # fmt: skip
# nbformat 4.5 (cell ids) came with nbformat 5.1 in January 2021: a file saved as 4.5 is newer.
NBFORMAT_4_5 = "2021-01-13"


def estimate_date(notebooks: Sequence[Notebook]) -> tuple[str | None, str]:
    """A date for a notebook that has no history, from what it says about itself, and why.

    The kernel's Python: the day the next minor version came out (the kernel's was still
    the current one until then). nbformat 4.5 says "saved in 2021 or later". The newest
    such bound across the notebooks wins. None when nothing dates them.
    """
    found: list[tuple[str, str]] = []
    minors = list(PYTHON_RELEASES)
    for nb in notebooks:
        minor = nb.python_minor
        if minor in PYTHON_RELEASES and minors.index(minor) + 1 < len(minors):
            after = minors[minors.index(minor) + 1]
            day = PYTHON_RELEASES[after]
            why = f"its kernel is Python {minor}, current until Python {after} came out on {day}"
            found.append((day, why))
        if nb.nbformat >= (4, 5):
            found.append((NBFORMAT_4_5, f"it is saved as nbformat 4.5, used since {NBFORMAT_4_5}"))
    if not found:
        return None, "nothing in the notebook dates it"
    day, why = max(found)
    return day, f"estimated {day} from the notebook: {why}"


def _epoch_date(text: str) -> str:
    try:
        return datetime.fromtimestamp(int(text), UTC).date().isoformat()
    except (ValueError, OverflowError, OSError):
        raise DependencyError(
            f"SOURCE_DATE_EPOCH={text!r} is not a time in seconds since 1970",
            fix="set it to the commit's time: SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)",
        ) from None


def _check_date(text: str) -> str:
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise DependencyError(
            f"--exclude-newer {text!r} is not a date", fix="use YYYY-MM-DD, or `none`"
        ) from None


def notebook_date(root: Path, notebooks: Sequence[str]) -> tuple[str | None, str]:
    """The newest last-commit date (YYYY-MM-DD, UTC) of the notebooks, or None and why."""
    status = _git(root, "status", "--porcelain", "--", *notebooks)
    if status is None:
        return None, "no-git"
    if status.strip():
        return None, "uncommitted"
    stamp = _git(root, "log", "-1", "--format=%cI", "--", *notebooks)
    if not stamp:
        return None, "uncommitted"
    return datetime.fromisoformat(stamp).astimezone(UTC).date().isoformat(), "git"


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def resolve_era(
    resolve: Resolver,
    start: EraStart,
    *,
    today: date | None = None,
    per_package: PerPackage | None = None,
) -> EraChoice:
    """Resolve at `start`; else give the packages that need it their own cut-off
    (`per_package`, nb2svc.package_era); else bisect month starts up to today for the
    earliest single cut-off that works.

    `resolve(cutoff)` returns a Lock or raises DependencyError. The error of the last
    attempt (today's versions) is raised when nothing resolves at all.
    """
    if start.start is None:
        resolve(None)
        return EraChoice(start, None)
    attempts: list[tuple[str, bool]] = []
    if _tries(resolve, start.start, attempts):
        return EraChoice(start, start.start, tuple(attempts))
    moved = per_package() if per_package is not None else None
    if moved:
        return EraChoice(start, start.start, tuple(attempts), moved)
    months = _month_starts(date.fromisoformat(start.start), today or datetime.now(UTC).date())
    lo, hi = 0, len(months) - 1
    if not _tries(resolve, months[hi], attempts):
        resolve(months[hi])  # raises the resolver's own explanation
    while lo < hi:
        mid = (lo + hi) // 2
        if _tries(resolve, months[mid], attempts):
            hi = mid
        else:
            lo = mid + 1
    resolve(months[hi])  # cached: the lock for the chosen cut-off
    return EraChoice(start, months[hi], tuple(attempts))


def _tries(resolve: Resolver, cutoff: str, attempts: list[tuple[str, bool]]) -> bool:
    try:
        resolve(cutoff)
    except DependencyError:
        attempts.append((cutoff, False))
        return False
    attempts.append((cutoff, True))
    return True


def _month_starts(after: date, today: date) -> list[str]:
    """First days of the months after `after`, up to today's date (always included)."""
    out: list[str] = []
    year, month = after.year, after.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        first = date(year, month, 1)
        if first >= today:
            break
        out.append(first.isoformat())
    return [*out, today.isoformat()]


def era_lock(
    inputs: Sequence[LockInput],
    start: EraStart,
    *,
    python_version: str,
    cache_dir: Path,
    refresh: bool = False,
    wheelhouse: Wheelhouse = NO_WHEELS,
) -> tuple[Lock, EraChoice]:
    """The lock for `inputs` as of the era (cached, including the search's outcome)."""
    memo = cache_dir / f"era-{_era_key(inputs, python_version, start, wheelhouse)}.json"
    resolver = _resolver(inputs, python_version, cache_dir, refresh, wheelhouse)
    if start.start is not None and memo.exists() and not refresh:
        saved = json.loads(memo.read_text())
        packages = tuple(PackageCutoff(p["name"], p["exclude_newer"], p["why"])
                         for p in saved.get("packages", []))  # fmt: skip
        choice = EraChoice(start, saved["cutoff"], tuple(map(tuple, saved["attempts"])), packages)
        return _noted(resolver(choice.cutoff, choice.overrides), choice), choice
    locks: dict[str | None, Lock] = {}

    def resolve(cutoff: str | None) -> Lock:
        if cutoff not in locks:
            locks[cutoff] = resolver(cutoff, None)
        return locks[cutoff]

    def per_package() -> tuple[PackageCutoff, ...] | None:
        day = str(start.start)
        try:
            seed = list(resolve(None).packages)  # today's closure: the names to look at first
        except DependencyError:
            seed = []
        found = resolve_per_package(
            lambda overrides: resolver(day, overrides),
            inputs, day, python_version, cache_dir, seed,
        )  # fmt: skip
        if found is None:
            return None
        locks[day] = found[0]
        return found[1]

    choice = resolve_era(resolve, start, per_package=per_package)
    if start.start is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        memo.write_text(json.dumps({
            "cutoff": choice.cutoff, "attempts": choice.attempts,
            "packages": [p.to_json() for p in choice.packages],
        }))  # fmt: skip
    return _noted(locks[choice.cutoff], choice), choice


def _noted(lock: Lock, choice: EraChoice) -> Lock:
    return replace(lock, package_notes={p.name: p.why for p in choice.packages})


def _resolver(
    inputs: Sequence[LockInput], python: str, cache_dir: Path, refresh: bool, wheels: Wheelhouse
) -> Callable[[str | None, Mapping[str, str] | None], Lock]:
    def resolve(cutoff: str | None, overrides: Mapping[str, str] | None) -> Lock:
        return resolve_lock(
            inputs,
            python_version=python,
            cache_dir=cache_dir,
            exclude_newer=cutoff,
            refresh=refresh,
            only_binary=cutoff is not None,
            wheelhouse=wheels,
            exclude_newer_package=overrides,
        )

    return resolve


def _era_key(inputs: Sequence[LockInput], python: str, start: EraStart, wheels: Wheelhouse) -> str:
    payload = [sorted(i.key for i in inputs), python, start.start, "per-package"]
    if wheels.wheels:  # only when set, so existing memos stay valid
        payload.append(wheels.key())
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:32]


def explain_python(
    error: DependencyError, *, notebook_python: str | None, image_python: str
) -> DependencyError:
    """Add the Python-version explanation when the notebook was written for an older Python."""
    if not notebook_python or _vkey(notebook_python) >= _vkey(image_python):
        return error
    wheels = [d for d in error.details if "wheels" in d or "ABI" in d]
    return DependencyError(
        f"{error.message}: the notebook was written for Python {notebook_python} and what it "
        f"needs has no wheels for the image's Python {image_python}",
        path=error.path,
        cell=error.cell,
        details=[*wheels[:2], *(d for d in error.details if d not in wheels[:2])],
        fix=f"build with that Python: pass --python {notebook_python} --base-image REF (an "
        f"image with Python {notebook_python}, e.g. from a registry), or pin versions that "
        f"support Python {image_python} with `%pip install NAME==VERSION`",
    )


def _vkey(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
