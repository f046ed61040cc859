"""The train stage: data links made before train.py, and the limits train.py runs under."""

from __future__ import annotations

from pathlib import Path

from nb2svc.datapaths import DataLink
from nb2svc.image.containerfile import render
from notebook_cells import analyzed
from test_containerfile import lines_of_stage, make_plan

LINK = DataLink(
    "/opt/nb2svc/src/C:\\Users\\me\\churn.csv",
    "/opt/nb2svc/src/data/churn.csv",
    "C:\\Users\\me\\churn.csv",
    "train.ipynb",
    2,
    "windows",
)


def test_data_links_are_made_after_the_source_is_copied_and_before_training() -> None:
    train = lines_of_stage(render(make_plan(data_links=(LINK,))), "train")
    text = "\n".join(train)
    assert "ln -s /opt/nb2svc/src/data/churn.csv '/opt/nb2svc/src/C:\\Users\\me\\churn.csv'" in text
    assert text.index("COPY src") < text.index("ln -s") < text.index("/opt/venv/bin/python")


def test_without_links_the_train_stage_has_no_extra_step() -> None:
    assert not any("ln -s" in line for line in lines_of_stage(render(make_plan()), "train"))


def test_training_is_offline_and_unlimited_unless_the_plan_says_otherwise() -> None:
    default = "\n".join(lines_of_stage(render(make_plan()), "train"))
    assert "NB2SVC_ALLOW_NETWORK" not in default
    assert "NB2SVC_TRAIN_TIMEOUT" not in default
    plan = make_plan(allow_network=True, train_timeout=90.0)
    text = "\n".join(lines_of_stage(render(plan), "train"))
    assert "NB2SVC_ALLOW_NETWORK=1" in text
    assert "NB2SVC_TRAIN_TIMEOUT=90 " in text


def test_a_failure_after_the_last_cell_is_not_said_to_be_before_the_first(
    tmp_path: Path,
) -> None:
    analysis = analyzed(tmp_path, "x = 1")
    record = {"notebook": "train.ipynb", "cell": None, "ename": "TypeError", "evalue": "no"}
    after = analysis.training_error({**record, "after_last_cell": True}, exit_status=1)
    assert "training failed after the last cell, while saving the model" in after.message
    before = analysis.training_error(record, exit_status=1)
    assert "training failed before the first cell" in before.message


def test_folders_the_notebook_writes_into_are_made_before_training() -> None:
    plan = make_plan(write_folders=("/opt/nb2svc/src/charts",))
    train = lines_of_stage(render(plan), "train")
    made = next(i for i, line in enumerate(train) if "mkdir -p /opt/nb2svc/src/charts" in line)
    assert made < next(i for i, line in enumerate(train) if "train.py" in line and "RUN" in line)
