"""Each failure class's stage and exit code, as README's exit-code list gives them."""

from __future__ import annotations

import pytest
from nb2svc.engine.errors import BuildahError, PodmanMissingError
from nb2svc.engine.registry import RegistryAuthError
from nb2svc.errors import (
    BuildError,
    DependencyError,
    DeployError,
    Nb2svcError,
    NotebookError,
    PushError,
    TrainingError,
    TriggerError,
    UsageError,
    VerificationError,
)


@pytest.mark.parametrize(
    ("error", "stage", "exit_code"),
    [
        pytest.param(UsageError, "usage", 2, id="usage-or-config-exits-2"),
        pytest.param(NotebookError, "notebook", 3, id="notebook-exits-3"),
        pytest.param(DependencyError, "dependencies", 4, id="dependencies-exit-4"),
        pytest.param(BuildError, "build", 5, id="build-exits-5"),
        pytest.param(TrainingError, "training", 6, id="training-exits-6"),
        pytest.param(VerificationError, "verify", 7, id="verification-exits-7"),
        pytest.param(DeployError, "deploy", 8, id="deploy-exits-8"),
        pytest.param(TriggerError, "trigger", 9, id="trigger-exits-9"),
        pytest.param(PushError, "push", 10, id="push-exits-10"),
        pytest.param(RegistryAuthError, "push", 10, id="a-refused-push-too"),
        pytest.param(BuildahError, "build", 5, id="a-subclass-keeps-its-parents-stage"),
        pytest.param(PodmanMissingError, "verify", 7, id="and-so-does-its-subclass"),
    ],
)
def test_failure_class_has_its_stage_and_exit_code(
    error: type[Nb2svcError], stage: str, exit_code: int
) -> None:
    assert (error.stage, error.exit_code) == (stage, exit_code)
