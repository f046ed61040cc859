"""Train side: `save_model(globals(), ...)` writes the model artifact (see ARTIFACT.md).

Called at the end of the generated train.py. Runs in the training environment, so only
the standard library is imported eagerly.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifact.serialization import FORMATS, SerializationError, load_model_file, write_model_file
from ..artifact.signature import KEEP_FILE, REQUIREMENTS_FILE, SAMPLE_FILE, SIGNATURE_FILE
from ..frameworks.forecast import fitted_results_of, is_forecaster, is_unfitted_statsmodels
from ..frameworks.keras import KERAS, backend_module, is_keras_model
from ..frameworks.keras import save as save_keras
from ..frameworks.torch import TORCHSCRIPT, is_torch_module
from ..frameworks.torch import save as save_torchscript
from ..prune import kept_folders
from .check_rows import write_check_rows
from .deps import (
    distributions_for,
    installed_version,
    packages_distributions_compat,
    pickle_globals,
    pickle_strings,
    requirements_text,
)
from .describe import derive_inputs, describe, predict_outputs
from .forecast_capture import describe_forecaster
from .introspect import CaptureError, Inputs, find_model, has_predict

_CORE_LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy", "joblib", "cloudpickle")


@dataclass
class Serialization:
    fmt: str
    modules: set[str]
    stream: bytes | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def file(self) -> str:
        return FORMATS[self.fmt]


def _joblib_available() -> bool:
    try:
        import joblib  # noqa: F401
    except ImportError:
        return False
    return True


def _by_value(model: Any, variable: str, reason: str) -> Serialization:
    try:
        import cloudpickle
    except ImportError:
        raise CaptureError(
            f"model {variable!r} {reason}, which the server cannot import; move that code "
            "into a .py module next to the notebook, or install cloudpickle to store it by value"
        ) from None
    try:
        stream = cloudpickle.dumps(model, protocol=5)
    except Exception as exc:
        raise CaptureError(f"model {variable!r} cannot be serialized: {exc}") from exc
    installed = set(packages_distributions_compat())
    modules = {m for m, _ in pickle_globals(stream)} | (pickle_strings(stream) & installed)
    modules.add("cloudpickle")
    warning = f"model {reason}; stored by value with cloudpickle"
    return Serialization("cloudpickle", modules, stream, [warning])


def plan_serialization(model: Any, variable: str) -> Serialization:
    """Pick the format: joblib (or pickle) by reference, cloudpickle by value for notebook code,
    TorchScript for a PyTorch module."""
    if is_torch_module(model):
        return Serialization(TORCHSCRIPT, {"torch"})
    if is_keras_model(model):
        return Serialization(KERAS, {"keras", backend_module(model)})
    try:
        stream = pickle.dumps(model, protocol=5, buffer_callback=lambda _buffer: None)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        return _by_value(model, variable, f"cannot be pickled by reference ({exc})")
    refs = pickle_globals(stream)
    in_main = sorted({qualname for module, qualname in refs if module == "__main__"})
    if in_main:
        return _by_value(model, variable, f"uses {', '.join(in_main)} defined in the notebook")
    modules = {module for module, _ in refs}
    if _joblib_available():
        return Serialization("joblib", modules | {"joblib"})
    return Serialization("pickle", modules)


def _in_tests(module: str) -> bool:
    """A module inside a package's tests/ folder, which the serving venv would prune."""
    return bool(kept_folders([module]))


