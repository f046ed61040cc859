"""`Buildah`: the one class that runs `buildah` (through `nb2svc.engine.process`).

Builds go to an iidfile, never straight to a tag: a failed or interrupted build leaves no
half-tagged image, and the working containers it left are removed. The caller tags the
image with `tag()` once it has verified it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Unpack

from nb2svc.engine import preflight
from nb2svc.engine.build_request import BuildRequest as BuildRequest
from nb2svc.engine.build_request import BuildResult as BuildResult
from nb2svc.engine.build_request import VolumeBuildRequest, bare_id
from nb2svc.engine.buildah_containers import BuildahContainers, LineHook
from nb2svc.engine.errors import (
    BuildahError,
    BuildahMissingError,
    BuildahTooOldError,
    classify_buildah_failure,
)
from nb2svc.engine.process import run_streaming
from nb2svc.engine.progress import Progress
from nb2svc.engine.registry import RegistryAccess, classify_push_failure
from nb2svc.engine.tool import ToolOptions
from nb2svc.image.refs import is_digest

MIN_VERSION = (1, 28, 0)
INSTALL_HINT = "install it with `apt-get install buildah` (Debian/Ubuntu) or `dnf install buildah`"
_CHECKED: dict[str, tuple[int, int, int]] = {}  # executable -> version, once per process


class Buildah(BuildahContainers):
    """Owns every `buildah` invocation. `check()` first; every failure is a `BuildahError`.
    `progress=False` leaves out the build progress display."""

    binary_name = "buildah"
    default_timeout = 300.0
    install_hint = INSTALL_HINT
    missing_error = BuildahMissingError

    def __init__(
        self, binary: str | None = None, *, progress: bool = True, **options: Unpack[ToolOptions]
    ) -> None:
        super().__init__(binary, **options)
        self.progress = progress

    # -- preflight --------------------------------------------------------------------
    def version(self) -> tuple[int, int, int]:
        return preflight.version_from_json(self._run("version", "--json"), "version")

    def check(self) -> tuple[int, int, int]:
        """Binary present, new enough, storage usable; each failure says how to fix it.

        Checked once per process and binary: later calls return the version found.
        """
        known = _CHECKED.get(self.executable())
        return known if known is not None else self._check()

    def _check(self) -> tuple[int, int, int]:
        self.executable()
        found = self.version()
        if found < MIN_VERSION:
            msg = (
                f"buildah {preflight.format_version(found)} is too old; nb2svc needs "
                f">= {preflight.format_version(MIN_VERSION)} (RUN --mount=type=secret/cache)"
            )
            raise BuildahTooOldError(msg, fix="upgrade buildah (Debian 12 ships 1.28.2)")
        result = self._call("images", "--quiet", timeout=60)
        if result.returncode != 0 and "not known" in result.stderr:  # raced with a removal
            time.sleep(0.2)
            result = self._call("images", "--quiet", timeout=60)
        if result.returncode != 0:
            raise BuildahMissingError(
                "buildah cannot open its image storage",
                fix="run as root, or for rootless set up /etc/subuid and /etc/subgid "
                "(`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER`) "
                "and check /etc/containers/storage.conf",
                details=result.tail(),
            )
        _CHECKED[self.executable()] = found
        return found

    # -- build ------------------------------------------------------------------------
    def build(
        self,
        containerfile: Path,
        context: Path,
        *,
        tag: str | None = None,
        target: str | None = None,
        build_args: Mapping[str, str] | None = None,
        secrets: Sequence[tuple[str, Path | str]] = (),
        labels: Mapping[str, str] | None = None,
        layers: bool = True,
        no_cache: bool = False,
        iidfile: Path | None = None,
        isolation: str = "chroot",
        pull: str = "missing",
        on_line: LineHook | None = None,
        quiet: bool = False,
    ) -> BuildResult:
        """Build an image; return its ID. Tag it only when `tag` is given and all went well.

        `on_line` sees every output line as it arrives (e.g. to find a machine-readable
        error line); if it raises, the build is stopped and cleaned up like an interrupt.
        `quiet` leaves out the progress display (the caller shows what `on_line` gets).
        """
        with tempfile.TemporaryDirectory(prefix="nb2svc-build-") as tmp:
            request = BuildRequest(
                containerfile, context, iidfile or Path(tmp) / "iid", target, build_args,
                secrets, labels, layers, no_cache, isolation, pull,
            )  # fmt: skip
            return self._build(request, tag, on_line, quiet)

    def _build(
        self, request: BuildRequest, tag: str | None, on_line: LineHook | None, quiet: bool = False
    ) -> BuildResult:
        request.validate()
        start = time.monotonic()
        try:
            steps, tail = self._build_streamed(request, on_line, quiet)
        except BuildahError as exc:
            if not _TRANSIENT.search("\n".join(exc.stderr_tail)):
                raise
            # runc/buildah could not seal its memfd copy (EBUSY, a kernel race): nothing of
            # the build's own failed; once more, with the layers built so far cached.
            steps, tail = self._build_streamed(request, on_line, quiet)
        image_id = bare_id(request.iidfile.read_text())
        if tag:
            self.tag(image_id, tag)
        return BuildResult(image_id, time.monotonic() - start, steps, tag, tail)

    def _build_streamed(
        self, request: BuildRequest, on_line: LineHook | None, quiet: bool
    ) -> tuple[int, tuple[str, ...]]:
        argv = self._argv(*request.argv())
        before = self._container_ids()
        progress = Progress(
            self.stream, title=f"build {request.containerfile.name}", verbose=self.verbose
        )
        shown = self.progress and not quiet
        hooks = [h for h in (progress if shown else None, on_line) if h is not None]

        def feed(line: str) -> None:
            for hook in hooks:
                hook(line)

        try:
            with progress if shown else _null_context():
                result = run_streaming(argv, feed, env=self.env)
                if result.returncode != 0:
                    raise classify_buildah_failure(result.argv, result.returncode, result.tail)
        except BaseException:
            self._remove_new_containers(before)
            raise
        return progress.steps_seen, result.tail

    def _container_ids(self) -> set[str]:
        return {str(c.get("id")) for c in self.containers()}

    def _remove_new_containers(self, before: set[str]) -> list[str]:
        """Remove working containers that appeared since `before` (a failed build's leftovers).

        Storage is shared with anything else running buildah on this host, and a container
        another build created meanwhile cannot be told from ours: while another `buildah`
        process runs, the leftovers are named instead of removed, so that build survives.
        """
        new = sorted(self._container_ids() - before)
        if not new:
            return []
        others = other_buildah_processes()
        if others:
            self._write_line(
                f"nb2svc: left {len(new)} container(s) of the stopped build because another "
                f"buildah is running (pid {', '.join(map(str, others))}); remove them "
                f"later with: buildah rm {' '.join(c[:12] for c in new)}"
            )
            return []
        self._call("rm", *new, timeout=120)
        return new

    # -- images -----------------------------------------------------------------------
    def tag(self, image: str, *refs: str) -> None:
        self._run("tag", image, *refs)

    def rmi(self, *refs: str, force: bool = False) -> None:
        self._run("rmi", *(["--force"] if force else []), *refs)

    def inspect(self, ref: str, kind: str = "image") -> dict[str, Any]:
        data = self._json("inspect", "--type", kind, ref)
        if not isinstance(data, dict):
            raise BuildahError(["inspect", ref], 0, [f"unexpected output: {data!r}"])
        return data

    def image_exists(self, ref: str) -> bool:
        return (
            self._call("inspect", "--type", "image", "--format", "{{.FromImageID}}", ref).returncode
            == 0
        )

    def image_id(self, ref: str) -> str:
        return self._run("inspect", "--type", "image", "--format", "{{.FromImageID}}", ref).strip()

    def image_labels(self, ref: str) -> dict[str, str]:
        config = self.inspect(ref).get("OCIv1", {}).get("config", {})
        return dict(config.get("Labels") or {})

    def image_size(self, ref: str) -> int:
        """Bytes of the image's layers (uncompressed, as stored locally)."""
        manifest = json.loads(self.inspect(ref).get("Manifest") or "{}")
        return sum(int(layer.get("size", 0)) for layer in manifest.get("layers", []))

    def images(self, *, all_layers: bool = False) -> list[dict[str, Any]]:
        data = self._json("images", "--json", *(["--all"] if all_layers else []))
        return list(data or [])

    def containers(self) -> list[dict[str, Any]]:
        """Working containers. Listing races with other processes removing theirs
        ("container not known"): such a failure is retried a few times."""
        for attempt in range(3):
            try:
                return list(self._json("containers", "--json") or [])
            except BuildahError as exc:
                if attempt == 2 or not _is_listing_race(exc):
                    raise
                time.sleep(0.2)
        return []

    def push(self, ref: str, dest: str) -> None:
        """Push to a transport destination, e.g. `oci-archive:/tmp/x.tar` or `docker://...`."""
        self._run("push", "--quiet", ref, dest, timeout=max(self.timeout, 600))

    def push_to_registry(self, image: str, dest: str, access: RegistryAccess) -> str:
        """Push `image` (an ID or tag in local storage) to the registry reference `dest`;
        return the digest of the manifest the registry now holds (`sha256:...`, from
        `--digestfile`). A failure is a `PushError` (nb2svc.engine.registry); local
        storage and its tags are left as they were.

        buildah retries a failed push itself (3 times, 2 s apart); buildah 1.28.2 ignores
        `--retry`/`--retry-delay` on push (measured), so they are not passed.
        """
        with tempfile.TemporaryDirectory(prefix="nb2svc-push-") as tmp:
            digestfile = Path(tmp) / "digest"
            args = ["push", "--quiet", f"--digestfile={digestfile}", *access.argv()]
            result = self._call(*args, image, f"docker://{dest}", timeout=max(self.timeout, 3600))
            if result.returncode != 0:
                raise classify_push_failure(
                    dest, access, result.argv, result.returncode, result.tail()
                )
            digest = digestfile.read_text().strip() if digestfile.is_file() else ""
        if not is_digest(digest):
            raise classify_push_failure(
                dest, access, result.argv, 0, [f"buildah push wrote no digest ({digest!r})"]
            )
        return digest

    # -- additions for S2I-style builds -------------------------------------------------
    def build_with_volumes(
        self,
        containerfile: Path,
        context: Path,
        *,
        volumes: Sequence[str],
        tag: str | None = None,
        layers: bool = True,
        on_line: LineHook | None = None,
    ) -> BuildResult:
        """`build()` with `-v` bind mounts for every RUN (the Containerfile stays untouched)."""
        with tempfile.TemporaryDirectory(prefix="nb2svc-build-") as tmp:
            request = VolumeBuildRequest(
                containerfile, context, Path(tmp) / "iid", layers=layers, volumes=tuple(volumes)
            )
            return self._build(request, tag, on_line)


_TRANSIENT = re.compile(r"sealing memfd copy: Device or resource busy")


@contextmanager
def _null_context() -> Iterator[None]:
    yield


def _is_listing_race(exc: BuildahError) -> bool:
    text = "\n".join(exc.stderr_tail)
    return "not known" in text or "is not a container" in text


def other_buildah_processes() -> list[int]:
    """PIDs of buildah processes on this host (ours has exited by the time this is asked)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv0 = cmdline.read_bytes().split(b"\0", 1)[0]
        except OSError:
            continue
        if argv0.rsplit(b"/", 1)[-1] == b"buildah" and int(cmdline.parent.name) != os.getpid():
            found.append(int(cmdline.parent.name))
    return sorted(found)
