"""train.py's own code on every Python the base images offer (3.9, 3.11, 3.13).

The guard and the traceback hook run before and around every notebook cell, so their
failure paths must work on the oldest Python too: a cell that raises must come out as
the `NB2SVC-ERROR` record naming that cell, never as a bare traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nbformat
import pytest
from nb2svc.notebook.load import load_notebook
from nb2svc.notebook.script import render_training_script

from .server import RUNTIMES
from .venvs import interpreter

BASE_PYTHONS = ("3.9", "3.11", "3.13")


@pytest.mark.parametrize("python", BASE_PYTHONS, ids=[f"python-{p}" for p in BASE_PYTHONS])
def test_a_failing_cell_is_reported_as_that_cell_on_every_base_python(
    python: str, tmp_path: Path
) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1", execution_count=1),
        nbformat.v4.new_code_cell(
            "raise NotImplementedError('gone\\nsee the docs')", execution_count=2
        ),
    ]
    nb.metadata["language_info"] = {"name": "python", "version": f"{python}.0"}
    nbformat.write(nb, str(tmp_path / "train.ipynb"))
    script = render_training_script(
        [load_notebook(tmp_path / "train.ipynb")],
        overrides={},
        model_variable=None,
        model_name="train",
        artifact_dir=str(tmp_path / "model"),
        repo_root=tmp_path,
    )
    (tmp_path / "train.py").write_text(script.text)
    env = {**os.environ, "PYTHONPATH": str(RUNTIMES), "MPLBACKEND": "Agg"}
    done = subprocess.run([str(interpreter(python)), "train.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode != 0
    records = [line for line in done.stderr.splitlines() if line.startswith("NB2SVC-ERROR ")]
    assert records, done.stderr[-2000:]
    record = json.loads(records[-1].removeprefix("NB2SVC-ERROR "))
    assert (record["cell"], record["execution_count"]) == (2, 2)
    assert (record["ename"], record["evalue"]) == ("NotImplementedError", "gone\nsee the docs")
    assert "[train.ipynb cell 2 (In [2]), line 1]" in "\n".join(record["traceback"])
