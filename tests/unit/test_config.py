"""Project configuration: `[tool.nb2svc]` in pyproject.toml or nb2svc.toml."""

from __future__ import annotations

from pathlib import Path

import pytest
from nb2svc.config import ProjectConfig, load_config, parse_config, read_config_file
from nb2svc.errors import EXIT_USAGE, UsageError
from nb2svc.options import BuildOptions, configured
from notebook_cells import analyzed

SAMPLES = Path(__file__).resolve().parents[2] / "sample-notebooks"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_no_configuration_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path) == ProjectConfig()


def test_all_keys_are_read_from_pyproject(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        """
[project]
name = "something-else"

[tool.nb2svc]
notebooks = ["prep.ipynb", "train.ipynb"]
model = "clf"
name = "churn"
runtime = "bentoml"
python = "3.11"
base_image = "localhost/nb2svc-base:3.11"

[tool.nb2svc.parameters]
n_estimators = 300
test_size = 0.25
features = ["tenure", "contract"]
""",
    )
    config = load_config(tmp_path)
    assert config.notebooks == ("prep.ipynb", "train.ipynb")
    assert (config.model, config.name, config.runtime, config.python) == (
        "clf",
        "churn",
        "bentoml",
        "3.11",
    )
    assert config.base_image == "localhost/nb2svc-base:3.11"
    assert dict(config.parameters) == {
        "n_estimators": 300,
        "test_size": 0.25,
        "features": ["tenure", "contract"],
    }
    assert config.source == tmp_path / "pyproject.toml"


def test_nb2svc_toml_may_use_top_level_keys(tmp_path: Path) -> None:
    write(tmp_path / "nb2svc.toml", 'model = "pipe"\n')
    assert load_config(tmp_path).model == "pipe"


def test_nb2svc_toml_next_to_the_notebook_beats_the_repository_root(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.nb2svc]\nname = "root"\n')
    notebook = write(tmp_path / "nbs" / "train.ipynb", "{}")
    write(tmp_path / "nbs" / "nb2svc.toml", '[tool.nb2svc]\nname = "near"\n')
    assert load_config(notebook, repo_root=tmp_path).name == "near"


def test_the_repository_root_is_used_when_the_notebook_folder_has_none(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.nb2svc]\nname = "root"\n')
    notebook = write(tmp_path / "nbs" / "train.ipynb", "{}")
    assert load_config(notebook, repo_root=tmp_path).name == "root"


def test_the_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.nb2svc]\nname = "outside"\n')
    repo = tmp_path / "repo"
    notebook = write(repo / "train.ipynb", "{}")
    assert load_config(notebook, repo_root=repo) == ProjectConfig()


