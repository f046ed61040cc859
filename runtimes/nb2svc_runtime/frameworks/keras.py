"""Keras models (Keras 3, any backend; `tf.keras` in TensorFlow 2.16+ is Keras 3; and
Keras 2.12+ on TensorFlow, for notebooks written for Keras 2).

A Keras model has predict(), but the built-in one prints a progress bar per call and
carries per-call overhead meant for large datasets: capture and the server call the
model directly (`model(x, training=False)`) on float32 features. It is saved in Keras's
own format (`model.keras`), which needs the model's layer classes to be Keras's own or
registered (`@keras.saving.register_keras_serializable`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

KERAS = "keras"


def is_keras_model(value: Any) -> bool:
    return any(
        k.__module__.split(".")[0] == "keras" and k.__name__ == "Model" for k in type(value).__mro__
    )


def backend_module(model: Any) -> str:
    """The backend's top-level module (tensorflow, torch or jax): the model needs it to load."""
    import keras

    return {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}.get(
        keras.backend.backend(), "tensorflow"
    )


def call(model: Any, data: Any) -> Any:
    """The model's outputs for 2-D float features, as a numpy array ((n, 1) -> (n,))."""
    import keras
    import numpy as np

    outputs = model(np.asarray(data, dtype="float32"), training=False)
    ops = getattr(keras, "ops", None)  # Keras 3; a Keras 2 output is a TensorFlow tensor
    array = ops.convert_to_numpy(outputs) if ops is not None else np.asarray(outputs)
    return array[:, 0] if array.ndim == 2 and array.shape[1] == 1 else array


def save(model: Any, path: Path) -> None:
    model.save(str(path))


def load(path: Path) -> Any:
    import keras

    saving = getattr(keras, "saving", None)  # Keras 3 and 2.13+; keras.models in 2.12
    loader = getattr(saving, "load_model", None) or keras.models.load_model
    return loader(str(path), compile=False)
