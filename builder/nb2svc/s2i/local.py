"""Drive the builder image the two ways s2i does, with buildah only (no `s2i` binary).

- `write_dockerfile_context`: what `s2i build --as-dockerfile` writes (FROM the builder,
  source in `upload/src` copied to `<dest>/src` owned by `<user>:0`, `USER`, `RUN assemble`,
  `CMD run`; with `incremental_from`, the multi-stage artifacts prelude s2i emits).
  `apply_image_metadata` then applies assemble's labels (s2i cannot in this mode).
- `docker_api_build`: s2i's Docker-API flow: a working container from the builder, the
  upload tar (`src/`, `artifacts/`) streamed into `tar -xf -` in `<dest>` and assemble run
  as the assemble user in one command, then committed with `CMD run`, the builder's
  `USER`, the build env as `ENV` and the labels of `/tmp/.s2i/image_metadata.json`.
- `save_artifacts`: the previous image's `save-artifacts` stdout, extracted as it streams.
The CA bundle is bind-mounted (`-v`, as `s2i build -v` or a build volume does) and never
written to a layer.
"""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from nb2svc.engine.buildah import Buildah
from nb2svc.errors import UsageError
from nb2svc.image.values import (
    ENV_NAME,
    image_ref_problem,
    label_problem,
    quoted,
    word_problem,
)
from nb2svc.plan import CA_SECRET_ID
from nb2svc.s2i import ASSEMBLE_USER, DESTINATION, SCRIPTS_DIR, metadata
from nb2svc.s2i.metadata import IMAGE_METADATA
from nb2svc.s2i.safetar import Tally, check_members, check_name, safe_extract
from nb2svc.source import list_source_files

CA_MOUNT = f"/run/secrets/{CA_SECRET_ID}"


def build_labels(builder: str, source: Path) -> dict[str, str]:
    """The labels s2i generates (namespace `io.openshift.s2i.`)."""
    return {
        "io.openshift.s2i.build.image": builder,
        "io.openshift.s2i.build.source-location": str(source),
    }


def ca_volume(ca_bundle: Path | None) -> list[str]:
    return [f"{ca_bundle}:{CA_MOUNT}:ro"] if ca_bundle and ca_bundle.is_file() else []


def dockerfile(
    builder: str,
    *,
    env: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    incremental_from: str | None = None,
    user: str = ASSEMBLE_USER,
    dest: str = DESTINATION,
) -> str:
    _check_dockerfile_values(builder, incremental_from, env or {}, labels or {})
    lines: list[str] = []
    if incremental_from:
        lines += [
            f"FROM {incremental_from} as cached",
            f"USER {user}",
            f"RUN if [ -s {SCRIPTS_DIR}/save-artifacts ]; then "
            f"{SCRIPTS_DIR}/save-artifacts > /tmp/artifacts.tar; "
            "else touch /tmp/artifacts.tar; fi",
            "",
        ]
    lines.append(f"FROM {builder}")
    lines += [f"LABEL {quoted(k)}={quoted(v)}" for k, v in (labels or {}).items()]
    lines += [f"ENV {k}={quoted(v)}" for k, v in (env or {}).items()]
    if incremental_from:
        lines += [
            f"COPY --from=cached --chown={user}:0 /tmp/artifacts.tar {dest}/artifacts.tar",
            f"RUN if [ -s {dest}/artifacts.tar ]; then mkdir -p {dest}/artifacts; "
            f"tar -xf {dest}/artifacts.tar -C {dest}/artifacts; fi && rm {dest}/artifacts.tar",
        ]
    lines += [
        f"COPY --chown={user}:0 upload/src {dest}/src",
        f"USER {user}",
        f"RUN {SCRIPTS_DIR}/assemble",
        f"CMD {SCRIPTS_DIR}/run",
    ]
    return "\n".join(lines) + "\n"


def _check_dockerfile_values(
    builder: str, incremental_from: str | None, env: Mapping[str, str], labels: Mapping[str, str]
) -> None:
    """What `dockerfile` renders, refused before a line of it is written (image.values)."""
    problems = [
        f"image {ref!r}: {image_ref_problem(ref)}"
        for ref in (builder, *([incremental_from] if incremental_from else []))
        if image_ref_problem(ref)
    ]
    for name, value in env.items():
        problem = (
            "not a variable name" if not ENV_NAME.match(name) else word_problem(value)
        )  # values never printed: the build environment may hold secrets
        if problem:
            problems.append(f"environment variable {name!r}: {problem}")
    for key, value in labels.items():
        problem = label_problem(key, value)
        if problem:
            problems.append(f"label {key!r}: {problem}")
    if problems:
        raise UsageError(
            f"{problems[0]}: it cannot be written into the Dockerfile",
            details=problems[1:],
            fix="use variable names of letters, digits and _, and values without control "
            "characters or line breaks",
        )


