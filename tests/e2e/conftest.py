"""The churn image, built once per session and runtime, from a checkout a CI system would have.

The checkout is a git copy of sample-notebooks/churn whose `remote.origin.url` carries a
(fake) token, the way GitLab CI and GitHub Actions check out: every test of the built image
also runs on an image that must not have recorded that token (docs/security.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nb2svc.image.base import BaseImages

from .e2e_support import CHURN, TOKEN_ORIGIN, ChurnBuild, ChurnBuilds, git_checkout


@pytest.fixture(scope="session")
def churn_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return git_checkout(CHURN, tmp_path_factory.mktemp("checkout") / "churn", TOKEN_ORIGIN)


@pytest.fixture(scope="session")
def churn_builds(
    base_images: BaseImages, churn_checkout: Path, tmp_path_factory: pytest.TempPathFactory
) -> ChurnBuilds:
    """Kept after the session: the next run's rebuild is then a cache hit of seconds."""
    return ChurnBuilds(churn_checkout, tmp_path_factory)


@pytest.fixture(scope="session")
def churn_build(churn_builds: ChurnBuilds) -> ChurnBuild:
    """The default runtime's churn image."""
    return churn_builds.get("default")
