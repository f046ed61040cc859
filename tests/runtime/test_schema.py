"""Request validation against the signature, without a server."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nb2svc_runtime.artifact.format import parse_signature
from nb2svc_runtime.serve.errors import ApiError
from nb2svc_runtime.serve.openapi_schemas import ISO_DATE_TIME
from nb2svc_runtime.serve.schema import Validator
from nb2svc_runtime.serve.v2 import v2_rows

SIGNATURE: dict[str, Any] = {
    "name": "m", "input_kind": "dataframe", "task": "classification",
    "serialization": {"format": "joblib", "file": "model.joblib"},
    "inputs": [
        {"name": "age", "dtype": "int64", "nullable": False},
        {"name": "small", "dtype": "uint8", "nullable": False},
        {"name": "income", "dtype": "float64", "nullable": True},
        {"name": "plan", "dtype": "string", "pandas_dtype": "category", "nullable": False,
         "categories": ["basic", "pro"]},
        {"name": "active", "dtype": "bool", "nullable": False},
        {"name": "since", "dtype": "datetime", "nullable": False},
    ],
}  # fmt: skip
GOOD = {"age": 30, "small": 3, "income": 1.5, "plan": "pro", "active": True, "since": "2024-01-02"}


@pytest.fixture
def validator() -> Validator:
    return Validator(parse_signature(SIGNATURE), max_rows=3)


def error_of(validator: Validator, rows: list[Any]) -> ApiError:
    with pytest.raises(ApiError) as info:
        validator.columns(rows)
    return info.value


def test_objects_and_lists_give_the_same_columns(validator: Validator) -> None:
    as_list = [GOOD[k] for k in GOOD]
    assert validator.columns([GOOD]) == validator.columns([as_list])


def test_null_only_where_nullable(validator: Validator) -> None:
    assert validator.columns([{**GOOD, "income": None}])["income"] == [None]
    err = error_of(validator, [{**GOOD, "age": None}])
    assert err.status == 422
    assert err.details[0]["field"] == "age"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("age", True, "expected an integer, got boolean true"),
        ("small", 300, "out of range for uint8"),
        ("income", "12", "expected a number, got string '12'"),
        ("plan", "gold", "unknown category 'gold'"),
        ("active", 0, "expected a boolean"),
        ("since", "yesterday", "ISO 8601"),
        ("since", "1066-10-14", "year 1066 is out of range"),  # beyond pandas' timestamps
        ("income", float("nan"), "expected a finite number, got nan"),  # CSV's "nan"
        ("income", 10**400, "out of range for float64"),
        ("income", -1e39, "out of range for float64"),  # beyond float32, as many models compute
        ("age", -9.223372036854775808e18, "expected an integer"),  # a JSON int beyond int64
    ],
)
def test_each_bad_value_names_its_field_and_row(
    validator: Validator, field: str, value: Any, message: str
) -> None:
    err = error_of(validator, [GOOD, {**GOOD, field: value}])
    assert err.details[0] == {"row": 1, "field": field, "message": err.details[0]["message"]}
    assert message in err.details[0]["message"]
    assert err.error.startswith(f"invalid input: row 1, field '{field}'")


def test_row_limit(validator: Validator) -> None:
    assert "too many rows: 4 > 3" in error_of(validator, [GOOD] * 4).error


def test_all_problems_are_listed(validator: Validator) -> None:
    err = error_of(validator, [{"age": "x", "extra": 1}])
    fields = {(d["field"], d["message"]) for d in err.details}
    assert ("extra", "unknown feature") in fields
    assert ("plan", "missing feature") in fields


@pytest.mark.parametrize(
    ("row", "described"),
    [
        pytest.param(None, "got null", id="null-is-named-as-json-names-it"),
        pytest.param("x" * 50, f"got string '{'x' * 37}...'", id="a-long-string-is-cut-to-40"),
        pytest.param(7, "got number 7", id="a-number-is-shown"),
    ],
)
def test_a_row_that_is_no_row_says_what_it_got(
    validator: Validator, row: Any, described: str
) -> None:
    message = error_of(validator, [row]).details[0]["message"]
    assert message.endswith(described), message


def test_an_integral_float_is_an_integer_only_where_float64_is_exact(
    validator: Validator,
) -> None:
    assert validator.columns([{**GOOD, "age": 2.0**53}])["age"] == [2**53]
    assert error_of(validator, [{**GOOD, "age": 2.0**53 + 2}]).status == 422


TEXT_SERIES = parse_signature(
    {
        **SIGNATURE,
        "input_kind": "series",
        "inputs": [{"name": "review", "dtype": "string", "nullable": False}],
    }
)


def test_a_series_takes_its_one_v2_tensor_under_any_name_if_shape_and_type_fit() -> None:
    tensor = {"name": "text", "datatype": "BYTES", "shape": [2], "data": ["good", "bad"]}
    assert v2_rows({"inputs": [tensor]}, TEXT_SERIES) == ["good", "bad"]
    for wrong in ({"shape": [1]}, {"datatype": "FP64"}):
        with pytest.raises(ApiError) as info:
            v2_rows({"inputs": [{**tensor, **wrong}]}, TEXT_SERIES)
        assert info.value.status == 422


@settings(max_examples=200, deadline=None)
@given(st.from_regex(ISO_DATE_TIME["pattern"]))
def test_every_date_time_the_openapi_pattern_allows_is_taken(text: str) -> None:
    validator = Validator(parse_signature(SIGNATURE), max_rows=1)
    assert validator.columns([{**GOOD, "since": text}])["since"] == [text]