def write_dockerfile_context(builder: str, source: Path, context: Path, **options: object) -> Path:
    """The `--as-dockerfile` output for `source`: `context/Dockerfile` and `upload/src`."""
    _copy_tree(source, context / "upload" / "src")
    path = context / "Dockerfile"
    path.write_text(dockerfile(builder, **options))  # type: ignore[arg-type]
    return path


def _copy_tree(source: Path, dest: Path) -> None:
    for rel in list_source_files(source):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, target)


def upload_tar(source: Path, out: IO[bytes], artifacts: Path | IO[bytes] | None = None) -> None:
    """s2i's upload, streamed: `src/` (no .git) and, for an incremental build, `artifacts/`:
    a folder, or a save-artifacts stream relayed member by member after the paranoid checks."""
    with tarfile.open(fileobj=out, mode="w|") as tar:
        for rel in list_source_files(source):
            tar.add(source / rel, arcname=f"src/{rel}", recursive=False)
        if isinstance(artifacts, Path):
            tar.add(artifacts, arcname="artifacts")
            return
        info = tarfile.TarInfo("artifacts")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        if artifacts is not None:
            _relay(artifacts, tar)


def _relay(stream: IO[bytes], out: tarfile.TarFile) -> None:
    tally = Tally()
    with tarfile.open(fileobj=stream, mode="r|") as saved:
        for member in saved:
            check_members([member], tally)
            copy = tarfile.TarInfo(f"artifacts/{check_name(member.name)}")
            copy.type, copy.size, copy.mtime = member.type, member.size, member.mtime
            copy.mode = member.mode & 0o755 | (0o755 if member.isdir() else 0o644)
            out.addfile(copy, saved.extractfile(member) if member.isreg() else None)


def save_artifacts(buildah: Buildah, image: str, dest: Path, *, user: str = ASSEMBLE_USER) -> Path:
    """s2i's incremental step: the previous image's save-artifacts, its stdout tar extracted
    on the fly with the paranoid checks (`safe_extract`) into `dest`; nothing else is written."""
    with buildah.working_container(image) as container:
        save = [f"{SCRIPTS_DIR}/save-artifacts"]
        buildah.run_reading(container, save, lambda out: safe_extract(out, dest), user=user)
    return dest


def docker_api_build(
    buildah: Buildah,
    builder: str,
    source: Path,
    *,
    tag: str | None = None,
    env: Mapping[str, str] | None = None,
    volumes: Sequence[str] = (),
    artifacts: Path | None = None,
    artifacts_from: str | None = None,
    user: str = ASSEMBLE_USER,
    dest: str = DESTINATION,
    on_line: Callable[[str], None] | None = None,
) -> str:
    """Assemble in a working container and commit it; return the image ID.

    As s2i does, the upload tar is streamed into `tar -xf -` on the container's stdin, and
    the labels assemble leaves in `/tmp/.s2i/image_metadata.json` are applied last.
    Artifacts come from a folder (`artifacts`, what `save_artifacts` extracted) or straight
    from the previous image's save-artifacts (`artifacts_from`), checked as they stream;
    refused or failing artifacts fail this build (s2i would fall back to a clean one)."""

    def upload(stdin: IO[bytes]) -> None:
        if artifacts_from is None:
            upload_tar(source, stdin, artifacts)
            return
        with buildah.working_container(artifacts_from) as previous:
            save = [f"{SCRIPTS_DIR}/save-artifacts"]
            buildah.run_reading(
                previous, save, lambda saved: upload_tar(source, stdin, saved), user=user
            )

    with buildah.working_container(builder) as container:
        command = f"tar -C {dest} -xf - && {SCRIPTS_DIR}/assemble"
        buildah.run_feeding(
            container,
            ["/bin/sh", "-c", command],
            upload,
            user=user,
            env=env,
            volumes=volumes,
            on_line=on_line or (lambda line: print(line, flush=True)),
        )
        labels = {**build_labels(builder, source), **take_image_metadata(buildah, container)}
        buildah.config(container, env=env, labels=labels, cmd=[f"{SCRIPTS_DIR}/run"], entrypoint=[])
        return buildah.commit(container, tag)


def take_image_metadata(buildah: Buildah, container: str) -> dict[str, str]:
    """The labels of the container's s2i image metadata file, which is then removed
    (s2i leaves it in the image; it holds labels only, but the app needs nothing in /tmp)."""
    root = buildah.mount(container)
    try:
        path = root / IMAGE_METADATA.lstrip("/")
        if path.resolve() != root.resolve() / IMAGE_METADATA.lstrip("/") or not path.is_file():
            return {}  # missing, or a link (it would be followed on this host, not inside)
        found = metadata.parse(path.read_text())
        shutil.rmtree(path.parent)
        return found
    finally:
        buildah.umount(container)


def apply_image_metadata(buildah: Buildah, image: str, tag: str | None = None) -> str:
    """For an `--as-dockerfile` image: apply its image metadata labels the way s2i does
    in Docker-API mode (s2i cannot in a Dockerfile); return the new image ID."""
    with buildah.working_container(image) as container:
        labels = take_image_metadata(buildah, container)
        buildah.config(container, labels=labels)
        return buildah.commit(container, tag)
