"""Binary pipes to and from a command: what arrives, and the BuildahError when it fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

import pytest
from nb2svc.engine import pipes
from nb2svc.engine.errors import BuildahError


def test_feed_stdin_writes_the_input_and_hands_over_each_output_line() -> None:
    def write(stdin: IO[bytes]) -> None:
        stdin.write(b"a\nb\r\nc")

    lines: list[str] = []
    pipes.feed_stdin(["cat"], None, write, lines.append)
    assert lines == ["a", "b", "c"]


def test_read_stdout_hands_the_whole_output_to_the_reader() -> None:
    got: list[bytes] = []
    pipes.read_stdout(["printf", "tar bytes"], None, lambda stdout: got.append(stdout.read()))
    assert got == [b"tar bytes"]


def broken_writer(stdin: IO[bytes]) -> None:
    raise ValueError("the writer broke")


def ignore(_: object) -> None:
    pass


@pytest.mark.parametrize(
    ("run", "returncode", "tail"),
    [
        pytest.param(
            lambda: pipes.feed_stdin(
                ["sh", "-c", "cat >/dev/null; echo said; exit 2"], None, ignore, ignore
            ),
            2,
            ("said",),
            id="feed-a-failing-command-keeps-its-output",
        ),
        pytest.param(
            lambda: pipes.feed_stdin(["cat"], None, broken_writer, ignore),
            0,
            ("the writer broke",),
            id="feed-with-a-failing-writer-names-the-writers-error",
        ),
        pytest.param(
            lambda: pipes.read_stdout(["sh", "-c", "echo why >&2; exit 3"], None, ignore),
            3,
            ("why",),
            id="read-from-a-failing-command-keeps-its-stderr",
        ),
    ],
)
def test_failure_is_a_buildah_error_with_the_output_tail(
    run: Callable[[], None], returncode: int, tail: tuple[str, ...]
) -> None:
    with pytest.raises(BuildahError) as caught:
        run()
    assert (caught.value.returncode, caught.value.stderr_tail) == (returncode, tail)
