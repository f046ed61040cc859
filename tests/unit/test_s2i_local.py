"""The Containerfile s2i --as-dockerfile would write, and the Docker-API upload."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from nb2svc.errors import UsageError
from nb2svc.s2i.local import dockerfile, upload_tar, write_dockerfile_context
from nb2svc.s2i.safetar import UnsafeArchiveError


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
    with (tmp_path / "u.tar").open("wb") as out:
        upload_tar(tmp_path / "repo", out)
    with tarfile.open(tmp_path / "u.tar") as tar:
        assert sorted(tar.getnames()) == ["artifacts", "src/nb.ipynb"]


def saved_stream(*members: tuple[str, bytes | None, bytes]) -> io.BytesIO:
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, 0o4777
            if kind == tarfile.SYMTYPE:
                info.linkname = "/etc"
            info.size = len(data or b"")
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    stream.seek(0)
    return stream


def test_a_save_artifacts_stream_is_relayed_under_artifacts_without_set_id_bits(
    tmp_path: Path,
) -> None:
    (tmp_path / "repo").mkdir()
    saved = saved_stream(("uv", None, tarfile.DIRTYPE), ("uv/f", b"data", tarfile.REGTYPE))
    out = io.BytesIO()
    upload_tar(tmp_path / "repo", out, saved)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        assert tar.getnames() == ["artifacts", "artifacts/uv", "artifacts/uv/f"]
        assert tar.getmember("artifacts/uv/f").mode == 0o755
        assert tar.extractfile("artifacts/uv/f").read() == b"data"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "member",
    [("uv/link", None, tarfile.SYMTYPE), ("../escape", b"x", tarfile.REGTYPE)],
    ids=["link", "parent"],
)
def test_an_unsafe_save_artifacts_stream_stops_the_upload(
    tmp_path: Path, member: tuple[str, bytes | None, bytes]
) -> None:
    (tmp_path / "repo").mkdir()
    with pytest.raises(UnsafeArchiveError):
        upload_tar(tmp_path / "repo", io.BytesIO(), saved_stream(member))


@pytest.mark.parametrize(
    "options",
    [
        {"env": {"A\nRUN touch /pwned": "x"}},
        {"env": {"TOKEN": "x\nRUN touch /pwned"}},
        {"env": {"TOKEN": "x\u2028y"}},
        {"labels": {"k": "v\rRUN touch /pwned"}},
        {"incremental_from": "app:latest\nRUN touch /pwned"},
    ],
    ids=["env name", "env value", "env line separator", "label", "incremental image"],
)
def test_values_that_would_break_a_dockerfile_line_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(UsageError, match="cannot be written into the Dockerfile"):
        dockerfile("builder:1", **options)  # type: ignore[arg-type]


def test_a_refused_environment_value_is_never_printed() -> None:
    with pytest.raises(UsageError) as caught:
        dockerfile("builder:1", env={"TOKEN": "hunter2\nsecret"})
    assert "TOKEN" in caught.value.render()
    assert "hunter2" not in caught.value.render()


def test_env_and_label_values_are_quoted_so_the_builder_reads_them_as_they_are() -> None:
    text = dockerfile("builder:1", env={"P": '${HOME} $(id) "q"'}, labels={"k": "données"})
    assert 'ENV P="\\${HOME} \\$(id) \\"q\\""' in text
    assert 'LABEL "k"="données"' in text
