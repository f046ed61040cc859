"""What a failed image build means to a person, from what the build printed.

The build observer (nb2svc.image.observer) collected the train guard's error record and
the steps; this turns them into the one error a person reads: the failing notebook cell,
named as a version mismatch when it is a known API removal (nb2svc.hazards, with the
retry it asks for), the install that failed, or buildah's own cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nb2svc.analyze import Analysis
from nb2svc.engine.errors import BuildahError
from nb2svc.errors import BuildError, DependencyError, Nb2svcError, TrainingError
from nb2svc.hazards import retry_for
from nb2svc.image.containerfile import StepKind
from nb2svc.image.observer import BuildObserver
from nb2svc.plan import BuildPlan
from nb2svc.realworld import explain_limit


def explain_build_failure(
    exc: BuildahError,
    observer: BuildObserver,
    analysis: Analysis,
    plan: BuildPlan,
    lock_cache: Path,
) -> Nb2svcError:
    """The error a person reads: the failing cell (and the retry a known API removal asks
    for), the install that failed, or buildah's own cause."""
    record = observer.training_error
    if record is not None:
        return explain_training_failure(record, analysis, plan, exit_status(exc), lock_cache)
    failed = observer.steps[-1].kind if observer.steps else None
    if failed in (StepKind.DEPS, StepKind.SERVE_DEPS):
        return DependencyError(
            "installing the locked dependencies failed",
            details=[*analysis.explain_install_failure(observer.install_lines), *exc.details],
            fix="see the installer's message above; pin a version that has a wheel for the "
            "image's Python, or add the system library the package needs",
        )
    if failed is StepKind.TRAIN:
        return TrainingError(
            "training stopped before any notebook cell failed (see the output above)",
            details=exc.details,
        )
    return BuildError(exc.message, details=exc.details, fix=exc.fix)


def explain_training_failure(
    record: Mapping[str, Any],
    analysis: Analysis,
    plan: BuildPlan,
    status: int | None,
    lock_cache: Path,
) -> TrainingError:
    """A failed cell's record (the train guard's line) as the error a person reads: the
    cell, the fix for nb2svc's own limits, and the retry a known API removal asks for.
    The same for a buildah train stage and for S2I's assemble."""
    trained = explain_limit(
        analysis.training_error(
            record, exit_status=status, locked=plan.lock.packages, image_python=plan.python_version
        ),
        record,
    )
    trained.retry = retry_for(record, plan.lock.packages, plan.python_version, lock_cache)
    return trained


def exit_status(exc: BuildahError) -> int | None:
    """The exit status of the failing RUN step, from buildah's last lines."""
    for line in reversed(exc.stderr_tail):
        if "exit status" in line:
            tail = line.rsplit("exit status", 1)[1].strip().strip(":").split()
            if tail and tail[0].isdigit():
                return int(tail[0])
    return None
