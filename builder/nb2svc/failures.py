"""What a failed image build means to a person, from what the build printed.

The build observer (nb2svc.image.observer) collected the train guard's error record and
the steps; this turns them into the one error a person reads: the failing notebook cell,
named as a version mismatch when it is a known API removal (nb2svc.hazards, with the
retry it asks for), the install that failed, or buildah's own cause.
"""

from __future__ import annotations

from nb2svc.analyze import Analysis
from nb2svc.engine.errors import BuildahError
from nb2svc.errors import BuildError, DependencyError, Nb2svcError, TrainingError
from nb2svc.hazards import retry_for
from nb2svc.image.containerfile import StepKind
from nb2svc.image.observer import BuildObserver
from nb2svc.plan import BuildPlan
from nb2svc.realworld import explain_limit
from nb2svc.state import StateDir


def explain_build_failure(
    exc: BuildahError, observer: BuildObserver, analysis: Analysis, plan: BuildPlan
) -> Nb2svcError:
    """The error a person reads: the failing cell (and the retry a known API removal asks
    for), the install that failed, or buildah's own cause."""
    error = observer.training_error
    if error is not None:
        trained = explain_limit(
            analysis.training_error(
                error,
                exit_status=exit_status(exc),
                locked=plan.lock.packages,
                image_python=plan.python_version,
            ),
            error,
        )
        locks = StateDir.default().locks
        trained.retry = retry_for(error, plan.lock.packages, plan.python_version, locks)
        return trained
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


def exit_status(exc: BuildahError) -> int | None:
    """The exit status of the failing RUN step, from buildah's last lines."""
    for line in reversed(exc.stderr_tail):
        if "exit status" in line:
            tail = line.rsplit("exit status", 1)[1].strip().strip(":").split()
            if tail and tail[0].isdigit():
                return int(tail[0])
    return None
