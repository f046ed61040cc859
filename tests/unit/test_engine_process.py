"""process.py with real short-lived processes (sh, sleep): streaming, tails, interrupts."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import IO, cast

import pytest
from nb2svc.engine.process import engine_env, iter_lines, run_captured, run_streaming


class Chunked(io.RawIOBase):
    """A byte stream that returns its data in fixed small chunks (like a pipe does)."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size = data, size

    def readable(self) -> bool:
        return True

    def read1(self, n: int = -1) -> bytes:
        chunk, self.data = self.data[: self.size], self.data[self.size :]
        return chunk


@pytest.mark.parametrize("size", [1, 2, 3, 64])
def test_iter_lines_splits_on_newline_and_carriage_return(size: int) -> None:
    data = "a\r\nb\rc\nünï\n\nlast".encode()
    stream = cast(IO[bytes], Chunked(data, size))
    assert list(iter_lines(stream)) == ["a", "b", "c", "ünï", "", "last"]


def test_run_streaming_merges_output_and_keeps_tail() -> None:
    seen: list[str] = []
    script = "for i in $(seq 1 60); do echo out$i; done; echo err >&2; exit 4"
    result = run_streaming(["sh", "-c", script], seen.append, tail_lines=5)
    assert result.returncode == 4
    assert seen[0] == "out1"
    assert "err" in seen
    assert result.tail == ("out57", "out58", "out59", "out60", "err")


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_hook_exception_stops_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = f"sleep 300 & echo $! > {pidfile}; echo started; wait"

    def hook(line: str) -> None:
        if line == "started":
            raise KeyboardInterrupt

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_streaming(["sh", "-c", script], hook)
    assert time.monotonic() - start < 8
    time.sleep(0.2)
    assert not _alive(int(pidfile.read_text()))


def test_run_captured_separates_streams_and_times_out() -> None:
    ok = run_captured(["sh", "-c", "echo out; echo err >&2"])
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "out\n", "err\n")
    assert ok.tail() == ("err",)
    slow = run_captured(["sleep", "30"], timeout=0.3)
    assert slow.returncode == -9
    assert "timed out" in slow.stderr


def test_engine_env_sets_containers_conf_only_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONTAINERS_CONF", raising=False)
    conf = Path(engine_env()["CONTAINERS_CONF"])
    assert conf.is_file()
    assert 'runtime = "runc"' in conf.read_text()
    monkeypatch.setenv("CONTAINERS_CONF", "/etc/mine.conf")
    assert engine_env()["CONTAINERS_CONF"] == "/etc/mine.conf"
