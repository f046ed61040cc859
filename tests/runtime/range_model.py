"""Run by test_library_range.py with another venv's python (3.9 with pandas 1.1 up to the
newest): train a churn model the way a notebook would, capture it with the runtime's own
`save_model`, then predict the probe rows with the saved model in that venv.

    python range_model.py MODEL_DIR PROBE_JSON EXPECTED_JSON

Only APIs every library version of the range has (no `np.random.default_rng`, no
`set_output`), and Python 3.9 syntax.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from nb2svc_runtime.train.capture import save_model
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

CONTRACTS = ["month", "one_year", "two_year"]


def frame(columns: dict[str, list[Any]]) -> Any:
    """The training data's dtypes: int, float with NaN, categorical, string, bool, datetime
    (nanoseconds, as every pandas version can hold, not what pandas 3 parses into)."""
    dates = [datetime.fromisoformat(v) for v in columns["signup"]]
    return pd.DataFrame(
        {
            "tenure": np.array(columns["tenure"], dtype="int64"),
            "monthly_charges": np.array(
                [np.nan if v is None else v for v in columns["monthly_charges"]], dtype="float64"
            ),
            "contract": pd.Categorical(columns["contract"], categories=CONTRACTS),
            "payment": np.array(columns["payment"], dtype=object),
            "paperless": np.array(columns["paperless"], dtype=bool),
            "signup": pd.to_datetime(dates).astype("datetime64[ns]"),
        }
    )


def training_columns(rows: int = 400) -> dict[str, list[Any]]:
    rng = np.random.RandomState(7)
    start = pd.Timestamp("2019-01-01")
    seconds = rng.randint(0, 4 * 365 * 86400, rows)
    monthly: list[Any] = rng.normal(70, 20, rows).round(2).tolist()
    monthly[2] = None  # a missing value inside the captured sample
    return {
        "tenure": rng.randint(0, 72, rows).tolist(),
        "monthly_charges": monthly,
        "contract": rng.choice(CONTRACTS, rows).tolist(),
        "payment": rng.choice(["card", "check", "transfer"], rows).tolist(),
        "paperless": rng.choice([True, False], rows).tolist(),
        "signup": [(start + pd.Timedelta(seconds=int(s))).isoformat() for s in seconds],
    }


def churn_model(X: Any, y: Any) -> Any:
    numeric = Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())])
    # Dates as nanoseconds since the epoch: a server parsing another unit shifts every answer.
    as_number = FunctionTransformer(np.asarray, kw_args={"dtype": "int64"})
    dates = Pipeline([("number", as_number), ("scale", StandardScaler())])
    pre = ColumnTransformer(
        [
            ("num", numeric, ["tenure", "monthly_charges"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["contract", "payment"]),
            ("flag", "passthrough", ["paperless"]),
            ("date", dates, ["signup"]),
        ]
    )
    forest = RandomForestClassifier(n_estimators=25, min_samples_leaf=5, random_state=0)
    return Pipeline([("pre", pre), ("clf", forest)]).fit(X, y)


def main(model_dir: str, probe_path: str, expected_path: str) -> None:
    X = frame(training_columns())
    recent = X["signup"] > pd.Timestamp("2021-01-01")
    y = (((X["tenure"] < 24) & (X["contract"] == "month")) | (recent & ~X["paperless"])).astype(int)
    X_train = X.iloc[:300]
    model = churn_model(X_train, y.iloc[:300])
    namespace = {"X": X, "y": y, "X_train": X_train, "model": model}  # a notebook's globals
    save_model(namespace, variable=None, name="churn", out_dir=model_dir)
    rows = json.loads(Path(probe_path).read_text())
    probe = frame({name: [row[name] for row in rows] for name in rows[0]})
    saved = joblib.load(Path(model_dir) / "model.joblib")
    expected = {
        "predictions": saved.predict(probe).tolist(),
        "probabilities": saved.predict_proba(probe).tolist(),
        "versions": {"pandas": pd.__version__, "numpy": np.__version__},
    }
    Path(expected_path).write_text(json.dumps(expected))


if __name__ == "__main__":
    main(*sys.argv[1:4])
