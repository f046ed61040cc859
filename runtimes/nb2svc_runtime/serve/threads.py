"""Serve side: one library thread per worker.

A notebook's model often carries `n_jobs=-1` (or XGBoost's / LightGBM's all-threads
default): fine for training, but when serving, every call then starts a thread pool for one
row, and the workers (one per core) fight over the cores. At load time each thread-count
parameter the model exposes through `get_params(deep=True)` (scikit-learn's API, which
XGBoost, LightGBM and CatBoost follow) is set to 1. Labels do not change; probabilities may
differ in the last bits, since threads add a forest's votes in no fixed order (one thread
adds them in one order, every time). benchmarks/serving/compiled-backends-study.md measured
the churn forest at 79 ms a row with `n_jobs=-1` and 45 ms with 1; USAGE.md, "Threads".
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("nb2svc.threads")
THREAD_PARAMETERS = ("n_jobs", "nthread", "num_threads", "thread_count")


def pin_threads(model: Any) -> dict[str, Any]:
    """Set the model's thread counts to 1; returns what they were (empty when none)."""
    get_params = getattr(model, "get_params", None)
    set_params = getattr(model, "set_params", None)
    if not callable(get_params) or not callable(set_params):
        return {}
    try:
        params = get_params(deep=True)
    except Exception:  # a model whose get_params fails is served as it is
        return {}
    if not isinstance(params, dict):
        return {}
    before = {
        name: value
        for name, value in params.items()
        if name.rsplit("__", 1)[-1] in THREAD_PARAMETERS and value != 1
    }
    if not before:
        return {}
    try:
        set_params(**dict.fromkeys(before, 1))
    except Exception as exc:
        log.warning(
            "could not pin the model's threads to one",
            extra={"fields": {"parameters": sorted(before), "error": repr(exc)}},
        )
        return {}
    return before
