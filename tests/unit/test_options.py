"""One settings model: defaults < project config < NB2SVC_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nb2svc.analyze import analyze
from nb2svc.config import load_config
from nb2svc.errors import UsageError
from nb2svc.options import BuildOptions, configured, from_sources, unknown_variables


def test_the_environment_sets_what_no_flag_gives() -> None:
    env = {"NB2SVC_ALLOW_NETWORK": "1", "NB2SVC_TRAIN_TIMEOUT": "90",
           "NB2SVC_NOTEBOOKS": "prep.ipynb, train.ipynb", "NB2SVC_PARAM_alpha": "0.5"}  # fmt: skip
    options = from_sources({}, env)
    assert options.allow_network is True
    assert options.train_timeout == 90.0
    assert options.notebooks == ("prep.ipynb", "train.ipynb")
    assert options.parameters == ("alpha=0.5",)


def test_a_flag_wins_over_the_environment() -> None:
    env = {"NB2SVC_TRAIN_TIMEOUT": "90", "NB2SVC_EXCLUDE_NEWER": "2024-01-01"}
    options = from_sources({"train_timeout": 30.0, "exclude_newer": "none"}, env)
    assert (options.train_timeout, options.exclude_newer) == (30.0, "none")


def test_the_environment_wins_over_the_project_config(tmp_path: Path) -> None:
    (tmp_path / "nb2svc.toml").write_text('runtime = "bentoml"\n')
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(notebook, tmp_path / "train.ipynb")
    analysis = analyze([tmp_path / "train.ipynb"], root=tmp_path, config=load_config(tmp_path))
    assert configured(BuildOptions(), analysis).runtime == "bentoml"
    assert configured(from_sources({}, {"NB2SVC_RUNTIME": "default"}), analysis).runtime == (
        "default"
    )


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"NB2SVC_TRAIN_TIMEOUT": "soon"}, "NB2SVC_TRAIN_TIMEOUT='soon' is not a number"),
        ({"NB2SVC_TRAIN_TIMEOUT": "-1"}, "is not a positive number of seconds"),
        ({"NB2SVC_PARAMETERS": "a=1;oops"}, "'oops' is not name=value"),
        ({"NB2SVC_RUNTIME": "starlette"}, "'starlette' is not one of nb2svc's model servers"),
        ({"NB2SVC_CA_FILE": "/nonexistent/ca.pem"}, "names a file that is not there"),
    ],
)
def test_a_bad_value_in_the_environment_is_a_usage_error_naming_it(
    env: dict[str, str], says: str
) -> None:
    with pytest.raises(UsageError, match=says.replace("(", r"\(").replace("[", r"\[")):
        from_sources({}, env)


def test_a_misspelt_setting_is_named_with_the_one_meant() -> None:
    env = {"NB2SVC_ALLOW_NETWRK": "1", "NB2SVC_STATE_DIR": "/x", "NB2SVC_PARAM_alpha": "1"}
    assert unknown_variables(env) == [
        "NB2SVC_ALLOW_NETWRK is not a setting; did you mean NB2SVC_ALLOW_NETWORK?"
    ]


def test_inference_is_auto_unless_a_flag_or_the_environment_says_otherwise() -> None:
    assert from_sources({}, {}).inference == "auto"
    assert from_sources({}, {"NB2SVC_INFERENCE": "native"}).inference == "native"
    assert from_sources({"inference": "compiled"}, {"NB2SVC_INFERENCE": "native"}).inference == (
        "compiled"
    )


def test_an_unknown_inference_mode_is_refused_with_the_modes_offered() -> None:
    with pytest.raises(UsageError, match="'fast' is not one of auto, compiled, native"):
        from_sources({}, {"NB2SVC_INFERENCE": "fast"})


def test_compiled_inference_is_refused_for_the_bentoml_runtime_which_serves_the_native_model() -> (
    None
):
    with pytest.raises(UsageError, match="bentoml runtime serves the notebook's native model"):
        from_sources({"inference": "compiled", "runtime": "bentoml"}, {})
