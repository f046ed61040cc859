"""`-t IMAGE` is checked before anything is built."""

from __future__ import annotations

import pytest
from nb2svc.errors import UsageError
from nb2svc.options import check_image_ref


@pytest.mark.parametrize(
    "ref",
    [
        "localhost/churn:latest",
        "churn",
        "registry.example.com:5000/team/churn-model:2024.05",
        "quay.io/org/churn__v2:sha-abc123",
    ],
)
def test_valid_references_pass(ref: str) -> None:
    assert check_image_ref(ref) == ref


@pytest.mark.parametrize(
    "ref",
    ["localhost/Churn:latest", "localhost/churn-:test", "localhost/churn:", "churn:-tag", "a b"],
)
def test_malformed_references_are_a_usage_error_before_building(ref: str) -> None:
    with pytest.raises(UsageError, match="not a valid image reference"):
        check_image_ref(ref)
