"""The hazard table's Keras entry against the error Keras really raises.

Keras is not in the project venv (it needs a backend; the image builds pull TensorFlow),
so a pinned venv with Keras 3 on its JAX backend (the smallest) raises the real error; the other
entries are triggered in the project venv (tests/unit/test_hazards.py).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from nb2svc.hazards import find_hazard

from .venvs import pinned_venv

TRIGGERS = {
    "import-keras-engine": "import keras.engine",
    "keras-engine-attribute": "import keras\nkeras.engine.input_layer",
}
PROBE = """
import json, sys
try:
    exec(sys.argv[1])
except Exception as exc:
    print(json.dumps([type(exc).__name__, str(exc)]))
"""


@pytest.mark.parametrize("code", TRIGGERS.values(), ids=TRIGGERS.keys())
def test_keras_3_without_keras_engine_is_named_as_the_keras_2_13_removal(code: str) -> None:
    python = pinned_venv(
        "3.11",
        ("keras==3.15.1", "jax==0.10.2", "jaxlib==0.10.2", "numpy==2.3.5", "scipy==1.16.3"),
        what="installing keras 3",
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run([str(python), "-c", PROBE, code], env=env, capture_output=True,
                         text=True, check=True, timeout=120)  # fmt: skip
    ename, evalue = json.loads(out.stdout.strip().splitlines()[-1])
    hazard = find_hazard(ename, evalue)
    assert hazard is not None, f"{ename}: {evalue}"
    assert (hazard.library, hazard.removed_in) == ("keras", "2.13")
