"""The Containerfile s2i --as-dockerfile would write, and the Docker-API upload."""

from __future__ import annotations

import tarfile
from pathlib import Path

from nb2svc.s2i.local import dockerfile, upload_tar, write_dockerfile_context


def test_as_dockerfile_shape() -> None:
    text = dockerfile("builder:1", env={"NB2SVC_RUNTIME": "default"})
    assert text.splitlines() == [
        "FROM builder:1",
        'ENV NB2SVC_RUNTIME="default"',
        "COPY --chown=1001:0 upload/src /tmp/src",
        "USER 1001",
        "RUN /usr/libexec/s2i/assemble",
        "CMD /usr/libexec/s2i/run",
    ]


def test_incremental_as_dockerfile_restores_artifacts_before_assemble() -> None:
    lines = dockerfile("builder:1", incremental_from="app:latest").splitlines()
    assert lines[0] == "FROM app:latest as cached"
    assert "save-artifacts > /tmp/artifacts.tar" in lines[2]
    copy = lines.index("COPY --from=cached --chown=1001:0 /tmp/artifacts.tar /tmp/artifacts.tar")
    assert lines.index("RUN /usr/libexec/s2i/assemble") > copy


def test_context_holds_the_source_without_git(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / ".git" / "HEAD").write_text("ref")
    (tmp_path / "repo" / "nb.ipynb").write_text("{}")
    write_dockerfile_context("b", tmp_path / "repo", tmp_path / "ctx")
    files = sorted(
        p.relative_to(tmp_path / "ctx").as_posix() for p in (tmp_path / "ctx").rglob("*")
    )
    assert files == ["Dockerfile", "upload", "upload/src", "upload/src/nb.ipynb"]


def test_upload_tar_has_src_and_artifacts(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "nb.ipynb").write_text("{}")
    upload_tar(tmp_path / "repo", tmp_path / "u.tar")
    with tarfile.open(tmp_path / "u.tar") as tar:
        assert sorted(tar.getnames()) == ["artifacts", "src/nb.ipynb"]
