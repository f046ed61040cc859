"""The compile stage (nb2svc_runtime.compiled; docs/architecture.md, "Compiled inference"):
capture leaves the rows to prove on, the stage compiles and proves, or keeps the native
model and says why; the serving venv it asks for lacks what the compiled model replaces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from nb2svc_runtime.artifact.inference import read_inference
from nb2svc_runtime.compiled.stage import Refused, decide, main, serve_requirements
from nb2svc_runtime.train.capture import save_model

from .conftest import capture_with_check_rows, compiled_server_env
from .server import ServerProcess

RUNTIME_REQUIREMENTS = "starlette>=0.40\norjson>=3.10\nnumpy>=1.19.3,<3\npandas>=1.1.3,<4\n"


def test_capture_writes_the_held_out_rows_first_then_the_training_rows(
    churn: dict[str, Any], tmp_path: Path
) -> None:
    model_dir, rows = capture_with_check_rows(churn, tmp_path)
    held_out, train = churn["X_test"], churn["X_train"]
    assert len(rows) == len(held_out) + len(train)  # 100 + 300: all of them, under 500 each
    assert [r["tenure"] for r in rows[: len(held_out)]] == held_out["tenure"].tolist()
    assert rows[5 + len(held_out)]["monthly_charges"] is None  # NaN as JSON null
    assert not (model_dir / "check-rows.json").exists(), "the rows are never served"


def test_without_the_variable_capture_writes_no_rows(churn: dict[str, Any], tmp_path: Path) -> None:
    save_model(churn, variable=None, name="m", out_dir=tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_the_churn_pipeline_compiles_and_is_proven_on_every_row(churn_compiled_dir: Path) -> None:
    decision = read_inference(churn_compiled_dir)
    assert decision.backend == "onnxruntime"
    assert decision.requested == "compiled"
    assert decision.checked_rows == 400
    assert decision.max_abs_diff is not None
    assert decision.tolerance is not None
    assert decision.max_abs_diff <= decision.tolerance
    assert decision.fallback_reason is None
    assert (churn_compiled_dir / "model.onnx").is_file()
    assert decision.timing_ms["compiled_row_ms"] < decision.timing_ms["native_row_ms"]


def test_a_model_without_a_converter_stays_native_and_says_why(
    reviews: dict[str, Any], tmp_path: Path
) -> None:
    model_dir, rows = capture_with_check_rows(reviews, tmp_path)
    decision = decide(model_dir, rows, "auto", tools=None)
    assert decision.backend == "native"
    assert "series input" in (decision.fallback_reason or "")
    assert not (model_dir / "model.onnx").exists()
    with pytest.raises(Refused, match="series input"):
        decide(model_dir, rows, "compiled", tools=None)


def test_no_rows_to_prove_on_means_native(churn_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(churn_dir, model_dir)
    decision = decide(model_dir, [], "auto", tools=None)
    assert decision.backend == "native"
    assert "no rows" in (decision.fallback_reason or "")


def test_the_compiled_venv_keeps_the_server_drops_pandas_and_adds_onnxruntime(
    churn_compiled_dir: Path,
) -> None:
    decision = read_inference(churn_compiled_dir)
    text = serve_requirements(decision, "scikit-learn==1.9.1\n", RUNTIME_REQUIREMENTS)
    names = [line.split("=")[0].split(">")[0] for line in text.splitlines()]
    assert names == ["starlette", "orjson", "numpy", "onnxruntime", "protobuf", "flatbuffers"]
    for name in ("onnxruntime", "protobuf", "flatbuffers"):  # as the proof ran them
        assert f"{name}=={decision.versions[name]}" in text


def test_the_native_venv_is_the_models_libraries_and_the_whole_server(churn_dir: Path) -> None:
    decision = read_inference(churn_dir)  # no inference.json: native
    text = serve_requirements(decision, "scikit-learn==1.9.1\n", RUNTIME_REQUIREMENTS)
    assert text == "scikit-learn==1.9.1\n" + RUNTIME_REQUIREMENTS


def test_compiled_mode_fails_the_stage_with_the_reason_and_writes_nothing(
    reviews: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir, _ = capture_with_check_rows(reviews, tmp_path)
    runtime_reqs = tmp_path / "runtime-requirements.txt"
    runtime_reqs.write_text(RUNTIME_REQUIREMENTS)
    argv = ["--model-dir", str(model_dir), "--check-rows", str(tmp_path / "check-rows.json")]
    argv += ["--mode", "compiled", "--runtime-requirements", str(runtime_reqs)]
    argv += ["--serve-requirements", str(tmp_path / "serve.txt")]
    assert main(argv) == 1
    assert "--inference compiled: no compiled backend" in capsys.readouterr().err
    assert not (tmp_path / "serve.txt").exists()
    assert not (model_dir / "inference.json").exists()


def test_the_compiled_model_serves_the_native_answers_without_pandas_or_sklearn(
    churn_compiled_dir: Path, churn_dir: Path, tmp_path: Path
) -> None:
    rows = json.loads((churn_compiled_dir / "sample.json").read_text())["inputs"]
    body = {"instances": rows}
    answers = []
    for model_dir, env in ((churn_dir, {}), (churn_compiled_dir, compiled_server_env())):
        with ServerProcess(model_dir, tmp_path / model_dir.parent.name, **env) as server:
            answer = httpx.post(f"{server.url}/v1/models/churn:predict", json=body, timeout=30)
            assert answer.status_code == 200, answer.text
            answers.append(answer.json())
    native, compiled = answers
    assert compiled["predictions"] == native["predictions"]
