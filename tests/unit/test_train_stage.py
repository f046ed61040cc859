"""The train stage: data links made before train.py, and the limits train.py runs under."""

from __future__ import annotations

from nb2svc.datapaths import DataLink
from nb2svc.image.containerfile import render
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
