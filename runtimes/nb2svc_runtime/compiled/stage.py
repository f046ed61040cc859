"""The build's compile stage (docs/architecture.md, "Compiled inference"): convert the
notebook's model, prove the compiled form answers the notebook's rows as the native model
does through the server's own request path, and write the decision (inference.json) and
the serving venv's requirements.

`python -m nb2svc_runtime.compiled --model-dir DIR --check-rows FILE --mode auto|compiled
 --runtime-requirements FILE --serve-requirements OUT [--tools DIR --tools-requirements FILE
 --constraints LOCK]`

Runs in the train stage's venv (the notebook's own libraries) with the converter's pinned
tools installed beside it (requirements-compile.txt). With `auto`, anything that stops a
compiled model (no converter for the model, an install that fails, a mismatch, no rows to
prove it on, slower than native) keeps the native model and says why; with `compiled` the
same reason fails the build.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from ..artifact.format import load_artifact, read_metadata
from ..artifact.inference import NATIVE, ONNXRUNTIME, Inference, write_inference
from .onnx_model import ONNX_FILE

# The converter's pinned tools; the build passes its copy (--tools-requirements).
COMPILE_REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements-compile.txt"
# Requirements of the server that only the native (DataFrame) request path imports.
DATAFRAME_ONLY = ("pandas",)
# The frameworks a converter exists for (compiled/convert.py); others stay native at once.
CONVERTIBLE = ("sklearn", "xgboost", "lightgbm", "catboost")
TIMED_ROWS = 20
# What the serving venv installs at the versions the proof ran with: onnxruntime and those of
# its dependencies a notebook's lock seldom pins (numpy and packaging come from the lock).
SERVED = ("onnxruntime", "protobuf", "flatbuffers")


class Refused(Exception):
    """Why the compiled model does not serve; one line a user can act on."""


def _requirement_name(line: str) -> str | None:
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    for stop in "=<>!~[; ":
        text = text.split(stop, 1)[0]
    return text.lower().replace("_", "-")


def serve_requirements(
    decision: Inference, model_requirements: str, runtime_requirements: str
) -> str:
    """What the serving venv installs: the model's libraries and the whole server when the
    native model serves; the server without its DataFrame-only libraries and onnxruntime
    when the compiled one does."""
    if not decision.compiled:
        return model_requirements.rstrip("\n") + "\n" + runtime_requirements
    kept = [
        line
        for line in runtime_requirements.splitlines()
        if _requirement_name(line) not in DATAFRAME_ONLY
    ]
    pins = [f"{name}=={decision.versions[name]}" for name in SERVED if name in decision.versions]
    return "\n".join([*kept, *pins]) + "\n"


@dataclass(frozen=True)
class Tools:
    """Where the converter's tools go, what they are, and the lock they must agree with."""

    target: Path
    requirements: Path = COMPILE_REQUIREMENTS
    constraints: Path | None = None


