"""The model server serves models trained with the oldest and the newest libraries it supports.

A notebook's pins are the model's libraries, so the server (runtimes/nb2svc_runtime)
runs with whatever versions the notebook asked for. For each end of the range (see the
comment atop nb2svc_runtime/requirements.txt) a real venv is made with uv from exact pins, a
churn model is trained and captured in it (range_model.py), `python -m nb2svc_runtime`
serves it from that venv, and every protocol must answer what the model predicts there.

The venvs are cached under ~/.cache/nb2svc/range-venvs/<hash of the pins>; `--exclude-newer`
fixes the packages the pins do not name, so a venv is the same whenever it is made.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from .server import REPO, RUNTIMES, ServerProcess
from .venvs import pinned_venv

RANGE_MODEL = Path(__file__).with_name("range_model.py")


@dataclass(frozen=True)
class Environment:
    name: str
    python: str
    pins: tuple[str, ...]

    def version(self, package: str) -> str:
        return next(p.partition("==")[2] for p in self.pins if Requirement(p).name == package)

    @property
    def id(self) -> str:
        short = {n: ".".join(self.version(n).split(".")[:2]) for n in ("pandas", "numpy")}
        sklearn = ".".join(self.version("scikit-learn").split(".")[:2])
        return (
            f"{self.name}-py{self.python}-pandas{short['pandas']}-numpy{short['numpy']}"
            f"-sklearn{sklearn}"
        )


OLDEST = Environment(
    "oldest",
    "3.9",  # the oldest Python of the images; these are its first wheels of each library
    (
        "numpy==1.19.3",
        "pandas==1.1.3",
        "scikit-learn==0.24.0",
        "scipy==1.5.4",
        "joblib==0.11",  # scikit-learn 0.24's own floor
        "starlette==0.40.0",
        "uvicorn[standard]==0.30.0",
        "orjson==3.10.0",
        "prometheus-client==0.20.0",
    ),
)
NEWEST = Environment(
    "newest",
    "3.13",
    (
        "numpy==2.5.5",
        "pandas==3.1.1",
        "scikit-learn==1.9.1",
        "scipy==1.18.1",
        "joblib==1.6.0",
        "starlette==1.10.0",
        "uvicorn[standard]==0.54.0",
        "orjson==3.13.0",
        "prometheus-client==0.26.0",
    ),
)
ENVIRONMENTS = (OLDEST, NEWEST)

# Rows a client sends: a missing number, a payment never seen in training, dates with and
# without a time of day.
PROBE: list[dict[str, Any]] = [
    {"tenure": 3, "monthly_charges": 70.5, "contract": "month", "payment": "card",
     "paperless": True, "signup": "2019-02-03"},
    {"tenure": 40, "monthly_charges": None, "contract": "two_year", "payment": "crypto",
     "paperless": False, "signup": "2022-11-30T08:15:00"},
    {"tenure": 12, "monthly_charges": 99.99, "contract": "one_year", "payment": "check",
     "paperless": True, "signup": "2020-06-15T23:59:59.250000"},
    {"tenure": 23, "monthly_charges": 20.0, "contract": "month", "payment": "transfer",
     "paperless": False, "signup": "2023-01-01T00:00:00"},
]  # fmt: skip


def range_venv(env: Environment) -> Path:
    """The python of a venv holding exactly `env.pins`, made once and then reused."""
    return pinned_venv(env.python, env.pins, what=f"installing {env.id}")


def train(python: Path, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """The captured model's folder and what the saved model predicts for PROBE in that venv."""
    model_dir, probe, expected = (
        workdir / "model",
        workdir / "probe.json",
        workdir / "expected.json",
    )
    probe.write_text(json.dumps(PROBE))
    argv = [str(python), str(RANGE_MODEL), str(model_dir), str(probe), str(expected)]
    env = {**os.environ, "PYTHONPATH": str(RUNTIMES)}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, f"training failed:\n{done.stderr[-3000:]}"
    return model_dir, json.loads(expected.read_text())


def v2_inputs(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """PROBE as Open Inference v2 tensors, one per input the model's metadata names."""
    return [
        {"name": t["name"], "datatype": t["datatype"], "shape": [len(PROBE)],
         "data": [row[t["name"]] for row in PROBE]}
        for t in metadata["inputs"]
    ]  # fmt: skip


def post(client: httpx.Client, path: str, body: dict[str, Any]) -> Any:
    response = client.post(path, json=body)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    return response.json()


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda env: env.id)
def test_server_serves_a_model_trained_with(env: Environment, tmp_path: Path) -> None:
    python = range_venv(env)
    model_dir, expected = train(python, tmp_path)
    assert expected["versions"] == {p: env.version(p) for p in ("pandas", "numpy")}
    predictions, probabilities = expected["predictions"], expected["probabilities"]
    server = ServerProcess(model_dir, tmp_path / "logs", python=str(python))
    try:
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            v1 = post(client, "/v1/models/churn:predict", {"instances": PROBE})
            assert v1 == {"predictions": predictions, "probabilities": probabilities}
            mlflow = post(client, "/invocations", {"dataframe_records": PROBE})
            assert mlflow == {"predictions": predictions}
            metadata = client.get("/v2/models/churn").json()
            v2 = post(client, "/v2/models/churn/infer", {"inputs": v2_inputs(metadata)})
            outputs = {o["name"]: o["data"] for o in v2["outputs"]}
            flat = [p for row in probabilities for p in row]
            assert outputs == {"predict": predictions, "predict_proba": flat}
    finally:
        server.stop()


def test_the_oldest_environment_pins_the_floors_of_the_servers_requirements() -> None:
    """nb2svc_runtime/requirements.txt promises no floor the oldest environment does not test,
    and the newest environment is inside its upper bounds."""
    text = (RUNTIMES / "nb2svc_runtime" / "requirements.txt").read_text()
    required = [Requirement(line) for line in text.splitlines() if line and line[0] != "#"]
    for requirement in required:
        floors = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        assert floors == [Version(OLDEST.version(requirement.name))], requirement
        assert requirement.specifier.contains(NEWEST.version(requirement.name)), requirement


def test_a_datetime_feature_is_built_in_the_unit_the_model_was_trained_on() -> None:
    """pandas 3 parses ISO strings into microseconds; a column trained in nanoseconds (pandas
    1.x, or `astype`) stays nanoseconds, or a model using the dates as numbers is off 1000x."""
    from nb2svc_runtime.artifact.format import Feature
    from nb2svc_runtime.serve.adapters import column_builder

    values = ["2019-02-03", "2022-11-30T08:15:00.250000", None]
    for unit in ("ns", "us", "s"):
        column = column_builder(Feature("signup", "datetime", f"datetime64[{unit}]", True))(values)
        assert str(column.dtype) == f"datetime64[{unit}]"
    column = column_builder(Feature("signup", "datetime", "datetime64[ns]", True))(values)
    assert [str(v) for v in column] == ["2019-02-03 00:00:00", "2022-11-30 08:15:00.250000", "NaT"]
