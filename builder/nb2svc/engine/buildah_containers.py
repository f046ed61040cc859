"""Working containers (`buildah from`, `copy`, `config`, `run`, `commit`, `mount`), the
part of nb2svc.engine.buildah that base images and the S2I flows use; with the plumbing
every `buildah` call goes through (nb2svc.engine.process).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from nb2svc.engine import pipes
from nb2svc.engine.build_request import bare_id
from nb2svc.engine.errors import BuildahError, classify_buildah_failure
from nb2svc.engine.process import run_streaming
from nb2svc.engine.tool import Tool

LineHook = Callable[[str], None]


class BuildahContainers(Tool):
    """`buildah` plumbing and working containers; `Buildah` adds builds and images."""

    # -- plumbing ---------------------------------------------------------------------
    def _run(self, *args: str, timeout: float | None = None) -> str:
        result = self._call(*args, timeout=timeout)
        if result.returncode != 0:
            raise classify_buildah_failure(result.argv, result.returncode, result.tail())
        return result.stdout

    def _json(self, *args: str) -> Any:
        out = self._run(*args).strip()
        return json.loads(out) if out else None

    # -- working containers -----------------------------------------------------------
    def from_image(self, image: str, *, name: str | None = None, pull: str = "missing") -> str:
        args = ["from", f"--pull={pull}", *(["--name", name] if name else []), image]
        return self._run(*args).strip().splitlines()[-1]

    def rm(self, *containers: str) -> None:
        self._run("rm", *containers)

    @contextmanager
    def working_container(self, image: str, *, name: str | None = None) -> Iterator[str]:
        """`buildah from IMAGE`; the container is removed on exit, whatever happens.

        Set NB2SVC_KEEP_CONTAINER=1 to keep it for debugging.
        """
        container = self.from_image(image, name=name)
        try:
            yield container
        finally:
            if os.environ.get("NB2SVC_KEEP_CONTAINER") != "1":
                self._call("rm", container, timeout=120)

    def copy(
        self, container: str, src: Sequence[Path | str], dest: str, *, chown: str | None = None
    ) -> None:
        self._run("copy", *(["--chown", chown] if chown else []), container, *map(str, src), dest)

    def add(self, container: str, src: Path | str, dest: str) -> None:
        """`buildah add`: like copy, but unpacks local tar archives."""
        self._run("add", container, str(src), dest, timeout=max(self.timeout, 600))

    def config(
        self,
        container: str,
        *,
        env: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        entrypoint: Sequence[str] | None = None,
        cmd: Sequence[str] | None = None,
        user: str | None = None,
        workdir: str | None = None,
        ports: Sequence[int] = (),
    ) -> None:
        args = [f"--env={k}={v}" for k, v in (env or {}).items()]
        args += [f"--label={k}={v}" for k, v in (labels or {}).items()]
        args += [f"--port={p}" for p in ports]
        if entrypoint is not None:
            args.append(f"--entrypoint={json.dumps(list(entrypoint))}")
        if cmd is not None:
            args.append(f"--cmd={json.dumps(list(cmd))}")
        args += [f"--user={user}"] if user else []
        args += [f"--workingdir={workdir}"] if workdir else []
        self._run("config", *args, container)

    def commit(self, container: str, ref: str | None = None, *, squash: bool = False) -> str:
        """Commit to an image; returns its ID (tagged `ref` when given)."""
        with tempfile.TemporaryDirectory(prefix="nb2svc-commit-") as tmp:
            iid = Path(tmp) / "iid"
            args = ["commit", "--quiet", "--iidfile", str(iid), *(["--squash"] if squash else [])]
            self._run(*args, container, *([ref] if ref else []), timeout=max(self.timeout, 600))
            return bare_id(iid.read_text())

    def mount(self, container: str) -> Path:
        return Path(self._run("mount", container).strip())

    def umount(self, container: str) -> None:
        self._run("umount", container)

    def run(
        self,
        container: str,
        argv: Sequence[str],
        *,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
        volumes: Sequence[str] = (),
        workdir: str | None = None,
        on_line: LineHook | None = None,
        isolation: str = "chroot",
    ) -> int:
        """`buildah run` in a working container; output lines go to `on_line` (else the stream).

        Returns 0; a non-zero exit raises `BuildahError` whose `returncode` is the command's.
        """
        full = self._run_argv(container, argv, user, env, volumes, workdir, isolation)
        hook = on_line or self._write_line
        result = run_streaming(full, hook, env=self.env)
        if result.returncode != 0:
            raise BuildahError(full, result.returncode, result.tail)
        return 0

    def run_feeding(
        self,
        container: str,
        argv: Sequence[str],
        write: Callable[[IO[bytes]], None],
        *,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
        volumes: Sequence[str] = (),
        on_line: LineHook | None = None,
    ) -> None:
        """`buildah run` with `write` filling the command's stdin (e.g. a tar to unpack)."""
        full = self._run_argv(container, argv, user, env, volumes, None, "chroot")
        pipes.feed_stdin(full, self.env, write, on_line or self._write_line)

    def run_reading(
        self,
        container: str,
        argv: Sequence[str],
        read: Callable[[IO[bytes]], object],
        *,
        user: str | None = None,
    ) -> None:
        """`buildah run` with `read` consuming the command's stdout (e.g. a tar it writes)."""
        full = self._run_argv(container, argv, user, None, (), None, "chroot")
        pipes.read_stdout(full, self.env, read)

    def _run_argv(
        self,
        container: str,
        argv: Sequence[str],
        user: str | None,
        env: Mapping[str, str] | None,
        volumes: Sequence[str],
        workdir: str | None,
        isolation: str,
    ) -> list[str]:
        args = ["run", f"--isolation={isolation}", *([f"--user={user}"] if user else [])]
        args += [f"--env={k}={v}" for k, v in (env or {}).items()]
        args += [f"--volume={v}" for v in volumes]
        args += [f"--workingdir={workdir}"] if workdir else []
        return self._argv(*args, container, "--", *argv)

    def _write_line(self, line: str) -> None:
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()
