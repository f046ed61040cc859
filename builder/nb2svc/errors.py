"""Every error a user can see, with one exit code per failure class.

Messages say what went wrong, where (notebook path and cell), and what to do.
The CLI catches only `Nb2svcError`; anything else is a bug and shows a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Exit codes (documented in README and docs/architecture.md): 0 success, 2 usage/config.
EXIT_USAGE = 2
EXIT_NOTEBOOK = 3
EXIT_DEPENDENCIES = 4
EXIT_BUILD = 5
EXIT_TRAINING = 6
EXIT_VERIFICATION = 7
EXIT_DEPLOY = 8
EXIT_TRIGGER = 9
EXIT_PUSH = 10


@dataclass(frozen=True)
class CellRef:
    """A notebook cell as a person finds it: 1-based position and its `In [n]` label."""

    index: int
    execution_count: int | None = None

    def __str__(self) -> str:
        label = f"cell {self.index}"
        if self.execution_count is not None:
            label += f" (In [{self.execution_count}])"
        return label


def cell_fields(cell: CellRef | None) -> dict[str, int | None]:
    """A cell as the JSON reports name it: `cell` (1-based) and `execution_count`, both None
    when there is no cell."""
    if cell is None:
        return {"cell": None, "execution_count": None}
    return {"cell": cell.index, "execution_count": cell.execution_count}


class Nb2svcError(Exception):
    """Base of all user-facing errors."""

    exit_code = 1
    stage = "nb2svc"

    def __init_subclass__(cls, *, stage: str | None = None, exit_code: int | None = None) -> None:
        """A failure class gives its stage and exit code in its class line:
        `class BuildError(Nb2svcError, stage="build", exit_code=EXIT_BUILD)`. Its own
        subclasses inherit both unless they give their own."""
        super().__init_subclass__()
        if stage is not None:
            cls.stage = stage
        if exit_code is not None:
            cls.exit_code = exit_code

    def __init__(
        self,
        message: str,
        *,
        fix: str | None = None,
        path: Path | str | None = None,
        cell: CellRef | None = None,
        details: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.path = Path(path) if path is not None else None
        self.cell = cell
        self.details = tuple(details)

    def render(self) -> str:
        where = [str(p) for p in (self.path, self.cell) if p is not None]
        head = f"error [{self.stage}]"
        if where:
            head += " " + ", ".join(where)
        lines = [f"{head}: {self.message}"]
        lines += [f"  {d}" for d in self.details]
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "error": self.message,
            "path": str(self.path) if self.path else None,
            **cell_fields(self.cell),
            "fix": self.fix,
            "details": list(self.details),
            "exit_code": self.exit_code,
        }


class UsageError(Nb2svcError, stage="usage", exit_code=EXIT_USAGE):
    """A command line, nb2svc.toml or parameter that cannot work as given."""


class NotebookError(Nb2svcError, stage="notebook", exit_code=EXIT_NOTEBOOK):
    """A notebook that cannot be read, or whose code cannot be built as it is."""


class DependencyError(Nb2svcError, stage="dependencies", exit_code=EXIT_DEPENDENCIES):
    """Packages that cannot be inferred, resolved or locked."""


class BuildError(Nb2svcError, stage="build", exit_code=EXIT_BUILD):
    """The image build failed, or a tool it needs (buildah, debootstrap, tar) is missing."""


@dataclass(frozen=True)
class Retry:
    """What makes a failed training worth one more build (nb2svc.hazards.retry_for)."""

    pins: tuple[str, ...]  # added to the lock, e.g. ("statsmodels<0.13",)
    as_of: str  # YYYY-MM-DD: the lock is resolved as of this day (the API's last)
    why: str  # for the lock's notes

    @property
    def plan(self) -> str:
        """What the second build changes, as the build says it."""
        return f"{', '.join(self.pins)}, the other versions as of {self.as_of}"


class TrainingError(Nb2svcError, stage="training", exit_code=EXIT_TRAINING):
    """The notebook failed while it trained in the image."""

    retry: Retry | None = None  # a known API removal with an older release that fits


class VerificationError(Nb2svcError, stage="verify", exit_code=EXIT_VERIFICATION):
    """The built image does not start, or does not answer as the model did in training."""


class DeployError(Nb2svcError, stage="deploy", exit_code=EXIT_DEPLOY):
    """Manifests that fail their checks, or an apply or rollout that fails."""


class TriggerError(Nb2svcError, stage="trigger", exit_code=EXIT_TRIGGER):
    """A build trigger (git hook, webhook) that cannot be set up, or cannot check out."""


class PushError(Nb2svcError, stage="push", exit_code=EXIT_PUSH):
    """Pushing the verified image to its registry failed (credentials refused, a certificate
    not trusted, the registry unreachable). The local tag stays; `nb2svc push --report`
    pushes it again."""
