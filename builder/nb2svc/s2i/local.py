"""Drive the builder image the two ways s2i does, with buildah only (no `s2i` binary).

- `write_dockerfile_context`: what `s2i build --as-dockerfile` writes (FROM the builder,
  source in `upload/src` copied to `<dest>/src` owned by `<user>:0`, `USER`, `RUN assemble`,
  `CMD run`; with `incremental_from`, the multi-stage artifacts prelude s2i emits).
- `docker_api_build`: s2i's Docker-API flow: a working container from the builder, the
  upload tar (`src/`, `artifacts/`) unpacked into `<dest>` and assemble run as the
  assemble user in one command, then committed with `CMD run`, the builder's `USER`, the
  build env as `ENV`.
The CA bundle is bind-mounted (`-v`, as `s2i build -v` or a build volume does) and never
written to a layer.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from nb2svc.engine.buildah import Buildah
from nb2svc.plan import CA_SECRET_ID
from nb2svc.s2i import ASSEMBLE_USER, DESTINATION, SCRIPTS_DIR
from nb2svc.s2i.safetar import safe_extract
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
    lines += [f"LABEL {json.dumps(k)}={json.dumps(v)}" for k, v in (labels or {}).items()]
    lines += [f"ENV {k}={json.dumps(v)}" for k, v in (env or {}).items()]
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
        target.write_bytes((source / rel).read_bytes())


def upload_tar(source: Path, out: Path, artifacts: Path | None = None) -> None:
    """s2i's upload: `src/` (no .git) and, for an incremental build, `artifacts/`."""
    with tarfile.open(out, "w") as tar:
        for rel in list_source_files(source):
            tar.add(source / rel, arcname=f"src/{rel}", recursive=False)
        if artifacts is not None:
            tar.add(artifacts, arcname="artifacts")
        else:
            info = tarfile.TarInfo("artifacts")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info, io.BytesIO())


def unpack_artifacts(stream: Path, dest: Path) -> Path:
    """s2i's host side of save-artifacts: the paranoid extraction of the previous image's tar."""
    safe_extract(stream, dest)
    return dest


def save_artifacts(buildah: Buildah, image: str, out: Path, *, user: str = ASSEMBLE_USER) -> Path:
    """s2i's incremental step: run the previous image's save-artifacts, keep its stdout tar."""
    with buildah.working_container(image) as container:
        command = f"{SCRIPTS_DIR}/save-artifacts > /tmp/.s2i-artifacts.tar"
        buildah.run(container, ["/bin/sh", "-c", command], user=user)
        root = buildah.mount(container)
        try:
            out.write_bytes((root / "tmp" / ".s2i-artifacts.tar").read_bytes())
        finally:
            buildah.umount(container)
    return out


def docker_api_build(
    buildah: Buildah,
    builder: str,
    source: Path,
    *,
    tag: str | None = None,
    env: Mapping[str, str] | None = None,
    volumes: Sequence[str] = (),
    artifacts: Path | None = None,
    user: str = ASSEMBLE_USER,
    dest: str = DESTINATION,
    on_line: Callable[[str], None] | None = None,
) -> str:
    """Assemble in a working container and commit it; return the image ID."""
    with tempfile.TemporaryDirectory(prefix="nb2svc-s2i-upload-") as tmp:
        tar = Path(tmp) / "upload.tar"
        upload_tar(source, tar, artifacts)
        with buildah.working_container(builder) as container:
            buildah.copy(container, [tar], "/tmp/.s2i-upload.tar", chown=f"{user}:0")
            command = (
                f"tar -C {dest} -xf /tmp/.s2i-upload.tar && rm -f /tmp/.s2i-upload.tar && "
                f"{SCRIPTS_DIR}/assemble"
            )
            buildah.run(
                container,
                ["/bin/sh", "-c", command],
                user=user,
                env=env,
                volumes=volumes,
                on_line=on_line,
            )
            buildah.config(
                container,
                env=env,
                labels=build_labels(builder, source),
                cmd=[f"{SCRIPTS_DIR}/run"],
                entrypoint=[],
            )
            return buildah.commit(container, tag)
