"""The artifact's signature vocabulary, shared by capture (train side) and the server.

Import-light on purpose: the train stage may not have the server's dependencies, so
this module uses only the standard library (numpy/pandas objects are handled by duck typing).
"""

from __future__ import annotations

import math
from typing import Any

FORMAT_VERSION = 1
SIGNATURE_FILE = "signature.json"
SAMPLE_FILE = "sample.json"
REQUIREMENTS_FILE = "requirements.txt"
KEEP_FILE = "keep-modules.txt"  # test modules the pickle references (see prune.py)

INPUT_KINDS = ("dataframe", "array", "series", "forecast")  # forecast: frameworks/forecast.py
FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = tuple(f"{p}int{b}" for p in ("", "u") for b in (8, 16, 32, 64))
LOGICAL_DTYPES = (*FLOAT_DTYPES, *INT_DTYPES, "bool", "string", "datetime")
MAX_CATEGORIES = 50


def logical_dtype(dtype: Any) -> str:
    """Map a numpy/pandas dtype to the signature's logical dtype."""
    name = str(dtype)
    if name == "category":
        return logical_dtype(dtype.categories.dtype)
    kind = getattr(dtype, "kind", "O")
    lowered = name.lower()
    if lowered in ("boolean", "bool") or kind == "b":
        return "bool"
    if kind in "iu" or lowered in INT_DTYPES:
        return lowered if lowered in INT_DTYPES else "int64"
    if kind == "f" or lowered in FLOAT_DTYPES:
        return lowered if lowered in FLOAT_DTYPES else "float64"
    if kind == "M" or lowered.startswith("datetime64"):
        return "datetime"
    return "string"


def v2_datatype(logical: str) -> str:
    """Open Inference Protocol datatype for a logical dtype."""
    if logical == "bool":
        return "BOOL"
    if logical in FLOAT_DTYPES:
        return "FP" + logical.removeprefix("float")
    if logical in INT_DTYPES:
        return logical.replace("uint", "UINT").replace("int", "INT")
    return "BYTES"


def json_type(logical: str) -> str:
    """JSON Schema type for a logical dtype."""
    if logical == "bool":
        return "boolean"
    if logical in INT_DTYPES:
        return "integer"
    if logical in FLOAT_DTYPES:
        return "number"
    return "string"


def to_native(value: Any) -> Any:
    """Convert numpy/pandas scalars and containers to JSON-native values (NaN/NaT -> None)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): to_native(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_native(v) for v in value]
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return to_native(tolist())
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        text = str(value)
        return None if text in ("NaT", "nan") else isoformat()
    if str(value) in ("<NA>", "NaT", "nan"):
        return None
    item = getattr(value, "item", None)
    return to_native(item()) if callable(item) else str(value)
