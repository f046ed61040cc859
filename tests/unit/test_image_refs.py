"""What an image reference names: the registry, the repository, a digest pin."""

from __future__ import annotations

import pytest
from nb2svc.image.refs import by_digest, is_local, registry_of, repository_of

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("ref", "registry"),
    [
        ("registry.example.com/team/churn:v1", "registry.example.com"),
        ("127.0.0.1:5000/churn", "127.0.0.1:5000"),
        ("localhost:5000/churn:1", "localhost:5000"),  # a registry on this machine
        ("localhost/churn:latest", None),  # local container storage
        ("churn:v1", None),  # buildah keeps it as localhost/churn:v1
        ("team/churn", None),
    ],
)
def test_the_registry_is_the_first_component_when_it_is_a_host(
    ref: str, registry: str | None
) -> None:
    assert registry_of(ref) == registry
    assert is_local(ref) is (registry is None)


@pytest.mark.parametrize(
    ("ref", "repository"),
    [
        ("registry.example.com:5000/team/churn:v1", "registry.example.com:5000/team/churn"),
        (f"r.example.com/churn:v1@{DIGEST}", "r.example.com/churn"),
        ("r.example.com:443/churn", "r.example.com:443/churn"),
    ],
)
def test_the_repository_drops_the_tag_and_digest_not_the_port(ref: str, repository: str) -> None:
    assert repository_of(ref) == repository


def test_a_digest_pin_names_the_repository_and_the_digest_only() -> None:
    assert (
        by_digest("r.example.com:5000/ml/churn:3f2a", DIGEST)
        == f"r.example.com:5000/ml/churn@{DIGEST}"
    )
    with pytest.raises(ValueError, match="not a sha256 digest"):
        by_digest("r.example.com/churn:1", "sha256:short")
