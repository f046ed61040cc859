"""Small real models trained the way a notebook would, for the runtime tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def churn_namespace(rows: int = 400) -> dict[str, Any]:
    """A notebook's globals after training a churn classifier on numeric + categorical columns."""
    rng = np.random.default_rng(7)
    X = pd.DataFrame(
        {
            "tenure": rng.integers(0, 72, rows),
            "monthly_charges": rng.normal(70, 20, rows).round(2),
            "contract": rng.choice(["month", "one_year", "two_year"], rows),
            "paperless": rng.choice([True, False], rows),
        }
    )
    X.loc[5, "monthly_charges"] = np.nan
    y = ((X["tenure"] < 24) & (X["contract"] == "month")).astype(int)
    X_train, X_test = X.iloc[:300], X.iloc[300:]
    numeric = Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())])
    pre = ColumnTransformer(
        [
            ("num", numeric, ["tenure", "monthly_charges"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["contract"]),
            ("flag", "passthrough", ["paperless"]),
        ]
    )
    model = Pipeline([("pre", pre), ("clf", LogisticRegression())])
    model.fit(X_train, y.iloc[:300])
    return {"pd": pd, "X": X, "y": y, "X_train": X_train, "X_test": X_test, "model": model}


def price_namespace(rows: int = 300) -> dict[str, Any]:
    """A regressor fitted on a DataFrame, assigned to `regressor`."""
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"area": rng.uniform(30, 200, rows), "rooms": rng.integers(1, 7, rows)})
    y = 1500 * X["area"] + 9000 * X["rooms"] + rng.normal(0, 5000, rows)
    regressor = Ridge().fit(X, y)
    return {"X": X, "y": y, "regressor": regressor}


def reviews_namespace() -> dict[str, Any]:
    """A TF-IDF text classifier trained on a Series of texts."""
    good = ["great product", "loved it", "works great", "excellent value", "very happy"]
    bad = ["terrible", "broke after a day", "waste of money", "very bad", "awful support"]
    texts = pd.Series(good * 6 + bad * 6, name="review")
    labels = ["pos"] * 30 + ["neg"] * 30
    clf = Pipeline([("tfidf", TfidfVectorizer()), ("lr", LogisticRegression())])
    clf.fit(texts, labels)
    return {"X_train": texts, "y_train": labels, "clf": clf}


def monthly_sales(months: int = 72) -> pd.Series:
    """A monthly series with trend and yearly seasonality, on a DatetimeIndex (freq MS)."""
    rng = np.random.default_rng(11)
    t = np.arange(months)
    index = pd.date_range("2019-01-01", periods=months, freq="MS")
    values = 200 + 1.5 * t + 20 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 3, months)
    return pd.Series(values, index=index, name="sales")


def sarimax_namespace() -> dict[str, Any]:
    """`model = SARIMAX(y, ...)`, `results = model.fit()`: the results are the model."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    y = monthly_sales()
    model = SARIMAX(y, order=(1, 0, 0), seasonal_order=(0, 1, 1, 12), trend="c")
    results = model.fit(disp=False)
    return {"pd": pd, "y": y, "model": model, "results": results}


def sarimax_exog_namespace() -> dict[str, Any]:
    """SARIMAX with two exogenous columns (an int promotion flag, a float price)."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    y = monthly_sales()
    rng = np.random.default_rng(5)
    exog = pd.DataFrame(
        {"promo": rng.integers(0, 2, len(y)), "price": rng.normal(10, 1, len(y)).round(2)},
        index=y.index,
    )
    y = y + 15 * exog["promo"] - 4 * exog["price"]
    results = SARIMAX(y, exog=exog, order=(1, 0, 0)).fit(disp=False)
    return {"y": y, "exog": exog, "results": results}


def holt_winters_namespace() -> dict[str, Any]:
    """Holt-Winters exponential smoothing: point forecasts, no intervals."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = monthly_sales()
    model_fit = ExponentialSmoothing(y, trend="add", seasonal="add", seasonal_periods=12).fit()
    return {"y": y, "model_fit": model_fit}


HOSTILE_NOTEBOOK = '''\
import os
import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from nb2svc_runtime.train.capture import save_model
from tests.runtime.models import churn_namespace


class Escape(BaseException):
    """Not an Exception: `except Exception` does not catch it."""


RAISES = {666: SystemExit, 667: KeyboardInterrupt, 668: GeneratorExit, 669: Escape}
UNSERIALIZABLE = 670
STUCK = 671


class Hostile(ClassifierMixin, BaseEstimator):
    """The churn classifier, except that some tenures make it raise or answer garbage."""

    def __init__(self, inner=None):
        self.inner = inner

    def fit(self, X, y):
        self.classes_ = self.inner.classes_
        return self

    def __setstate__(self, state):
        if os.environ.get("HOSTILE_LOAD"):
            raise SystemExit("model code exited while loading")
        self.__dict__.update(state)

    def _check(self, X):
        for value in X["tenure"]:
            if int(value) in RAISES:
                raise RAISES[int(value)](f"model code raised for tenure {value}")

    def predict(self, X):
        self._check(X)
        if (X["tenure"] == STUCK).any():
            time.sleep(3600)  # as if stuck in C code
        if (X["tenure"] == UNSERIALIZABLE).any():
            return np.array([2**70] * len(X), dtype=object)  # past what JSON encoders take
        return self.inner.predict(X)

    def predict_proba(self, X):
        self._check(X)
        if (X["tenure"] == STUCK).any():
            time.sleep(3600)
        return self.inner.predict_proba(X)


namespace = churn_namespace()
model = Hostile(namespace["model"]).fit(namespace["X_train"], namespace["y"].iloc[:300])
save_model({**namespace, "model": model}, variable="model", name="churn", out_dir=OUT)
'''
"""A notebook whose model (a class defined in the notebook, stored by value) raises
SystemExit, KeyboardInterrupt, GeneratorExit or a bare BaseException for tenure 666-669
and predicts 2**70 (past the 64-bit integers the JSON encoder takes) for tenure 670, never
returns for tenure 671; with
HOSTILE_LOAD set, unpickling it raises SystemExit."""
HOSTILE_TENURES = {666: "SystemExit", 667: "KeyboardInterrupt", 668: "GeneratorExit"}
HOSTILE_TENURES[669] = "Escape"
UNSERIALIZABLE_TENURE = 670
STUCK_TENURE = 671


def save_hostile_model(out_dir: Path) -> Path:
    """Run HOSTILE_NOTEBOOK as a script (its classes live in `__main__`, as a notebook's do)."""
    repo = Path(__file__).resolve().parents[2]
    script = out_dir.parent / "hostile_train.py"
    script.write_text(HOSTILE_NOTEBOOK.replace("OUT", repr(str(out_dir))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo / "runtimes"), str(repo)])}
    subprocess.run([sys.executable, str(script)], check=True, env=env, capture_output=True)
    return out_dir
