"""The lock a build installs, and `nb2svc.lock`, the file that carries it with the source.

One commit must give one lock, whichever path builds it: `nb2svc build` from a checkout,
S2I (source without its git history), the git hook, the webhook, Tekton or the GitHub
Action (shallow clones). So the lock travels with the source: `nb2svc.lock` next to the
(first) notebook, written by `nb2svc lock` and by `nb2svc build` of a local folder, is used
by every path while it still matches its inputs (the notebooks' requirements, the model
server's, the image's Python and platform, the local wheels). A stale or absent file means
resolving as before (nb2svc.era: the notebook's commit date, `SOURCE_DATE_EPOCH` where the
history is absent, or an explicit `--exclude-newer`). See docs/s2i.md, "One commit, one lock".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nb2svc.analyze import Analysis
from nb2svc.era import choose_start, era_lock, explain_python
from nb2svc.errors import DependencyError
from nb2svc.image.context import runtime_requirements
from nb2svc.lock import PLATFORM, Lock, LockInput, inputs_key, parse_lock
from nb2svc.options import BuildOptions
from nb2svc.wheelhouse import NO_WHEELS, Wheelhouse

LOCKFILE = "nb2svc.lock"
_HEADER = (
    "# nb2svc.lock: the versions every build of this notebook installs (nb2svc build, S2I,\n"
    "# the git hook, the webhook, Tekton, the GitHub Action). Commit it. nb2svc rewrites it\n"
    "# when the notebook's requirements, the model server's or the image's Python change;\n"
    "# `nb2svc lock --refresh` resolves anew. Do not edit the pins by hand.\n"
)
_FIELDS = ("inputs", "python", "platform", "exclude-newer", "resolved-by")


@dataclass(frozen=True)
class LockFile:
    """A parsed `nb2svc.lock`: the inputs key it was resolved for and its pins."""

    inputs: str
    python: str
    platform: str
    exclude_newer: str | None
    tool: str  # the resolver that wrote the pins, e.g. "uv 0.9.7"
    pins: str  # the lock text as the resolver wrote it (its sha256 is the image's label)


def lockfile_path(analysis: Analysis) -> Path:
    """Where the lock lives: next to the first notebook."""
    return analysis.notebooks[0].notebook.path.parent / LOCKFILE


def render_lockfile(lock: Lock) -> str:
    values = {
        "inputs": lock.inputs_sha256,
        "python": lock.python_version,
        "platform": lock.platform,
        "exclude-newer": lock.exclude_newer or "none",
        "resolved-by": lock.tool,
    }
    return _HEADER + "".join(f"# {k}: {values[k]}\n" for k in _FIELDS) + lock.text


def read_lockfile(path: Path) -> LockFile | None:
    """The file's content, or None when it is absent or not a lock nb2svc wrote."""
    try:
        text = path.read_text()
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return None
    lines = text.splitlines(keepends=True)
    body = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    fields: dict[str, str] = {}
    for line in lines[:body]:
        key, sep, value = line[1:].strip().partition(": ")
        if sep and key in _FIELDS:
            fields[key] = value.strip()
    if set(fields) != set(_FIELDS):
        return None
    cutoff = fields["exclude-newer"]
    return LockFile(
        inputs=fields["inputs"],
        python=fields["python"],
        platform=fields["platform"],
        exclude_newer=None if cutoff == "none" else cutoff,
        tool=fields["resolved-by"],
        pins="".join(lines[body:]),
    )


def lock_inputs(analysis: Analysis) -> list[LockInput]:
    """The notebooks' requirements (with where each came from) plus the model server's."""
    inputs = [LockInput(req, origin) for req, origin in analysis.requirements()]
    inputs += [LockInput(req, origin, constraint=True) for req, origin in analysis.constraints()]
    return [*inputs, *server_inputs()]


def server_inputs() -> list[LockInput]:
    """The model server's own requirements (nb2svc_runtime/requirements.txt), as lock inputs."""
    lines = [line.strip() for line in runtime_requirements().splitlines()]
    origin = "the model server (nb2svc_runtime/requirements.txt)"
    return [LockInput(line, origin) for line in lines if line and not line.startswith("#")]


def lockfile_key(analysis: Analysis, python: str, wheelhouse: Wheelhouse = NO_WHEELS) -> str:
    """What a committed `nb2svc.lock` must have been resolved for to be used as it is."""
    return inputs_key(lock_inputs(analysis), python, local_wheels=wheelhouse.key())


