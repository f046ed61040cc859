"""Values flow forward: each cell is transformed once, and train.py is made from the analysis."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from nb2svc import analyze as analyze_module
from nb2svc.deps import collect
from nb2svc.notebook import transform
from notebook_cells import analyzed

CELLS = (
    "%matplotlib inline\nimport pandas as pd",
    "df = pd.DataFrame({'x': [1, 2, 3], 'y': [0, 1, 0]})\n!echo hello",
    "from sklearn.linear_model import LogisticRegression\n"
    "model = LogisticRegression().fit(df[['x']], df['y'])",
)


def test_every_cell_is_transformed_once_from_analysis_to_train_py(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[str] = Counter()
    real = transform.transform_cell

    def counting(source: str) -> transform.TransformedCell:
        calls[source] += 1
        return real(source)

    for module in (transform, analyze_module, collect):
        monkeypatch.setattr(module, "transform_cell", counting)
    analysis = analyzed(tmp_path, *CELLS)
    script = analysis.training_script()
    assert "model = LogisticRegression()" in script.text
    assert dict(calls) == dict.fromkeys(CELLS, 1)


def test_build_and_s2i_get_the_same_train_py_but_for_where_the_model_goes(tmp_path: Path) -> None:
    analysis = analyzed(tmp_path, *CELLS)
    cli = analysis.training_script()
    s2i = analysis.training_script(artifact_dir="/opt/app-root/model")
    assert cli.text.replace("/opt/nb2svc/model", "/opt/app-root/model") == s2i.text
