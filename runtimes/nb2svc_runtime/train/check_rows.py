"""Train side: the rows a compiled model is proven equal on (docs/architecture.md, "Compiled
inference"): the notebook's own data with the model's columns, its held-out split first
(X_test, X_val, ... in introspect.DATA_NAMES order), as JSON records like sample.json's.

Rows are picked at an even stride, so a sorted frame still contributes its whole range.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from ..artifact.signature import to_native
from .introspect import Inputs, is_frame, ordered_data, shape_of

PER_FRAME = 500
MAX_ROWS = 1000


def _spread(count: int, limit: int) -> list[int]:
    """`limit` row positions spread evenly over `count` rows (all of them when fewer)."""
    if count <= limit:
        return list(range(count))
    return sorted({i * count // limit for i in range(limit)})


def _frame_records(frame: Any, names: list[str], limit: int) -> list[dict[str, Any]]:
    picked = frame.iloc[_spread(len(frame), limit)]
    rows = picked.astype(object).where(picked.notna(), None).values.tolist()
    return [dict(zip(names, to_native(list(row)))) for row in rows]


def _array_records(array: Any, names: list[str], limit: int) -> list[dict[str, Any]]:
    import numpy as np

    data = np.asarray(array, dtype="float64")
    rows = data[_spread(len(data), limit)]
    return [dict(zip(names, [None if np.isnan(v) else float(v) for v in row])) for row in rows]


def _matches(value: Any, kind: str, names: list[str]) -> bool:
    """A frame with exactly the model's columns, or a 2-D array of its width."""
    if kind == "dataframe":
        return is_frame(value) and list(value.columns) == names
    shape = shape_of(value)
    return not is_frame(value) and len(shape) == 2 and shape[1] == len(names)


def _sources(namespace: dict[str, Any], inputs: Inputs) -> list[Any]:
    """The distinct data objects the model's input came from or matches, held-out first."""
    names = [spec["name"] for spec in inputs.specs]
    found: list[Any] = []
    for _, value in ordered_data(namespace):
        if _matches(value, inputs.kind, names):
            found.append(value)
    if not found and inputs.data is not None:
        found.append(inputs.data)
    unique: list[Any] = []
    for value in found:
        if all(value is not seen for seen in unique):
            unique.append(value)
    return unique


def _finite(record: dict[str, Any]) -> bool:
    """No inf or nan: the server refuses those, so they prove nothing."""
    return all(not isinstance(v, float) or math.isfinite(v) for v in record.values())


def check_records(namespace: dict[str, Any], inputs: Inputs) -> list[dict[str, Any]]:
    """Up to MAX_ROWS records, PER_FRAME from each source; [] for kinds never compiled."""
    if inputs.kind not in ("dataframe", "array"):
        return []
    names = [spec["name"] for spec in inputs.specs]
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for source in _sources(namespace, inputs):
        room = min(PER_FRAME, MAX_ROWS - len(records))
        if room <= 0:
            break
        try:
            found = (_frame_records if is_frame(source) else _array_records)(source, names, room)
        except (TypeError, ValueError):  # an object array or frame that is not the input
            continue
        for record in found:  # X holds X_train's rows again: each row proves once
            key = json.dumps(record, sort_keys=True, default=str)
            if _finite(record) and key not in seen:
                seen.add(key)
                records.append(record)
    return records


def write_check_rows(namespace: dict[str, Any], inputs: Inputs | None) -> None:
    """Write the records where CHECK_ROWS_ENV points, when the build asked for them."""
    from ..contract import CHECK_ROWS_ENV

    target = os.environ.get(CHECK_ROWS_ENV)
    if not target:
        return
    records = check_records(namespace, inputs) if inputs is not None else []
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"rows": records}, allow_nan=False))
    tmp.replace(path)