def test_a_pyproject_without_nb2svc_settings_is_skipped(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    assert load_config(tmp_path) == ProjectConfig()


def test_an_unknown_key_suggests_the_closest_one(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[tool.nb2svc]\nbase-image = "x"\n')
    with pytest.raises(UsageError) as caught:
        load_config(tmp_path)
    assert caught.value.message == "unknown key 'base-image'; Perhaps you meant 'base_image'?"
    assert caught.value.path == path
    assert caught.value.exit_code == EXIT_USAGE


def test_a_misspelled_key_suggests_the_closest_one() -> None:
    with pytest.raises(UsageError, match="Perhaps you meant 'notebooks'"):
        parse_config({"notebook": ["a.ipynb"]})


def test_wrong_types_name_the_key_and_show_an_example() -> None:
    with pytest.raises(UsageError) as caught:
        parse_config({"notebooks": "train.ipynb"})
    assert caught.value.message.startswith("notebooks must be a list of notebook paths")
    assert 'notebooks = ["train.ipynb"]' in caught.value.message


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(UsageError) as caught:
        parse_config({"model": 3, "python": "3", "colour": "red"})
    assert caught.value.message == "3 problems in [tool.nb2svc]"
    assert [d.split(" ")[0] for d in caught.value.details] == ["unknown", "model", "python"]


def test_the_model_must_be_a_python_variable_name() -> None:
    with pytest.raises(UsageError, match="not a Python variable name"):
        parse_config({"model": "my-model"})


def test_the_name_must_fit_urls_and_kubernetes_and_a_fix_is_suggested() -> None:
    with pytest.raises(UsageError, match="name = 'churn-model-v2'"):
        parse_config({"name": "Churn Model v2"})


def test_parameters_must_be_simple_values() -> None:
    with pytest.raises(UsageError, match=r"parameters\.nested: dict is not supported"):
        parse_config({"parameters": {"nested": {"a": 1}}})
    with pytest.raises(UsageError, match=r"parameters\.class: not a Python variable name"):
        parse_config({"parameters": {"class": 1}})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "nb2svc.toml", "model = \n")
    with pytest.raises(UsageError, match="is not valid TOML") as caught:
        read_config_file(path)
    assert caught.value.path == path


def test_extra_tables_in_nb2svc_toml_are_unknown_keys(tmp_path: Path) -> None:
    write(tmp_path / "nb2svc.toml", '[tool.nb2svc]\nname = "a"\n[build]\nx = 1\n')
    with pytest.raises(UsageError, match="unknown key 'build'"):
        load_config(tmp_path)


def test_the_configuration_is_immutable() -> None:
    config = parse_config({"parameters": {"a": 1}})
    with pytest.raises(TypeError):
        config.parameters["a"] = 2  # type: ignore[index]


def test_the_regression_sample_names_its_service() -> None:
    config = load_config(SAMPLES / "regression" / "house_prices.ipynb")
    assert (config.name, config.notebooks) == ("house-prices", ("house_prices.ipynb",))
    assert config.to_json()["name"] == "house-prices"


@pytest.mark.parametrize(
    "ref", ["python:3.11\nRUN touch /pwned", "python:3.11 AS evil", "", "-v", "$(id)"]
)
def test_the_base_image_must_be_an_image_reference(ref: str) -> None:
    with pytest.raises(UsageError, match="base_image") as caught:
        parse_config({"base_image": ref})
    assert caught.value.exit_code == EXIT_USAGE
    assert "\n" not in caught.value.message


def test_a_base_image_with_a_registry_tag_and_digest_is_accepted() -> None:
    ref = "registry.example.com:5000/ubi9/python-311:1-66@sha256:" + "0f" * 32
    assert parse_config({"base_image": ref}).base_image == ref


def test_notebook_paths_with_control_characters_are_refused() -> None:
    with pytest.raises(UsageError, match="contains a newline"):
        parse_config({"notebooks": ["train\n.ipynb"]})


def test_the_runtime_must_be_one_nb2svc_serves() -> None:
    with pytest.raises(UsageError, match="runtime = 'starlette' is not a model server"):
        parse_config({"runtime": "starlette"})
    assert parse_config({"runtime": "bentoml"}).runtime == "bentoml"


@pytest.mark.parametrize(
    ("flags", "runtime", "base"),
    [
        (BuildOptions(), "bentoml", "localhost/team/python:3.11"),
        (
            BuildOptions(runtime="default", base_image="localhost/mine:1"),
            "default",
            "localhost/mine:1",
        ),
    ],
)
def test_the_configs_runtime_and_base_image_apply_unless_a_flag_gives_them(
    tmp_path: Path, flags: BuildOptions, runtime: str, base: str
) -> None:
    write(
        tmp_path / "nb2svc.toml", 'runtime = "bentoml"\nbase_image = "localhost/team/python:3.11"\n'
    )
    options = configured(flags, analyzed(tmp_path, "x = 1"))
    assert (options.runtime, options.base_image) == (runtime, base)


def test_without_config_or_flag_the_runtime_is_the_default(tmp_path: Path) -> None:
    options = configured(BuildOptions(), analyzed(tmp_path, "x = 1"))
    assert (options.runtime, options.base_image) == ("default", None)
