"""Serve side: check request rows against the signature and build typed columns.

Rows arrive as objects keyed by feature name or as lists in signature order (a bare
string is accepted for a one-text-column model). Nothing here parses with libraries
that could fetch URLs or unpickle: values are plain JSON values checked one by one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ..artifact.format import Feature, Signature
from .errors import ApiError

Checker = Callable[[Any], Any]
MAX_DETAILS = 20
INT_BOUNDS = {
    f"{prefix}int{bits}": (
        (0, 2**bits - 1) if prefix else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    )
    for prefix in ("", "u")
    for bits in (8, 16, 32, 64)
}


# The largest magnitude of a float feature: float32's for float64 too, since many models
# compute in float32 (scikit-learn's trees) and refuse what does not fit; no measured
# quantity comes near it.
FLOAT32_MAX = 3.4028234663852886e38
FLOAT_LIMITS = {"float16": 65504.0, "float32": FLOAT32_MAX, "float64": FLOAT32_MAX}
# The years pandas' nanosecond timestamps hold whole (1677-09-21 to 2262-04-11).
YEARS = (1678, 2261)
# An integral float stands for an integer only where float64 holds every integer exactly:
# beyond, it is a rounded value (the JSON parser gives a float for a literal beyond 64 bits).
EXACT_FLOAT_INT = 2**53


class BadValue(Exception):
    """One value does not fit its feature."""


def describe(value: Any) -> str:
    """A request value as its JSON type and a glimpse of it, for error messages."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"string {text!r}"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _float_checker(dtype: str) -> Checker:
    limit = FLOAT_LIMITS[dtype]

    def check(value: Any) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise BadValue(f"expected a number, got {describe(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise BadValue(f"expected a finite number, got {value}")  # CSV's "inf", "nan"
        if not -limit <= value <= limit:
            shown = f"{float(value):.6g}" if abs(value) < 1e308 else "beyond 1e308"
            raise BadValue(f"number {shown} is out of range for {dtype} [-{limit}, {limit}]")
        return float(value)

    return check


def _int_checker(dtype: str) -> Checker:
    low, high = INT_BOUNDS[dtype]

    def check(value: Any) -> int:
        if isinstance(value, float) and value.is_integer() and abs(value) <= EXACT_FLOAT_INT:
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadValue(f"expected an integer, got {describe(value)}")
        if not low <= value <= high:
            raise BadValue(f"integer {value} is out of range for {dtype} [{low}, {high}]")
        return value

    return check


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise BadValue(f"expected a boolean (true/false), got {describe(value)}")


def _datetime(value: Any) -> str:
    if not isinstance(value, str):
        raise BadValue(f"expected an ISO 8601 date-time string, got {describe(value)}")
    try:
        year = datetime.fromisoformat(value).year
    except ValueError:
        raise BadValue(f"expected an ISO 8601 date-time string, got {describe(value)}") from None
    if not YEARS[0] <= year <= YEARS[1]:
        raise BadValue(f"year {year} is out of range [{YEARS[0]}, {YEARS[1]}]")
    return value


def _string_checker(feature: Feature) -> Checker:
    allowed = set(feature.categories or ()) if feature.closed else None

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise BadValue(f"expected a string, got {describe(value)}")
        if allowed is not None and value not in allowed:
            options = ", ".join(repr(c) for c in list(feature.categories or ())[:10])
            raise BadValue(f"unknown category {value!r}; expected one of {options}")
        return value

    return check


def value_checker(feature: Feature) -> Checker:
    """The checker for one feature, handling null according to `nullable`."""
    if feature.dtype.startswith(("float",)):
        inner: Checker = _float_checker(feature.dtype)
    elif feature.dtype.startswith(("int", "uint")):
        inner = _int_checker(feature.dtype)
    elif feature.dtype == "bool":
        inner = _bool
    elif feature.dtype == "datetime":
        inner = _datetime
    else:
        inner = _string_checker(feature)
    nullable = feature.nullable

    def check(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise BadValue("null is not allowed for this feature")
        return inner(value)

    if feature.dtype.startswith("float"):
        return _fast_float(check, FLOAT_LIMITS[feature.dtype])
    return check


def _fast_float(checker: Checker, limit: float) -> Checker:
    """A float feature's check with its common case first: a JSON float or integer within
    range is the number itself (as float), in one call. A bool is neither (`type`, not
    `isinstance`); NaN and the infinities fail the range, so they, null and everything else
    take `checker`, which accepts or words the refusal exactly as before."""

    def check(value: Any) -> Any:
        kind = type(value)
        if (kind is float or kind is int) and -limit <= value <= limit:
            return float(value)
        return checker(value)

    return check


NUMBERS = frozenset({float, int})


class Validator:
    """Checks rows against a signature; raises ApiError(422) naming the row and field."""

    def __init__(self, signature: Signature, max_rows: int) -> None:
        self.features = signature.inputs
        self.names = signature.names
        self.index = {name: i for i, name in enumerate(self.names)}
        self.checkers = [value_checker(f) for f in self.features]
        self.series = signature.input_kind == "series"
        self.max_rows = max_rows
        floats = [f.dtype for f in self.features if f.dtype.startswith("float")]
        self.float_limit = (
            min(FLOAT_LIMITS[dtype] for dtype in floats)
            if floats and len(floats) == len(self.features) and not self.series
            else None
        )  # every feature a float: a row of in-range numbers is checked at once (_floats)

    def _floats(self, values: Sequence[Any]) -> list[float] | None:
        """The row as floats if every value is a JSON number (not a bool) within every
        feature's range, else None (the values are then checked one by one). The checks
        run in C: the types as a set, the conversion as a map, the range as min and max; a
        finite sum means no NaN or infinity (a sum overflowing merely takes the slow way)."""
        limit = self.float_limit
        if (
            limit is None
            or len(values) != len(self.names)
            or not NUMBERS.issuperset(map(type, values))
        ):
            return None
        try:
            floats = list(map(float, values))
        except OverflowError:
            return None
        if not floats or not math.isfinite(sum(floats)):
            return None
        return floats if -limit <= min(floats) and max(floats) <= limit else None

    def _row_values(self, row: Any, errors: list[dict[str, Any]], i: int) -> Sequence[Any]:
        width = len(self.names)
        if type(row) is dict and len(row) == width:  # every name there means no unknown one
            try:
                return [row[n] for n in self.names]
            except KeyError:
                pass
        if isinstance(row, dict):
            unknown = [k for k in row if k not in self.index]
            missing = [n for n in self.names if n not in row]
            for key in unknown:
                errors.append(detail(i, key, "unknown feature"))
            for name in missing:
                errors.append(detail(i, name, "missing feature"))
            return [] if unknown or missing else [row[n] for n in self.names]
        if isinstance(row, list):
            if len(row) != width:
                message = f"has {len(row)} values, expected {width} ({', '.join(self.names)})"
                errors.append(detail(i, None, message))
                return []
            return row
        if self.series and isinstance(row, str):
            return [row]
        errors.append(detail(i, None, f"must be an object or an array, got {describe(row)}"))
        return []

    def check_count(self, count: int) -> None:
        if count == 0:
            raise ApiError(422, "no rows to predict: the request contains no instances")
        if count > self.max_rows:
            message = f"too many rows: {count} > {self.max_rows} (MAX_ROWS)"
            raise ApiError(422, message, [{"rows": count, "max_rows": self.max_rows}])

    def columns(self, rows: Sequence[Any]) -> dict[str, list[Any]]:
        """Validated values per feature name (in signature order)."""
        checked = self.checked_rows(rows)
        if not checked:
            return {name: [] for name in self.names}
        return {name: list(column) for name, column in zip(self.names, zip(*checked))}

    def checked_rows(self, rows: Sequence[Any]) -> list[list[Any]]:
        """Each row's validated values, in signature order (what `columns` transposes)."""
        self.check_count(len(rows))
        checked: list[list[Any]] = []  # each row's checked values, turned into columns below
        errors: list[dict[str, Any]] = []
        checkers = self.checkers
        for i, row in enumerate(rows):
            values = self._row_values(row, errors, i)
            floats = self._floats(values)
            if floats is not None:
                checked.append(floats)
                continue
            try:
                checked.append([check(value) for check, value in zip(checkers, values)])
            except BadValue:  # again value by value, for every problem of the row
                self._row_errors(values, errors, i)
            if len(errors) >= MAX_DETAILS:
                break
        if errors:
            raise invalid_request(errors)
        return checked

    def _row_errors(self, values: Sequence[Any], errors: list[dict[str, Any]], i: int) -> None:
        for j, value in enumerate(values):
            try:
                self.checkers[j](value)
            except BadValue as exc:
                errors.append(detail(i, self.names[j], str(exc)))


def detail(row: int, field: str | None, message: str) -> dict[str, Any]:
    """One problem of a request, as the 422 answer lists it."""
    return {"row": row, "field": field, "message": message}


def invalid_request(
    errors: list[dict[str, Any]], item: str = "row", request: str = "input"
) -> ApiError:
    """The 422 for a request's problems: the first (and how many more) in the message, up to
    MAX_DETAILS of them as details. `item` is what a problem's `row` counts (rows, instances)."""
    first = errors[0]
    where = f"{item} {first['row']}"
    if first["field"] is not None:
        where += f", field {first['field']!r}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = f"invalid {request}: {where}: {first['message']}{more}"
    return ApiError(422, message, errors[:MAX_DETAILS])


def validator_for(signature: Signature, max_rows: int) -> Validator:
    """The request checker of a model: a forecaster takes horizons (forecast_api.py)."""
    if signature.input_kind == "forecast":
        from .forecast_api import ForecastValidator

        return ForecastValidator(signature, max_rows)
    return Validator(signature, max_rows)