def install_tools(tools: Tools) -> None:
    """The converter's pinned tools into `tools.target` (never the notebook's venv), at the
    versions of the notebook's lock where they share a dependency."""
    command = ["uv", "pip", "install", "--quiet", "--target", str(tools.target)]
    command += ["--python", sys.executable, "-r", str(tools.requirements)]
    if tools.constraints is not None and tools.constraints.exists():
        command += ["-c", str(tools.constraints)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = [line for line in done.stderr.splitlines() if line.strip()][-3:]
        raise Refused(
            "the converter's tools do not install beside the notebook's "
            "libraries: " + " ".join(last)[:400]
        )
    sys.path.append(str(tools.target))


def _versions() -> dict[str, str]:
    """The converter's and the runtime's versions the proof ran with."""
    found = {}
    for name in (*SERVED, "skl2onnx", "onnx", "onnxmltools"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _per_row_ms(
    predict: Callable[[dict[str, list[Any]]], Any], columns: dict[str, list[Any]]
) -> float:
    """Median milliseconds of one single-row predict over the first TIMED_ROWS rows."""
    count = min(TIMED_ROWS, len(next(iter(columns.values()), [])))
    times = []
    for i in range(count):
        row = {name: values[i : i + 1] for name, values in columns.items()}
        start = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - start)
    times.sort()
    return round(times[len(times) // 2] * 1000, 4) if times else 0.0


def compile_and_prove(model_dir: Path, rows: Sequence[Any], tools: Tools | None) -> Inference:
    """The compiled decision for the artifact in `model_dir`; `Refused` with the reason."""
    signature, _ = read_metadata(model_dir)
    if signature.framework not in CONVERTIBLE or signature.input_kind not in ("dataframe", "array"):
        raise Refused(
            f"no compiled backend for a {signature.framework} model with "
            f"{signature.input_kind} input yet (compiled: scikit-learn estimators "
            "and pipelines, XGBoost, LightGBM and CatBoost models on tabular input)"
        )
    if not rows:
        raise Refused(
            "no rows of the notebook's data with the model's columns to prove a compiled model on"
        )
    if tools is not None:
        install_tools(tools)
    from ..serve.adapters import make_adapter
    from ..serve.errors import ApiError
    from ..serve.schema import Validator
    from ..serve.threads import pin_threads
    from .convert import Unsupported, compile_model, prove
    from .onnx_model import OnnxModel

    model = load_artifact(model_dir).model
    try:
        columns = Validator(signature, len(rows)).columns(rows)
    except ApiError as exc:
        raise Refused(f"the notebook's rows do not pass the server's checks: {exc}") from None
    try:
        compiled = compile_model(model, signature)
    except Unsupported as exc:
        raise Refused(str(exc)) from None
    path = model_dir / ONNX_FILE
    path.write_bytes(compiled.onnx_bytes)
    try:
        onnx_model = OnnxModel(path, signature, compiled.feeds)
        pin_threads(model)  # the native model as the server would serve it (serve/threads.py)
        native = make_adapter(model, signature)
        proof = prove(native, onnx_model, columns)
        if not proof.passed:
            raise Refused(_mismatch(proof, compiled.tolerance))
        timing = {
            "native_row_ms": _per_row_ms(
                lambda c: native.predict_both(native.make_input(c), True), columns
            ),
            "compiled_row_ms": _per_row_ms(
                lambda c: onnx_model.predict_both(onnx_model.make_input(c), True), columns
            ),
        }
        if timing["compiled_row_ms"] >= timing["native_row_ms"]:
            raise Refused(
                f"the compiled model is not faster here ({timing['compiled_row_ms']} ms "
                f"a row against {timing['native_row_ms']} ms native)"
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Inference(
        backend=ONNXRUNTIME,
        file=ONNX_FILE,
        feeds=dict(compiled.feeds),
        tolerance=compiled.tolerance,
        checked_rows=proof.checked_rows,
        max_abs_diff=proof.max_abs_diff,
        timing_ms=timing,
        versions=_versions(),
    )


def _mismatch(proof: Any, tolerance: float) -> str:
    what = (
        f"{proof.label_mismatches} of {proof.checked_rows} labels differ"
        if proof.label_mismatches
        else f"outputs differ by up to {proof.max_abs_diff:.3g} (tolerance {tolerance:g})"
    )
    first = f"; first: {proof.first_mismatch}" if proof.first_mismatch else ""
    return f"the compiled model does not answer as the notebook's: {what}{first}"


def decide(model_dir: Path, rows: Sequence[Any], mode: str, tools: Tools | None) -> Inference:
    """`auto`: compiled when proven, else native with the reason. `compiled`: Refused."""
    try:
        return replace(compile_and_prove(model_dir, rows, tools), requested=mode)
    except Refused as exc:
        refused = exc
    except Exception as exc:  # a converter's or runtime's own failure: the reason, logged
        traceback.print_exc()
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        refused = Refused(f"compiling failed: {type(exc).__name__}: {detail}")
        refused.__cause__ = exc
    if mode == "compiled":
        raise refused
    return Inference(backend=NATIVE, requested=mode, fallback_reason=str(refused))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nb2svc_runtime.compiled")
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--check-rows", type=Path, required=True)
    parser.add_argument("--mode", choices=("auto", "compiled"), default="auto")
    parser.add_argument("--tools", type=Path, help="install the converter's tools here")
    parser.add_argument("--tools-requirements", type=Path, default=COMPILE_REQUIREMENTS)
    parser.add_argument("--constraints", type=Path)
    parser.add_argument("--runtime-requirements", type=Path, required=True)
    parser.add_argument("--serve-requirements", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = (
        json.loads(args.check_rows.read_text()).get("rows", []) if args.check_rows.exists() else []
    )
    try:
        tools = Tools(args.tools, args.tools_requirements, args.constraints) if args.tools else None
        decision = decide(args.model_dir, rows, args.mode, tools)
    except Refused as exc:
        print(f"nb2svc: --inference compiled: {exc}", file=sys.stderr)
        return 1
    write_inference(args.model_dir, decision)
    model_requirements = (args.model_dir / "requirements.txt").read_text()
    args.serve_requirements.write_text(
        serve_requirements(decision, model_requirements, args.runtime_requirements.read_text())
    )
    shown = decision.fallback_reason or f"proven on {decision.checked_rows} rows"
    print(f"nb2svc: inference backend {decision.backend}: {shown}", flush=True)
    return 0
