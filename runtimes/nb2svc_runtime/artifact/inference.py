"""inference.json: which backend serves the artifact's model, and the proof it may
(ARTIFACT.md, "Compiled inference"; docs/architecture.md, "Compiled inference").

Written by the build's compile stage (nb2svc_runtime.compiled), read by the server and by
the builder's report. Absent means the native model serves (every artifact before it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..contract import INFERENCE_FILE

NATIVE = "native"
ONNXRUNTIME = "onnxruntime"
BACKENDS = (NATIVE, ONNXRUNTIME)


@dataclass(frozen=True)
class Inference:
    """The compile stage's decision. `fallback_reason` says why the native model serves
    when a compiled one was considered; `feeds` is the compiled model's input vocabulary."""

    backend: str = NATIVE
    requested: str = "auto"
    file: str | None = None
    feeds: dict[str, str] = field(default_factory=dict)
    tolerance: float | None = None
    checked_rows: int = 0
    max_abs_diff: float | None = None
    fallback_reason: str | None = None
    timing_ms: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def compiled(self) -> bool:
        return self.backend != NATIVE

    def document(self) -> dict[str, Any]:
        return asdict(self)


def read_inference(directory: Path) -> Inference:
    """The decision in `directory`, or the native default when there is none.

    A document that cannot be read or names an unknown backend is an error, not native:
    serving another model than the build proved would be silent."""
    path = directory / INFERENCE_FILE
    if not path.exists():
        return Inference()
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or raw.get("backend") not in BACKENDS:
        raise ValueError(f"{path}: backend must be one of {', '.join(BACKENDS)}")
    known = {k: raw[k] for k in Inference.__dataclass_fields__ if k in raw}
    return Inference(**known)


def write_inference(directory: Path, decision: Inference) -> None:
    """Write the decision atomically (mode 0664, like the artifact's other files)."""
    path = directory / INFERENCE_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(decision.document(), indent=2, sort_keys=True) + "\n")
    tmp.chmod(0o664)
    tmp.replace(path)
