"""A forecaster from statsmodels' old `tsa.arima_model` (before 0.13), which notebooks of
2017-2021 fit and nb2svc's retry installs for them: captured, checked and forecast with
dates and intervals, in a pinned venv with statsmodels 0.12.2 on Python 3.9."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .server import RUNTIMES
from .venvs import pinned_venv

PINS = ("statsmodels==0.12.2", "numpy==1.21.2", "scipy==1.7.1", "pandas==1.3.3", "orjson==3.10.0",
        "prometheus-client==0.20.0", "starlette==0.40.0", "uvicorn==0.30.0")  # fmt: skip
FIT = """
import sys, warnings
from pathlib import Path
import numpy as np, pandas as pd
from statsmodels.tsa.arima_model import ARIMA
from nb2svc_runtime.train.capture import save_model

warnings.simplefilter("ignore")
months = pd.date_range("2018-01-01", periods=48, freq="MS")
sales = pd.Series(100 + 10 * np.sin(np.arange(48)) + np.arange(48), index=months)
model = ARIMA(sales, order=(1, 0, 0)).fit(disp=0)
save_model({"model": model}, variable="model", name="sales", out_dir=Path(sys.argv[1]))
"""


def test_an_arima_model_results_forecasts_dated_months_with_intervals(tmp_path: Path) -> None:
    python = pinned_venv("3.9", PINS, what="installing statsmodels 0.12")
    env = {**os.environ, "PYTHONPATH": str(RUNTIMES), "MODEL_DIR": str(tmp_path / "model")}
    fit = subprocess.run([str(python), "-c", FIT, str(tmp_path / "model")], env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert fit.returncode == 0, fit.stderr[-2000:]
    signature = json.loads((tmp_path / "model" / "signature.json").read_text())
    assert signature["forecast"]["method"] == "legacy_forecast"
    assert signature["forecast"]["index"] == {
        "kind": "datetime", "last": "2021-12-01T00:00:00", "freq": "MS", "nobs": 48,
    }  # fmt: skip
    (answer,) = json.loads((tmp_path / "model" / "sample.json").read_text())["predictions"]
    assert answer["index"][:2] == ["2022-01-01T00:00:00", "2022-02-01T00:00:00"]
    assert len(answer["mean"]) == len(answer["lower"]) == len(answer["upper"]) == 12
    assert all(
        lo < m < hi
        for lo, m, hi in zip(answer["lower"], answer["mean"], answer["upper"], strict=True)
    )
    check = subprocess.run([str(python), "-m", "nb2svc_runtime", "check"], env=env,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert check.returncode == 0, check.stderr[-2000:]