def resolve_build_lock(
    analysis: Analysis,
    python: str,
    *,
    cache_dir: Path,
    exclude_newer: str | None = None,
    refresh: bool = False,
    wheelhouse: Wheelhouse = NO_WHEELS,
    extra: Sequence[LockInput] = (),
) -> Lock:
    """The lock a build installs: the committed `nb2svc.lock` when it still matches its
    inputs (unless `refresh` or an explicit `exclude_newer` asks to resolve anew), else
    the requirements resolved as of the notebook's era (nb2svc.era). Every build path
    calls this, so one source gives one lock. `extra` requirements (a retry's cap after a
    known API removal) are resolved with the others; the lock keeps the inputs' key, so a
    lock written from it is used as it is by the next build."""
    inputs = [*lock_inputs(analysis), *extra]
    key = lockfile_key(analysis, python, wheelhouse)
    path = lockfile_path(analysis)
    committed = read_lockfile(path)
    where = path.relative_to(analysis.root).as_posix()
    fresh = committed is not None and committed.inputs == key
    if committed is not None and fresh and not refresh and exclude_newer is None and not extra:
        return _committed_lock(committed, where)
    try:
        lock, choice = era_lock(
            inputs,
            choose_start(
                exclude_newer,
                analysis.root,
                _notebook_names(analysis),
                _asked(analysis),
                evidence=[n.notebook for n in analysis.notebooks],
            ),
            python_version=python,
            cache_dir=cache_dir,
            refresh=refresh,
            wheelhouse=wheelhouse,
        )
    except DependencyError as exc:
        wanted = analysis.python_version if analysis.python_source == "language_info" else None
        raise explain_python(exc, notebook_python=wanted, image_python=python) from None
    notes = [choice.reason, *(f"{i.requirement}: {i.origin}" for i in extra)]
    if committed is not None and not fresh:
        notes.append(f"{where} was resolved for other inputs (a requirement, the model server "
                     f"or the Python changed), so it was not used")  # fmt: skip
    return replace(lock, inputs_sha256=key, notes=(*lock.notes, *notes))


def write_lockfile(analysis: Analysis, lock: Lock) -> Path | None:
    """Write `nb2svc.lock` for `lock` unless the file already says the same; the path if written."""
    path = lockfile_path(analysis)
    text = render_lockfile(lock)
    try:
        if path.read_text() == text:
            return None
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    tmp = path.with_name(f".{LOCKFILE}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def _committed_lock(committed: LockFile, where: str) -> Lock:
    cutoff = f"resolved as of {committed.exclude_newer}" if committed.exclude_newer else ""
    return Lock(
        text=committed.pins,
        packages=parse_lock(committed.pins),
        tool=committed.tool,
        python_version=committed.python,
        platform=committed.platform,
        inputs_sha256=committed.inputs,
        exclude_newer=committed.exclude_newer,
        notes=(f"the committed {where}" + (f" ({cutoff})" if cutoff else ""),),
        source="lockfile",
    )


def _notebook_names(analysis: Analysis) -> Sequence[str]:
    return [n.rel_path for n in analysis.notebooks]


def _asked(analysis: Analysis) -> list[str]:
    return [r for r, _ in analysis.requirements()]


__all__ = ["LOCKFILE", "PLATFORM", "LockFile", "read_lockfile", "resolve_build_lock"]


def build_lock(
    analysis: Analysis,
    python: str,
    options: BuildOptions,
    cache_dir: Path,
    wheelhouse: Wheelhouse = NO_WHEELS,
    extra: Sequence[LockInput] = (),
) -> Lock:
    """`resolve_build_lock` with a build's settings: the one call of `nb2svc build`,
    `nb2svc lock`, `analyze --json` and S2I's assemble."""
    return resolve_build_lock(
        analysis,
        python,
        cache_dir=cache_dir,
        exclude_newer=options.exclude_newer,
        refresh=options.refresh_lock,
        wheelhouse=wheelhouse,
        extra=extra,
    )


def locked_analysis_json(
    analysis: Analysis, cache_dir: Path, *, resolve: bool = True
) -> dict[str, Any]:
    """`analyze --json`: the analysis plus the versions the build would install (`locked`)."""
    data = analysis.to_json()
    if not resolve:
        return data
    try:
        lock = build_lock(analysis, analysis.python_version, BuildOptions(), cache_dir)
    except DependencyError as exc:
        data["warnings"].append(f"versions not resolved: {exc.message}")
        return data
    for dep in data.get("dependencies", []):
        dep["locked"] = lock.packages.get(str(dep["name"]))
    data["lock"] = {"tool": lock.tool, "sha256": lock.sha256, "packages": dict(lock.packages)}
    return data
