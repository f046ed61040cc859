"""Reading and writing the serialized model file. Standard library plus lazy joblib/cloudpickle.

Loading a pickle runs code: only ever load the artifact produced by the build, never
bytes that arrived over the network.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

FORMATS = {
    "joblib": "model.joblib",
    "pickle": "model.pkl",
    "cloudpickle": "model.pkl",
    "torchscript": "model.pt",  # frameworks/torch.py: no pickle, no notebook classes needed
    "keras": "model.keras",  # frameworks/keras.py: Keras's own format
}


class SerializationError(Exception):
    """The model file is missing, unreadable or needs a library that is not installed."""


def load_model_file(path: Path, fmt: str) -> Any:
    """Load a model written by capture (trusted artifact only)."""
    if fmt not in FORMATS:
        raise SerializationError(f"unknown serialization format {fmt!r} in signature.json")
    if not path.is_file():
        raise SerializationError(f"model file {path} does not exist")
    try:
        if fmt == "joblib":
            import joblib

            return joblib.load(path)
        if fmt == "torchscript":
            from ..frameworks.torch import load

            return load(path)
        if fmt == "keras":
            from ..frameworks.keras import load as load_keras

            return load_keras(path)
        with path.open("rb") as handle:
            return pickle.load(handle)
    except ModuleNotFoundError as exc:
        raise SerializationError(
            f"loading {path.name} needs the module {exc.name!r}, which is not installed; "
            "install the artifact's requirements.txt"
        ) from exc


def write_model_file(model: Any, path: Path, fmt: str, stream: bytes | None = None) -> None:
    """Write the model; `stream` is an already serialized pickle (cloudpickle)."""
    if stream is not None:
        path.write_bytes(stream)
    elif fmt == "joblib":
        import joblib

        joblib.dump(model, path)
    else:
        with path.open("wb") as handle:
            pickle.dump(model, handle, protocol=5)
