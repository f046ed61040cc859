"""Load and check a model artifact directory (format in ARTIFACT.md): the server reads it;
its Feature and Signature types also describe forecasters (frameworks/forecast.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .serialization import FORMATS, SerializationError, load_model_file
from .signature import INPUT_KINDS, LOGICAL_DTYPES, SAMPLE_FILE, SIGNATURE_FILE


class ArtifactError(Exception):
    """The artifact directory is incomplete or inconsistent."""


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str
    pandas_dtype: str
    nullable: bool
    categories: tuple[Any, ...] | None = None

    @property
    def closed(self) -> bool:
        """Values outside `categories` are invalid (a pandas categorical column)."""
        return self.pandas_dtype == "category" and self.categories is not None


@dataclass(frozen=True)
class Signature:
    name: str
    framework: str
    cls: str
    task: str
    input_kind: str
    inputs: tuple[Feature, ...]
    classes: tuple[Any, ...] | None
    outputs: tuple[dict[str, Any], ...]
    serialization_format: str
    serialization_file: str
    quantiles: tuple[float, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.inputs]

    @property
    def has_proba(self) -> bool:
        return any(o.get("name") == "probabilities" for o in self.outputs)


def _feature(raw: Any) -> Feature:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ArtifactError(f"signature.json: bad input entry {raw!r}")
    dtype = str(raw.get("dtype", "float64"))
    if dtype not in LOGICAL_DTYPES:
        raise ArtifactError(f"signature.json: input {raw['name']!r} has unknown dtype {dtype!r}")
    categories = raw.get("categories")
    return Feature(
        name=raw["name"],
        dtype=dtype,
        pandas_dtype=str(raw.get("pandas_dtype", dtype)),
        nullable=bool(raw.get("nullable", False)),
        categories=tuple(categories) if isinstance(categories, list) else None,
    )


def parse_signature(raw: dict[str, Any]) -> Signature:
    """Check and convert signature.json content."""
    try:
        kind = raw["input_kind"]
        serialization = raw["serialization"]
        inputs = tuple(_feature(item) for item in raw["inputs"])
        fmt, file = serialization["format"], serialization["file"]
    except (KeyError, TypeError) as exc:
        raise ArtifactError(f"signature.json is missing {exc}") from None
    if kind not in INPUT_KINDS:
        raise ArtifactError(f"signature.json: unknown input_kind {kind!r}")
    if fmt not in FORMATS or not isinstance(file, str) or "/" in file:
        raise ArtifactError(f"signature.json: bad serialization {serialization!r}")
    if not inputs:
        raise ArtifactError("signature.json declares no inputs")
    classes = raw.get("classes")
    return Signature(
        name=str(raw.get("name") or "model"),
        framework=str(raw.get("framework", "generic")),
        cls=str(raw.get("class", "")),
        task=str(raw.get("task") or "regression"),
        input_kind=kind,
        inputs=inputs,
        classes=tuple(classes) if isinstance(classes, list) else None,
        outputs=tuple(raw.get("outputs") or ({"name": "predictions", "shape": [-1]},)),
        serialization_format=fmt,
        serialization_file=file,
        quantiles=tuple(float(q) for q in raw.get("prediction_quantiles") or ()),
        raw=raw,
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path} does not exist (is MODEL_DIR right?)") from None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path} cannot be read: {exc}") from None


@dataclass
class Artifact:
    directory: Path
    signature: Signature
    sample: dict[str, Any]
    model: Any


def read_metadata(directory: Path) -> tuple[Signature, dict[str, Any]]:
    """signature.json and sample.json, checked; does not load the model."""
    raw = _read_json(directory / SIGNATURE_FILE)
    if not isinstance(raw, dict):
        raise ArtifactError("signature.json is not a JSON object")
    signature = parse_signature(raw)
    sample = _read_json(directory / SAMPLE_FILE) if (directory / SAMPLE_FILE).exists() else {}
    if not isinstance(sample, dict):
        raise ArtifactError("sample.json is not a JSON object")
    return signature, sample


def load_artifact(directory: Path) -> Artifact:
    """Read the metadata and load the model (trusted: the build's own artifact)."""
    signature, sample = read_metadata(directory)
    try:
        model = load_model_file(
            directory / signature.serialization_file, signature.serialization_format
        )
    except SerializationError as exc:
        raise ArtifactError(str(exc)) from None
    return Artifact(directory, signature, sample, model)
