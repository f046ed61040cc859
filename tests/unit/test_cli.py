"""The command line hands `nb2svc build` and `nb2svc lock` options to the pipeline unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nb2svc import pipeline
from nb2svc.cli import main
from nb2svc.options import BuildOptions


def handed_over(monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[BuildOptions, Any]:
    """What `nb2svc ARGV` hands the pipeline: BuildOptions and any keywords (nothing runs)."""
    calls: list[tuple[BuildOptions, Any]] = []

    def build(options: BuildOptions) -> dict[str, Any]:
        calls.append((options, {}))
        return {}

    def lock_source(options: BuildOptions, **keywords: Any) -> Path:
        calls.append((options, keywords))
        return Path("nb2svc.lock")

    monkeypatch.setattr(pipeline, "build", build)
    monkeypatch.setattr(pipeline, "lock_source", lock_source)
    assert main(list(argv)) == 0
    (call,) = calls
    return call


EVERY_BUILD_OPTION = [
    *("build", "repo", "-n", "a.ipynb", "--notebook", "b.ipynb", "-t", "localhost/m:1"),
    *("-o", "out", "--runtime", "bentoml", "--base-image", "b:1", "--build-base-image", "bb:1"),
    *("--python", "3.9", "-p", "alpha=0.5", "-p", "n=3", "--secret", "id=k,src=/k"),
    *("--ca-bundle", "/ca.pem", "--dry-run", "--train-only", "--no-cache", "--refresh-lock"),
    *("--allow-network", "--train-timeout", "60", "--find-links", "w1", "--find-links", "w2"),
    *("--exclude-newer", "2020-01-01"),
]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            ["build"],
            (BuildOptions(ca_bundle=Path("/etc/ssl/certs/ca-certificates.crt")), {}),
            id="build-without-options-takes-the-defaults",
        ),
        pytest.param(
            EVERY_BUILD_OPTION,
            (
                BuildOptions(
                    source="repo",
                    notebooks=("a.ipynb", "b.ipynb"),
                    image="localhost/m:1",
                    outdir=Path("out"),
                    runtime="bentoml",
                    base_image="b:1",
                    build_base_image="bb:1",
                    python="3.9",
                    parameters=("alpha=0.5", "n=3"),
                    secrets=("id=k,src=/k",),
                    dry_run=True,
                    no_cache=True,
                    refresh_lock=True,
                    ca_bundle=Path("/ca.pem"),
                    allow_network=True,
                    train_timeout=60.0,
                    exclude_newer="2020-01-01",
                    find_links=(Path("w1"), Path("w2")),
                    train_only=True,
                ),
                {},
            ),
            id="build-passes-every-option",
        ),
        pytest.param(
            [
                *("build", "-t", "r.example.com/m:1", "--push", "--authfile", "/a.json"),
                *("--no-tls-verify", "--cert-dir", "/certs"),
            ],
            (
                BuildOptions(
                    image="r.example.com/m:1",
                    push=True,
                    authfile=Path("/a.json"),
                    tls_verify=False,
                    cert_dir=Path("/certs"),
                ),
                {},
            ),
            id="build-passes-the-push-options-and-no-tls-verify-is-a-choice",
        ),
        pytest.param(
            ["build", "--push", "--tls-verify"],
            (BuildOptions(push=True, tls_verify=True), {}),
            id="tls-verify-can-be-said-too",
        ),
        pytest.param(
            ["lock"],
            (BuildOptions(), {"check": False}),
            id="lock-without-options-takes-the-defaults",
        ),
        pytest.param(
            [
                *("lock", "repo", "-n", "a.ipynb", "--python", "3.9", "--refresh", "--check"),
                *("--exclude-newer", "none", "--find-links", "w"),
            ],
            (
                BuildOptions(
                    source="repo",
                    notebooks=("a.ipynb",),
                    python="3.9",
                    refresh_lock=True,
                    exclude_newer="none",
                    find_links=(Path("w"),),
                ),
                {"check": True},
            ),
            id="lock-passes-its-options-and-refresh-re-resolves",
        ),
    ],
)
def test_command_line_becomes_build_options(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: tuple[BuildOptions, Any]
) -> None:
    assert handed_over(monkeypatch, *argv) == expected


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--python", "2.1"], "Debian provides Python"),
        (["--python", "3.11; rm -rf /"], "Debian provides Python"),
        (["--train-timeout", "-5"], "--train-timeout -5 is not a positive number of seconds"),
        (["--train-timeout", "nan"], "is not a positive number of seconds"),
        (["--base-image", "localhost/x:1\nRUN id"], "--base-image"),
        (["-o", "/proc/nb2svc-out"], "cannot write the output folder /proc/nb2svc-out"),
        (["--push", "--train-only"], "--train-only tags no runtime image"),
        (["--push", "--dry-run"], "--dry-run builds nothing"),
    ],
)
def test_a_bad_build_value_is_a_usage_error_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    called: list[BuildOptions] = []
    monkeypatch.setattr(pipeline, "build", called.append)
    assert main(["build", "repo", *argv]) == 2
    assert says in capsys.readouterr().err
    assert called == []


def test_checking_the_output_folder_leaves_no_folder_behind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    options = handed_over(monkeypatch, "build", "repo", "-o", str(tmp_path / "a" / "b"))
    assert options[0].outdir == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []
