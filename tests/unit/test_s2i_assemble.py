"""assemble's steps on the host: a failing cell is named, values are never printed."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
import sklearn
from nb2svc.analyze import Analysis
from nb2svc.errors import EXIT_TRAINING, TrainingError
from nb2svc.lock import Lock
from nb2svc.options import BuildOptions
from nb2svc.plan import BuildPlan, HostFacts, make_plan
from nb2svc.s2i import assemble, metadata, steps
from nb2svc.s2i.settings import s2i_options
from nb2svc.s2i.steps import Layout

RUNTIMES = Path(__file__).resolve().parents[2] / "runtimes"


def layout(tmp_path: Path) -> Layout:
    return Layout(
        destination=tmp_path / "upload",
        app_src=tmp_path / "upload" / "src",
        model=tmp_path / "model",
        venv=Path(sys.prefix),  # the project venv stands in for /opt/venv
        lib=RUNTIMES,
        cache=tmp_path / "cache",
        build=tmp_path / "build",
        image_metadata=tmp_path / ".s2i" / "image_metadata.json",
    )


def write_notebook(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.2"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def planned(
    analysis: Analysis,
    where: Layout,
    locked: dict[str, str] | None = None,
    options: BuildOptions | None = None,
) -> BuildPlan:
    """The plan assemble carries out, with `locked` standing for a resolved lock (the lock's
    resolution has its own tests: test_lockfile)."""
    packages = locked or {}
    lock = Lock(
        text="".join(f"{k}=={v}\n" for k, v in packages.items()), packages=packages,
        tool="uv", python_version="3.11", platform="linux", inputs_sha256="key",
    )  # fmt: skip
    host = HostFacts(
        python=f"{sys.version_info.major}.{sys.version_info.minor}",
        base_image="builder",
        build_base_image="builder",
        runtime_requirements="",
        src_dir=str(where.app_src),
        model_dir=str(where.model),
    )
    facts = metadata.source_facts(analysis, where.app_src, {})
    return make_plan(analysis, lock, options or BuildOptions(), facts, host)


def test_a_failing_cell_fails_training_with_the_cell_named(tmp_path: Path) -> None:
    where = layout(tmp_path)
    write_notebook(where.src / "train.ipynb", "x = 1", "raise ValueError('bad data')")
    analysis = assemble._analyze(where.src, BuildOptions())
    with pytest.raises(TrainingError) as info:
        steps.train(planned(analysis, where), analysis, where, io.StringIO())
    assert info.value.exit_code == EXIT_TRAINING
    assert str(info.value.cell) == "cell 2"
    assert "ValueError: bad data" in info.value.message


def test_settings_from_the_environment_file_are_logged_by_name_only(tmp_path: Path) -> None:
    where = layout(tmp_path)
    (where.src / ".s2i").mkdir(parents=True)
    (where.src / ".s2i" / "environment").write_text(
        "NB2SVC_PARAM_alpha=0.5\nDATA_TOKEN=hunter2-secret\n"
    )
    env: dict[str, str] = {}
    log = io.StringIO()
    found = assemble.load_settings(where, env, log)
    assert found.parameters == ("alpha=0.5",)
    assert env["DATA_TOKEN"] == "hunter2-secret"
    assert "DATA_TOKEN" in log.getvalue()
    assert "hunter2" not in log.getvalue()


def test_assemble_without_a_source_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(assemble.DESTINATION_ENV, str(tmp_path))
    assert assemble.main([]) == 2
    assert "no source at" in capsys.readouterr().err


def test_group_writable_copies_user_bits_to_the_group(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir(mode=0o700)
    (tmp_path / "d" / "f").write_text("")
    (tmp_path / "d" / "f").chmod(0o600)
    steps.group_writable(tmp_path / "d")
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o770
    assert (tmp_path / "d" / "f").stat().st_mode & 0o777 == 0o660


def test_a_known_api_removal_in_a_cell_asks_for_one_retry_with_the_library_capped(
    tmp_path: Path,
) -> None:
    """The host's scikit-learn (1.9) has no plot_confusion_matrix; 1.1.3 has a wheel for
    this Python, so assemble installs and trains once more: capped, as of 2022-12-07."""
    where = layout(tmp_path)
    write_notebook(where.src / "train.ipynb", "from sklearn.metrics import plot_confusion_matrix")
    analysis = assemble._analyze(where.src, BuildOptions())
    plan = planned(analysis, where, {"scikit-learn": sklearn.__version__})
    with pytest.raises(TrainingError) as info:
        steps.train(plan, analysis, where, io.StringIO())
    assert "API-version mismatch" in info.value.message
    retry = info.value.retry
    assert retry is not None
    assert (retry.pins, retry.as_of) == (("scikit-learn<1.2",), "2022-12-07")


def environment_of_training(where: Layout, options: BuildOptions) -> dict[str, str]:
    """The environment the notebook's code really runs in (its cell dumps it)."""
    dump = where.build / "env.json"
    write_notebook(
        where.src / "train.ipynb",
        f"import json, os\njson.dump(dict(os.environ), open({str(dump)!r}, 'w'))\n"
        "from sklearn.dummy import DummyClassifier\n"
        "model = DummyClassifier().fit([[0], [1]], [0, 1])",
    )
    analysis = assemble._analyze(where.src, options)
    steps.train(planned(analysis, where, options=options), analysis, where, io.StringIO())
    found: dict[str, str] = json.loads(dump.read_text())
    return found


@pytest.mark.parametrize("allow", ["", "1"], ids=["offline", "network allowed"])
def test_the_ca_bundle_reaches_uv_but_not_the_notebook_unless_it_may_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allow: str
) -> None:
    where = layout(tmp_path)
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("NB2SVC_CA_FILE", str(ca))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    monkeypatch.setenv("NB2SVC_ALLOW_NETWORK", allow)
    options = s2i_options(os.environ)
    assert steps.uv_env(where, options.ca_bundle)["SSL_CERT_FILE"] == str(ca)
    training = environment_of_training(where, options)
    seen = {k for k, v in training.items() if v == str(ca)}
    assert seen == ({"NB2SVC_CA_FILE", "SSL_CERT_FILE"} if allow else set())
    assert training["PYTHONPATH"] == str(RUNTIMES)


def test_environment_entries_that_cannot_be_variables_are_skipped_with_a_warning(
    tmp_path: Path,
) -> None:
    where = layout(tmp_path)
    (where.src / ".s2i").mkdir(parents=True)
    (where.src / ".s2i" / "environment").write_bytes(
        b"BAD NAME=x\nTOKEN=hunter2\rRUN touch /pwned\nNB2SVC_PARAM_alpha=0.5\n"
    )
    env: dict[str, str] = {}
    log = io.StringIO()
    assemble.load_settings(where, env, log)
    assert env == {"NB2SVC_PARAM_alpha": "0.5"}
    warning = next(line for line in log.getvalue().splitlines() if "skipped" in line)
    assert "'BAD NAME'" in warning
    assert "'TOKEN'" in warning
    assert "hunter2" not in log.getvalue()
