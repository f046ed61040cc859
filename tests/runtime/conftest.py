"""Fixtures: real models captured with save_model, real servers started as subprocesses.

The contract tests only need `server_url` and `artifact_dir`; `server_url` is parametrized
over every runtime (default, bentoml) and the compiled model (served by the default
runtime without pandas or scikit-learn), so each contract test runs against all three. Set
NB2SVC_SERVER_URL (and NB2SVC_ARTIFACT_DIR, a copy of the image's /opt/nb2svc/model) to run
them against a built image instead of local servers.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .models import (
    churn_namespace,
    holt_winters_namespace,
    price_namespace,
    reviews_namespace,
    sarimax_exog_namespace,
    sarimax_namespace,
)
from .server import RUNTIME_NAMES, RUNTIMES, ServerProcess

if str(RUNTIMES) not in sys.path:
    sys.path.insert(0, str(RUNTIMES))

from nb2svc_runtime.train.capture import save_model


def model_fixtures(name: str, make: Callable[[], dict[str, Any]]) -> tuple[object, object]:
    """Two session fixtures: `NAME`, the notebook's globals after training it (`make`), and
    `NAME_dir`, those globals saved with save_model as the model NAME."""

    @pytest.fixture(scope="session", name=name)
    def namespace() -> dict[str, Any]:
        return make()

    @pytest.fixture(scope="session", name=f"{name}_dir")
    def model_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
        out = tmp_path_factory.mktemp(name) / "model"
        save_model(request.getfixturevalue(name), variable=None, name=name, out_dir=out)
        return out

    return namespace, model_dir


churn, churn_dir = model_fixtures("churn", churn_namespace)
price, price_dir = model_fixtures("price", price_namespace)
reviews, reviews_dir = model_fixtures("reviews", reviews_namespace)


FORECASTERS = {
    "sarimax": sarimax_namespace,
    "sarimax-exog": sarimax_exog_namespace,
    "holt-winters": holt_winters_namespace,
}


@pytest.fixture(scope="session")
def forecasters() -> dict[str, dict[str, Any]]:
    """The notebooks' globals after fitting each forecaster (statsmodels)."""
    pytest.importorskip("statsmodels", reason="forecasting models need statsmodels")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' notes on starting parameters
        return {name: make() for name, make in FORECASTERS.items()}


@pytest.fixture(scope="session")
def forecaster_dirs(
    forecasters: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Each forecaster saved with save_model (name = its key)."""
    dirs = {}
    for name, namespace in forecasters.items():
        dirs[name] = tmp_path_factory.mktemp(name) / "model"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            save_model(namespace, variable=None, name=name, out_dir=dirs[name])
    return dirs


@pytest.fixture(scope="session")
def artifact_dir(churn_dir: Path) -> Path:
    external = os.environ.get("NB2SVC_ARTIFACT_DIR")
    return Path(external) if external else churn_dir


def require_runtime(runtime: str) -> None:
    """Skip when the runtime's own packages are not installed on this host."""
    if runtime == "bentoml":
        pytest.importorskip("bentoml", reason="the bentoml runtime needs `bentoml` installed")


# What serves in the contract tests: each runtime, and the default runtime serving the
# compiled model without the libraries it replaces (COMPILED_WITHOUT cannot be imported).
SERVED = (*RUNTIME_NAMES, "compiled")
COMPILED_WITHOUT = "pandas,sklearn,scipy,joblib"
LEAN_SITE = Path(__file__).resolve().parent / "lean_site"


def capture_with_check_rows(namespace: dict[str, Any], out: Path) -> tuple[Path, list[Any]]:
    """save_model as the train stage of a compiling build runs it: the artifact in
    out/model, and the rows to prove a compiled model on (NB2SVC_CHECK_ROWS) beside it."""
    from nb2svc_runtime.contract import CHECK_ROWS_ENV

    rows_file = out / "check-rows.json"
    os.environ[CHECK_ROWS_ENV] = str(rows_file)
    try:
        save_model(namespace, variable=None, name="churn", out_dir=out / "model")
    finally:
        del os.environ[CHECK_ROWS_ENV]
    return out / "model", json.loads(rows_file.read_text())["rows"]


@pytest.fixture(scope="session")
def churn_compiled_dir(churn: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The churn model as the build's compile stage leaves it: captured with its check rows,
    compiled and proven (`--inference compiled`), inference.json beside the artifact."""
    from nb2svc_runtime.artifact.inference import write_inference
    from nb2svc_runtime.compiled.stage import decide

    model_dir, rows = capture_with_check_rows(churn, tmp_path_factory.mktemp("churn-compiled"))
    write_inference(model_dir, decide(model_dir, rows, "compiled", tools=None))
    return model_dir


def compiled_server_env() -> dict[str, str]:
    """A server's environment in which the compiled model's venv lacks what it replaces."""
    return {"PYTHONPATH": f"{LEAN_SITE}:{RUNTIMES}", "NB2SVC_TEST_FORBID": COMPILED_WITHOUT}


@pytest.fixture(scope="session", params=SERVED)
def served(request: pytest.FixtureRequest) -> str:
    """What `server_url` serves: a runtime, or "compiled" (see SERVED)."""
    name = str(request.param)
    require_runtime(name)
    return name


@pytest.fixture(scope="session", params=RUNTIME_NAMES)
def runtime(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    require_runtime(name)
    return name


@pytest.fixture(scope="session")
def server_url(
    served: str,
    artifact_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[str]:
    """Base URL of a two-worker server for the churn model (or NB2SVC_SERVER_URL)."""
    runtime = served
    external = os.environ.get("NB2SVC_SERVER_URL")
    if external:
        if runtime != RUNTIME_NAMES[0]:
            pytest.skip("NB2SVC_SERVER_URL names one server; it runs once")
        yield external.rstrip("/")
        return
    log_dir = tmp_path_factory.mktemp(f"churn-{runtime}")
    if runtime == "compiled":
        if os.environ.get("NB2SVC_ARTIFACT_DIR"):
            pytest.skip("NB2SVC_ARTIFACT_DIR names one artifact; it runs once")
        model_dir = request.getfixturevalue("churn_compiled_dir")
        env = compiled_server_env()
        with ServerProcess(model_dir, log_dir, runtime="default", WORKERS="2", **env) as server:
            yield server.url
        return
    with ServerProcess(artifact_dir, log_dir, runtime=runtime, WORKERS="2") as server:
        yield server.url


@pytest.fixture(scope="session")
def signature(artifact_dir: Path) -> dict[str, Any]:
    return json.loads((artifact_dir / "signature.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def sample(artifact_dir: Path) -> dict[str, Any]:
    return json.loads((artifact_dir / "sample.json").read_text())  # type: ignore[no-any-return]
