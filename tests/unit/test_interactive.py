"""Cells that need a person at a screen, after the model is made, are left out of train.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from nb2svc.analyze import Analysis
from nb2svc.notebook.script import render_training_script
from notebook_cells import analyzed

FIT = (
    "import pandas as pd\nfrom sklearn.tree import DecisionTreeClassifier\n"
    "df = pd.read_csv('data.csv')\nmodel = DecisionTreeClassifier().fit(df[['a']], df['b'])"
)


def analysis_of(tmp_path: Path, *cells: str) -> Analysis:
    (tmp_path / "data.csv").write_text("a,b\n1,0\n2,1\n")
    return analyzed(tmp_path, *cells, name="t.ipynb")


@pytest.mark.parametrize(
    ("demo", "call"),
    [
        ("import tkinter as tk\nroot = tk.Tk()\nroot.mainloop()", "tk.Tk()"),
        ("x = input('tenure? ')\nprint(model.predict([[float(x)]]))", "input('tenure? ')"),
        (
            "from ipywidgets import interact\ninteract(lambda a: model.predict([[a]]), a=3)",
            "interact(",
        ),
        (
            "import gradio as gr\ngr.Interface(fn=print, inputs='text', outputs='text').launch()",
            "gr.Interface(",
        ),
        (
            "from flask import Flask\napp = Flask(__name__)\napp.run(port=5000)",
            "app.run(port=5000)",
        ),
    ],
)
def test_a_demonstration_after_the_model_is_left_out_with_a_warning_naming_its_cell(
    tmp_path: Path, demo: str, call: str
) -> None:
    analysis = analysis_of(tmp_path, FIT, demo)
    [skipped] = analysis.notebooks[0].demos
    assert str(skipped.cell) == "cell 2"
    assert skipped.call.startswith(call)
    assert any("skipped cell 2 calls" in w for w in analysis.warning_messages())
    script = render_training_script(
        [analysis.notebooks[0].notebook], overrides={}, model_variable="model", model_name="t",
        skip=analysis.skipped_cells(),
    ).text  # fmt: skip
    assert "# %% cell 2: skipped: needs a person at a screen" in script
    assert "_nb2svc.cell(2," not in script  # the cell's code is not in train.py


def test_a_prompt_before_the_model_is_made_still_runs_so_its_failure_names_it(
    tmp_path: Path,
) -> None:
    analysis = analysis_of(tmp_path, "depth = int(input('depth? '))", FIT)
    assert analysis.notebooks[0].demos == ()


def test_a_file_read_only_by_a_skipped_demo_is_not_missing_data(tmp_path: Path) -> None:
    demo = "import joblib, tkinter\nm = joblib.load('Churn_Modelling')\ntkinter.Tk().mainloop()"
    analysis = analysis_of(tmp_path, FIT, demo)
    assert [d.reference for d in analysis.notebooks[0].data_files] == ["data.csv"]
