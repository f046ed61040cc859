"""Every error a user can see, with one exit code per failure class.

Messages say what went wrong, where (notebook path and cell), and what to do.
The CLI catches only `Nb2svcError`; anything else is a bug and shows a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Exit codes (documented in README and ARCHITECTURE): 0 success, 2 usage/config.
EXIT_USAGE = 2
EXIT_NOTEBOOK = 3
EXIT_DEPENDENCIES = 4
EXIT_BUILD = 5
EXIT_TRAINING = 6
EXIT_VERIFICATION = 7
EXIT_DEPLOY = 8
EXIT_TRIGGER = 9


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


class Nb2svcError(Exception):
    """Base of all user-facing errors."""

    exit_code = 1
    stage = "nb2svc"

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
            "cell": self.cell.index if self.cell else None,
            "execution_count": self.cell.execution_count if self.cell else None,
            "fix": self.fix,
            "details": list(self.details),
            "exit_code": self.exit_code,
        }


class UsageError(Nb2svcError):
    exit_code = EXIT_USAGE
    stage = "usage"


class NotebookError(Nb2svcError):
    exit_code = EXIT_NOTEBOOK
    stage = "notebook"


class DependencyError(Nb2svcError):
    exit_code = EXIT_DEPENDENCIES
    stage = "dependencies"


class BuildError(Nb2svcError):
    exit_code = EXIT_BUILD
    stage = "build"


class TrainingError(Nb2svcError):
    exit_code = EXIT_TRAINING
    stage = "training"
    # Requirements that make a build worth one more try (a known API removal, and a release
    # from before it exists for the image's Python: nb2svc.hazards.retry_requirements).
    retry_with: tuple[str, ...] = ()


class VerificationError(Nb2svcError):
    exit_code = EXIT_VERIFICATION
    stage = "verify"


class DeployError(Nb2svcError):
    exit_code = EXIT_DEPLOY
    stage = "deploy"


class TriggerError(Nb2svcError):
    exit_code = EXIT_TRIGGER
    stage = "trigger"
