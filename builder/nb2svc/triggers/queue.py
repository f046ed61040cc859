"""Per-repository serialization: one build at a time per repository, across processes.

A worker holds an exclusive `flock` on the repository's lock file while it drains the
queue. Whoever holds the lock owns every `running` row of that repository, so rows found
`running` on acquiring it were left by a crashed worker and go back to the queue. After
releasing, the worker looks again: a build queued by a push whose own worker found the
lock taken is never stranded.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from nb2svc.triggers.private import private_dir
from nb2svc.triggers.runner import Runner


class RepoLock:
    def __init__(self, lock_dir: Path, repo: str) -> None:
        private_dir(lock_dir)
        digest = hashlib.sha256(repo.encode()).hexdigest()[:24]
        self.path = lock_dir / f"{digest}.lock"
        self._fd: int | None = None

    def acquire(self, *, block: bool) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def drain(runner: Runner, repo: str, *, block: bool = False) -> list[int]:
    """Run queued builds of `repo` until none is left; return the IDs built here."""
    built: list[int] = []
    lock = RepoLock(runner.state_dir / "locks", repo)
    while not runner.stopping.is_set():
        if not lock.acquire(block=block):
            return built
        try:
            for stale in runner.history.requeue_running(repo):
                runner.reap_orphan(stale)
            while not runner.stopping.is_set():
                build = runner.history.claim_next(repo)
                if build is None:
                    break
                runner.run(build)
                built.append(build.id)
        finally:
            lock.release()
        if not runner.history.has_queued(repo):
            break
    return built