def _library_versions(pins: dict[str, str]) -> dict[str, str]:
    versions = dict(pins)
    for dist in _CORE_LIBRARIES:
        version = installed_version(dist)
        if version is not None:
            versions.setdefault(dist, version)
    return dict(sorted(versions.items()))


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _swap_into_place(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        tmp.rename(out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    try:
        out_dir.rename(old)
    except OSError:  # a mount point or a busy directory: replace file by file
        for item in tmp.iterdir():
            item.replace(out_dir / item.name)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    tmp.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def write_artifact(out_dir: Path, documents: dict[str, Any], write: Callable[[Path], None]) -> None:
    """Write everything into a sibling temporary directory, then move it into place."""
    out_dir = out_dir.absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name, document in documents.items():
            if isinstance(document, str):
                (tmp / name).write_text(document, encoding="utf-8")
            else:
                _write_json(tmp / name, document)
        write(tmp)
        for item in tmp.iterdir():
            item.chmod(0o664)
        tmp.chmod(0o775)
        _swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_roundtrip(
    directory: Path, plan: Serialization, predict: Callable[[Any], Any], expected: Any
) -> None:
    import numpy as np

    try:
        loaded = load_model_file(directory / plan.file, plan.fmt)
    except SerializationError as exc:
        raise CaptureError(f"the saved model cannot be loaded back: {exc}") from exc
    got = predict(loaded)
    if isinstance(expected, list):  # forecasts: JSON documents, equal to the last bit
        same = got == expected
    else:
        got, expected = np.asarray(got), np.asarray(expected)
        same = (
            np.allclose(got, expected, rtol=1e-5, atol=1e-6)  # saved vs live float kernels
            if plan.fmt in (TORCHSCRIPT, KERAS)
            else np.array_equal(got, expected)
        )
    if not same:
        raise CaptureError("the saved model predicts differently after loading it back")


def _describe(
    model: Any, variable: str, name: str, namespace: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], Any, Callable[[Any], Any], Inputs | None]:
    """Signature, sample, the sample's model input, the function predicting it, and the
    inputs found (None for a forecaster)."""
    if is_forecaster(model):
        try:
            signature, sample, forecast = describe_forecaster(model, variable, name)
        except CaptureError:
            raise
        except Exception as exc:
            message = f"forecasting with {variable} failed"
            raise CaptureError(f"{message}: {type(exc).__name__}: {exc}") from exc
        return signature, sample, None, forecast, None
    inputs = derive_inputs(model, namespace)
    try:
        signature, sample = describe(model, variable, name, inputs)
    except CaptureError:
        raise
    except Exception as exc:
        message = f"{variable}.predict() failed on a sample of the training data"
        raise CaptureError(f"{message}: {type(exc).__name__}: {exc}") from exc
    return (
        signature,
        sample,
        inputs.sample,
        lambda m: predict_outputs(m, inputs.sample, "regression")[0],
        inputs,
    )


def _capture(
    namespace: dict[str, Any],
    variable: str | None,
    name: str,
    out_dir: Path,
    fitted: Mapping[str, tuple[Any, str]],
) -> None:
    namespace, rebound = _as_fitted(namespace, variable, fitted)
    namespace, respecified = _as_results(namespace, variable)
    variable, model = find_model(namespace, variable)
    signature, sample, model_input, predict, inputs = _describe(model, variable, name, namespace)
    plan = plan_serialization(model, variable)
    pins = distributions_for(plan.modules)
    signature["serialization"] = {"format": plan.fmt, "file": plan.file}
    signature["libraries"] = _library_versions(pins)
    signature["warnings"] = [*signature["warnings"], *rebound, *respecified, *plan.warnings]
    expected = predict(model)

    def write(directory: Path) -> None:
        if plan.fmt == TORCHSCRIPT:
            save_torchscript(model, model_input, directory / plan.file)
        elif plan.fmt == KERAS:
            save_keras(model, directory / plan.file)
        else:
            write_model_file(model, directory / plan.file, plan.fmt, plan.stream)
        _check_roundtrip(directory, plan, predict, expected)

    documents = {
        SIGNATURE_FILE: signature,
        SAMPLE_FILE: sample,
        REQUIREMENTS_FILE: requirements_text(pins),
        KEEP_FILE: "".join(f"{m}\n" for m in sorted(plan.modules) if _in_tests(m)),
    }
    write_artifact(out_dir, documents, write)
    write_check_rows(namespace, inputs)


def _as_fitted(
    namespace: dict[str, Any], variable: str | None, fitted: Mapping[str, tuple[Any, str]]
) -> tuple[dict[str, Any], list[str]]:
    """The namespace with `variable` back on the fitted model it held, when the notebook
    re-bound the name after the fit (`rf = ...fit()`, later `rf = df.plot()`)."""
    if variable is None or variable not in fitted or has_predict(namespace.get(variable)):
        return namespace, []
    model, where = fitted[variable]
    now = type(namespace.get(variable)).__name__
    note = (
        f"`{variable}` was re-bound after its fit (it ends as a {now}); saved the fitted "
        f"{type(model).__name__} it held {where}"
    )
    return {**namespace, variable: model}, [note]


def _as_results(
    namespace: dict[str, Any], variable: str | None
) -> tuple[dict[str, Any], list[str]]:
    """statsmodels specifications (`mod = SARIMAX(y, ...)`) are not models: their fitted
    results (`res = mod.fit()`) are. Without a variable the specifications are left out of
    the search; a variable naming one is pointed at the results of its fit."""
    if variable is None:
        return {k: v for k, v in namespace.items() if not is_unfitted_statsmodels(v)}, []
    spec = namespace.get(variable)
    if not is_unfitted_statsmodels(spec):
        return namespace, []
    found = fitted_results_of(namespace, spec)
    if found is None:
        kind = type(spec).__name__
        raise CaptureError(
            f"model variable {variable!r} is a statsmodels {kind} that was never fitted; "
            f"serve the results of its fit (`results = {variable}.fit()`)"
        )
    results, value = found
    note = f"`{variable}` is a statsmodels {type(spec).__name__}; saved `{results}`, its fit"
    return {**namespace, variable: value}, [note]


def save_model(
    namespace: dict[str, Any],
    *,
    variable: str | None,
    name: str,
    out_dir: str | Path,
    fitted: Mapping[str, tuple[Any, str]] | None = None,
) -> None:
    """Capture the notebook's model into `out_dir`. `fitted` holds the fitted models the
    globals held when each cell started (train/support.py), for a name re-bound later.

    Problems raise SystemExit with a one-line message starting with `nb2svc:`.
    """
    try:
        _capture(namespace, variable, name, Path(out_dir), fitted or {})
    except CaptureError as exc:
        raise SystemExit(f"nb2svc: {exc}") from None
