"""Buildah/Podman without containers: argv, request validation, failure classes, preflight.

Preflight failures use small real executables on PATH standing in for an old buildah.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from nb2svc.engine.buildah import Buildah, BuildRequest
from nb2svc.engine.errors import (
    BuildahError,
    BuildahMissingError,
    BuildahTooOldError,
    ImageNotFoundError,
    PodmanError,
    PodmanMissingError,
    StorageFullError,
    classify_buildah_failure,
)
from nb2svc.engine.podman import Podman
from nb2svc.engine.preflight import parse_version, version_from_json
from nb2svc.errors import EXIT_BUILD, EXIT_VERIFICATION, UsageError


def request(tmp_path: Path, **kw: object) -> BuildRequest:
    (tmp_path / "Containerfile").write_text("FROM scratch\n")
    return BuildRequest(tmp_path / "Containerfile", tmp_path, tmp_path / "iid", **kw)  # type: ignore[arg-type]


def test_argv_builds_into_an_iidfile_without_a_tag(tmp_path: Path) -> None:
    secret = tmp_path / "ca.crt"
    argv = request(
        tmp_path,
        target="runtime",
        build_args={"PY": "3.11"},
        secrets=[("ca", secret)],
        labels={"a": "b"},
    ).argv()
    assert argv[0] == "build"
    assert "-t" not in argv
    assert "--tag" not in argv
    assert argv[argv.index("--iidfile") + 1] == str(tmp_path / "iid")
    assert {"--rm", "--force-rm", "--isolation=chroot", "--layers=true", "--pull=missing"} <= set(
        argv
    )
    assert argv[argv.index("--secret") + 1] == f"id=ca,src={secret}"
    assert argv[argv.index("--target") + 1] == "runtime"
    assert argv[argv.index("--build-arg") + 1] == "PY=3.11"
    assert argv[-1] == str(tmp_path)


@pytest.mark.parametrize("name", ["HF_TOKEN", "db_password", "AWS_SECRET_ACCESS_KEY", "API_KEY"])
def test_credential_like_build_args_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="credential") as info:
        request(tmp_path, build_args={name: "x"}).validate()
    assert info.value.fix is not None
    assert "--secret" in info.value.fix


def test_secret_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        request(tmp_path, secrets=[("ca", tmp_path / "missing")]).validate()
    with pytest.raises(UsageError, match="invalid secret id"):
        request(tmp_path, secrets=[("a,b", tmp_path / "Containerfile")]).validate()


@pytest.mark.parametrize(
    ("tail", "kind"),
    [
        (
            ["Error: creating build container: short-name resolution: image not known"],
            ImageNotFoundError,
        ),
        (
            ["initializing source docker://python:3.11-slim: pinging container registry x"],
            ImageNotFoundError,
        ),
        (["write /var/lib/containers/x: no space left on device"], StorageFullError),
        (['error building at STEP "RUN false": exit status 1'], BuildahError),
    ],
)
def test_classify_buildah_failure(tail: list[str], kind: type[BuildahError]) -> None:
    err = classify_buildah_failure(["buildah", "build", "."], 1, tail)
    assert type(err) is kind
    assert err.exit_code == EXIT_BUILD
    assert err.details[0] == "command: buildah build ."
    assert tail[0] in err.render()


def test_versions() -> None:
    assert parse_version("buildah version 1.28.2 (image-spec 1.1.0)") == (1, 28, 2)
    assert version_from_json('{"Client": {"Version": "4.3.1"}}', "Client", "Version") == (4, 3, 1)
    with pytest.raises(ValueError, match="missing"):
        version_from_json("{}", "version")


def fake_tool(bin_dir: Path, name: str, output: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_missing_buildah_says_how_to_install(tmp_path: Path) -> None:
    engine = Buildah(env={"PATH": str(tmp_path)}, progress=False)
    with pytest.raises(BuildahMissingError) as info:
        engine.check()
    assert info.value.fix is not None
    assert "apt-get install buildah" in info.value.fix


def test_old_buildah_is_refused(tmp_path: Path) -> None:
    fake_tool(tmp_path / "bin", "buildah", '{"version": "1.23.1"}')
    engine = Buildah(env={"PATH": f"{tmp_path / 'bin'}{os.pathsep}/usr/bin:/bin"}, progress=False)
    with pytest.raises(BuildahTooOldError, match=r"1\.23\.1 is too old.*>= 1\.28"):
        engine.check()


def test_old_or_missing_podman(tmp_path: Path) -> None:
    with pytest.raises(PodmanMissingError) as info:
        Podman(env={"PATH": str(tmp_path)}).check()
    assert info.value.exit_code == EXIT_VERIFICATION
    fake_tool(tmp_path / "bin", "podman", '{"Client": {"Version": "3.4.4"}}')
    with pytest.raises(PodmanMissingError, match="too old"):
        Podman(env={"PATH": f"{tmp_path / 'bin'}{os.pathsep}/usr/bin:/bin"}).check()


def test_another_running_buildah_is_seen_so_its_containers_are_not_removed(
    tmp_path: Path,
) -> None:
    import subprocess

    from nb2svc.engine.buildah import other_buildah_processes

    fake = tmp_path / "buildah"
    fake.symlink_to("/bin/sleep")
    proc = subprocess.Popen([str(fake), "30"])
    try:
        for _ in range(100):  # Popen returns before the child has exec'd the fake buildah
            if proc.pid in other_buildah_processes():
                break
            time.sleep(0.02)
        assert proc.pid in other_buildah_processes()
    finally:
        proc.kill()
        proc.wait()
    assert proc.pid not in other_buildah_processes()


def test_a_failed_command_names_what_the_tool_said_not_buildahs_wrapper_lines() -> None:
    tail = [
        "ERROR: No matching distribution found for acme-features",
        "subprocess exited with status 1",
        'Error: building at STEP "RUN uv pip sync x": exit status 1',
    ]
    error = BuildahError(["/usr/bin/buildah", "build", "-f", "Containerfile"], 1, tail)
    assert str(error) == (
        "buildah build failed with exit code 1: "
        "ERROR: No matching distribution found for acme-features"
    )
    assert error.details[-1].startswith("Error: building at STEP")  # still in the details


def test_a_podman_failure_says_what_podman_said() -> None:
    error = PodmanError(
        "podman rm failed with exit code 125",
        argv=["podman", "rm", "x"],
        tail=['Error: no container with name or ID "x" found: no such container'],
    )
    assert "no such container" in str(error)


def test_a_build_that_met_runcs_memfd_race_is_run_once_more(tmp_path: Path) -> None:
    """`Close_Fd sealing memfd copy: Device or resource busy` (seen once in CI) is the
    engine's, not the build's: the same build runs again and succeeds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "buildah"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = build ] || { echo "[]"; exit 0; }\n'
        'iid=""; while [ $# -gt 0 ]; do [ "$1" = --iidfile ] && iid="$2"; shift; done\n'
        f'if [ ! -e "{tmp_path}/once" ]; then touch "{tmp_path}/once"\n'
        '  echo "Close_Fd sealing memfd copy: Device or resource busy" >&2; exit 1; fi\n'
        'echo "STEP 1/1: FROM scratch"; echo sha256:abc > "$iid"\n'
    )
    script.chmod(0o755)
    engine = Buildah(env={"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin"}, progress=False)
    (tmp_path / "Containerfile").write_text("FROM scratch\n")
    result = engine.build(tmp_path / "Containerfile", tmp_path, layers=False)
    assert result.image_id == "abc"
