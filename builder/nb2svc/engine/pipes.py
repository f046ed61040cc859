"""Binary pipes to and from a command (used by `Buildah` to stream tars, as s2i does).

`feed_stdin`: a writer fills the command's stdin (in a thread) while its output lines go
to `on_line`. `read_stdout`: a reader consumes the command's stdout (a tar) while its
stderr is kept for the error message. No tar touches the disk on either side.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from nb2svc.engine.errors import BuildahError
from nb2svc.engine.process import follow_lines, start_group, stop_group

TAIL = 30


def feed_stdin(
    argv: Sequence[str],
    env: Mapping[str, str] | None,
    write: Callable[[IO[bytes]], None],
    on_line: Callable[[str], None],
) -> None:
    """Run `argv` with `write(stdin)` as its input; `BuildahError` when it fails."""
    proc = start_group(argv, env, stdin=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdin is not None
    failed: list[BaseException] = []
    writer = threading.Thread(target=_write_all, args=(proc.stdin, write, failed), daemon=True)
    writer.start()
    try:
        returncode, tail = follow_lines(proc, on_line, TAIL)
    finally:
        writer.join()
    if returncode != 0 or failed:
        raise BuildahError(argv, returncode, [*tail, *map(str, failed)])


def _write_all(
    stdin: IO[bytes], write: Callable[[IO[bytes]], None], failed: list[BaseException]
) -> None:
    try:
        write(stdin)
    except BrokenPipeError:
        pass  # the command stopped reading: its exit status tells why
    except Exception as exc:  # reported from the caller's thread
        failed.append(exc)
    finally:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()


def read_stdout(
    argv: Sequence[str], env: Mapping[str, str] | None, read: Callable[[IO[bytes]], object]
) -> None:
    """Run `argv` and hand its stdout to `read`; `BuildahError` when the command fails.

    If `read` raises (e.g. an unsafe archive), the command is stopped and the error kept.
    """
    with tempfile.TemporaryFile() as errors:
        proc = start_group(argv, env, stderr=errors)
        assert proc.stdout is not None
        try:
            read(proc.stdout)
            proc.stdout.read()  # whatever follows the tar's end
            returncode = proc.wait()
        except BaseException:
            stop_group(proc)
            raise
        finally:
            proc.stdout.close()
        if returncode != 0:
            errors.seek(0)
            lines = errors.read().decode(errors="replace").splitlines()[-TAIL:]
            raise BuildahError(argv, returncode, lines)
