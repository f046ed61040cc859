"""Serve side of forecasting models (frameworks/forecast.py): request checks and the adapter
that forecasts (USAGE.md); the v2 tensors are in serve/forecast_v2.py, the OpenAPI shapes in
serve/forecast_openapi.py.

An instance is `{"steps": 12}` (or the bare integer `12`); a model fitted with exogenous
columns takes `{"steps": 3, "exog": [{"promo": 1, "price": 9.5}, ...]}`, one exog row per
step (`steps` may then be left out). All the steps of a request together are limited by
MAX_ROWS, like the rows of any other model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..artifact.format import Feature, Signature
from ..artifact.signature import json_type
from ..frameworks.forecast import (
    EXOG,
    STEPS,
    ForecastSpec,
    exog_matrix,
    forecast_spec,
    run_forecast,
)
from .adapters import Adapter, Columns
from .errors import ApiError
from .schema import (
    MAX_DETAILS,
    BadValue,
    Validator,
    describe,
    detail,
    invalid_request,
    value_checker,
)

_INT_DATATYPES = ("INT", "UINT")


def _zero(feature: Feature) -> Any:
    if feature.dtype == "bool":
        return False
    return 0 if json_type(feature.dtype) == "integer" else 0.0


def example_instance(spec: ForecastSpec, steps: int = 2) -> dict[str, Any]:
    """A valid instance of this model, for error messages: what to send."""
    if not spec.exog:
        return {STEPS: 12}
    row = {f.name: _zero(f) for f in spec.exog}
    return {STEPS: steps, EXOG: [row] * steps}


class ForecastValidator(Validator):
    """Checks forecast instances; columns are `steps` (ints) and `exog` (rows or None)."""

    def __init__(self, signature: Signature, max_rows: int) -> None:
        super().__init__(signature, max_rows)
        self.spec = forecast_spec(signature)
        self.exog_names = self.spec.exog_names
        self.exog_checkers = [value_checker(f) for f in self.spec.exog]
        example = json.dumps(example_instance(self.spec))
        self.send = f"send {example}"

    def _steps(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue(f"expected a whole number of periods to forecast, got {describe(value)}")
        if value < 1:
            raise BadValue(f"must be at least 1 (the periods to forecast), got {value}")
        if value > self.max_rows:
            raise BadValue(
                f"{value} is more than the {self.max_rows} steps a request may forecast (MAX_ROWS)"
            )
        return value

    def _exog_row(self, row: Any, where: str, errors: list[dict[str, Any]], i: int) -> list[Any]:
        names = self.exog_names
        if isinstance(row, dict):
            unknown = [k for k in row if k not in names]
            missing = [n for n in names if n not in row]
            expected = f"the exog columns are {', '.join(names)}"
            errors += [
                detail(i, f"{where}.{k}", f"unknown exog column; {expected}") for k in unknown
            ]
            errors += [
                detail(i, f"{where}.{n}", f"missing exog column; {expected}") for n in missing
            ]
            if unknown or missing:
                return []
            values = [row[n] for n in names]
        elif isinstance(row, list) and len(row) == len(names):
            values = row
        else:
            message = f"must be an object with {', '.join(names)}, got {describe(row)}"
            errors.append(detail(i, where, message))
            return []
        checked = []
        for name, check, value in zip(names, self.exog_checkers, values):
            try:
                checked.append(check(value))
            except BadValue as exc:
                errors.append(detail(i, f"{where}.{name}", str(exc)))
        return checked

    def _exog(self, value: Any, errors: list[dict[str, Any]], i: int) -> list[list[Any]] | None:
        if not isinstance(value, list) or not value:
            what = "an empty array" if value == [] else describe(value)
            errors.append(detail(i, EXOG, f"must be an array of one row per step, got {what}"))
            return None
        if len(value) > self.max_rows:
            limit = f"the {self.max_rows} steps a request may forecast (MAX_ROWS)"
            message = f"has {len(value)} rows, more than {limit}"
            errors.append(detail(i, EXOG, message))
            return None
        before = len(errors)
        rows = [self._exog_row(row, f"{EXOG}[{j}]", errors, i) for j, row in enumerate(value)]
        return rows if len(errors) == before else None

    def instance(self, row: Any, i: int, errors: list[dict[str, Any]]) -> tuple[int, Any]:
        """(steps, exog rows or None) of instance `i`; problems are appended to `errors`."""
        if isinstance(row, (int, float)) and not isinstance(row, bool) and not self.spec.exog:
            row = {STEPS: row}
        if not isinstance(row, dict):
            errors.append(detail(i, None, f"must be an object, got {describe(row)}; {self.send}"))
            return 0, None
        allowed = (STEPS, EXOG) if self.spec.exog else (STEPS,)
        for key in row:
            if key not in allowed:
                fields = " and ".join(f'"{k}"' for k in allowed)
                errors.append(detail(i, key, f"unknown field; an instance has {fields}"))
        steps = 0
        if STEPS in row:
            try:
                steps = self._steps(row[STEPS])
            except BadValue as exc:
                errors.append(detail(i, STEPS, str(exc)))
        elif not self.spec.exog:
            errors.append(
                detail(i, STEPS, f"missing: the number of periods to forecast; {self.send}")
            )
        if not self.spec.exog:
            return steps, None
        if EXOG not in row:
            columns = ", ".join(self.exog_names)
            message = (
                f"missing: this model was fitted with exogenous columns ({columns}): "
                f"send a row of them per step; {self.send}"
            )
            errors.append(detail(i, EXOG, message))
            return steps, None
        exog = self._exog(row[EXOG], errors, i)
        if exog is not None and STEPS in row and steps and steps != len(exog):
            message = f"steps is {steps} but exog has {len(exog)} rows: send one exog row per step"
            errors.append(detail(i, STEPS, message))
        return (steps or len(exog or ())), exog

    def columns(self, rows: Sequence[Any]) -> Columns:
        if not rows:
            raise ApiError(
                422, f"no forecast asked for: the request contains no instances; {self.send}"
            )
        self.check_count(len(rows))
        steps: list[int] = []
        exog: list[Any] = []
        errors: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            count, values = self.instance(row, i, errors)
            steps.append(count)
            exog.append(values)
            if len(errors) >= MAX_DETAILS:
                break
        if errors:
            raise invalid_request(errors, item="instance", request="forecast request")
        total = sum(steps)
        if total > self.max_rows:
            message = (
                f"too many forecast steps: {total} in this request > {self.max_rows} "
                "(MAX_ROWS); ask for fewer or split the request"
            )
            raise ApiError(422, message, [{"steps": total, "max_rows": self.max_rows}])
        return {STEPS: steps, EXOG: exog}


class ForecastAdapter(Adapter):
    """Calls a statsmodels time-series results object: one forecast per instance."""

    framework = "statsmodels"
    gives_proba = False

    def __init__(self, model: Any, signature: Signature) -> None:
        super().__init__(model, signature)
        self.spec = forecast_spec(signature)

    def make_input(self, columns: Columns) -> Any:
        width = len(self.spec.exog)
        return [(s, exog_matrix(e, width)) for s, e in zip(columns[STEPS], columns[EXOG])]

    def predict(self, data: Any) -> list[Any]:
        return [run_forecast(self.model, self.spec, steps, exog) for steps, exog in data]

    def predict_both(self, data: Any, want_proba: bool) -> tuple[list[Any], Any]:
        return self.predict(data), None

    def predict_proba(self, data: Any) -> list[list[float]] | None:
        return None
