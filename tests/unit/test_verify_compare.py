"""The image's answers to the sample inputs are compared with the build's, forecasts too."""

from __future__ import annotations

import pytest
from nb2svc.errors import VerificationError
from nb2svc.image.verify import _compare

FORECAST = {"index": ["2025-01-01T00:00:00"], "mean": [308.118], "lower": [302.6], "upper": [313.5]}


def test_a_forecast_matches_within_float_noise() -> None:
    served = {**FORECAST, "mean": [308.118 * (1 + 1e-9)]}
    _compare([FORECAST], [served])


@pytest.mark.parametrize(
    "served",
    [
        {**FORECAST, "mean": [309.0]},
        {**FORECAST, "index": ["2025-02-01T00:00:00"]},
        {"index": FORECAST["index"], "mean": FORECAST["mean"]},
    ],
    ids=["other-mean", "other-index", "no-intervals"],
)
def test_a_different_forecast_fails_verification(served: dict[str, object]) -> None:
    with pytest.raises(VerificationError, match="1 of 1 sample predictions differ"):
        _compare([FORECAST], [served])
