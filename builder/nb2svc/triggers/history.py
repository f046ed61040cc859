"""Persistent build history in SQLite; it is also the queue.

One row per requested build. Status moves `queued -> running -> succeeded | failed |
deploy_failed | superseded`: a build is superseded when the worker, with the branch fetched,
finds another build of the same branch (queued, or already run) whose commit contains this
one and is still on the branch. Queueing alone never supersedes anything, since the order in
which deliveries arrive says nothing about which commit is newer. Deliveries (webhook IDs)
and body MACs are kept so a replay or a redelivery after a restart does not build twice.
Every method opens its own connection, so threads and processes (hooks of concurrent
pushes) can share the file.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb2svc.redact import redact_text, redact_url
from nb2svc.triggers.private import private_dir, private_file

DELIVERY_TTL_SECONDS = 90 * 24 * 3600
ACTIVE = ("queued", "running")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS builds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo TEXT NOT NULL, ref TEXT NOT NULL, sha TEXT NOT NULL, image TEXT NOT NULL,
    status TEXT NOT NULL, spec TEXT NOT NULL, delivery TEXT,
    created REAL NOT NULL, started REAL, finished REAL, exit_code INTEGER,
    log_path TEXT, image_id TEXT, pid INTEGER, superseded_by INTEGER, error TEXT
);
CREATE INDEX IF NOT EXISTS builds_repo_status ON builds (repo, status);
CREATE TABLE IF NOT EXISTS deliveries (
    key TEXT PRIMARY KEY, build_id INTEGER, received REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS macs (
    mac TEXT PRIMARY KEY, delivery TEXT NOT NULL, received REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Build:
    id: int
    repo: str
    ref: str
    sha: str
    image: str
    status: str
    spec: dict[str, Any]
    delivery: str | None
    created: float
    started: float | None
    finished: float | None
    exit_code: int | None
    log_path: str | None
    image_id: str | None
    pid: int | None
    superseded_by: int | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        """What GET /builds and `builds --json` show: no spec (it names the source), the
        error redacted once more (rows written before redaction existed)."""
        data = dict(self.__dict__)
        data.pop("spec")
        data["notebooks"] = self.spec.get("notebooks", [])
        data["error"] = redact_text(self.error) if self.error else self.error
        return data


@dataclass(frozen=True)
class Enqueued:
    build_id: int
    duplicate: bool  # the delivery or the same (repo, ref, sha) was already queued


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        private_dir(path.parent)
        private_file(path)  # before SQLite makes it, so it and its -wal and -shm are 0600
        with closing(sqlite3.connect(path, timeout=60)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        self._scrub()

    def _scrub(self) -> None:
        """Redact URL credentials that rows written by older versions may hold (the clone URL
        in the spec, git's words in the error); freed pages are zeroed (secure_delete)."""
        with self._tx() as db:
            db.execute("PRAGMA secure_delete=ON")
            rows = db.execute(
                "SELECT id, spec, error FROM builds WHERE spec LIKE '%://%@%'"
                " OR spec LIKE '%://%?%' OR error LIKE '%://%@%' OR error LIKE '%://%?%'"
            ).fetchall()
            for row in rows:
                spec = json.loads(row["spec"])
                if isinstance(spec.get("source"), str):
                    spec["source"] = redact_url(spec["source"])
                error = redact_text(row["error"]) if row["error"] else row["error"]
                if json.dumps(spec) != row["spec"] or error != row["error"]:
                    db.execute(
                        "UPDATE builds SET spec=?, error=? WHERE id=?",
                        (json.dumps(spec), error, row["id"]),
                    )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: writers queue on the file lock)."""
        with closing(sqlite3.connect(self.path, timeout=60, isolation_level=None)) as db:
            db.row_factory = sqlite3.Row
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def seen_delivery(self, key: str) -> int | None:
        with self._tx() as db:
            row = db.execute("SELECT build_id FROM deliveries WHERE key=?", (key,)).fetchone()
        return None if row is None else int(row[0] or 0)

    def mac_owner(self, mac: str) -> str | None:
        """The delivery key a body MAC was first seen with (replay detection)."""
        with self._tx() as db:
            row = db.execute("SELECT delivery FROM macs WHERE mac=?", (mac,)).fetchone()
        return None if row is None else str(row[0])

    def remember(self, delivery: str, mac: str | None, build_id: int | None) -> None:
        """Record a delivery that did not enqueue a build (ignored events)."""
        with self._tx() as db:
            self._record(db, delivery, mac, build_id)

    @staticmethod
    def _record(db: sqlite3.Connection, delivery: str, mac: str | None, bid: int | None) -> None:
        now = time.time()
        db.execute("DELETE FROM deliveries WHERE received < ?", (now - DELIVERY_TTL_SECONDS,))
        db.execute("DELETE FROM macs WHERE received < ?", (now - DELIVERY_TTL_SECONDS,))
        db.execute("INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?)", (delivery, bid, now))
        if mac:
            db.execute("INSERT OR IGNORE INTO macs VALUES (?, ?, ?)", (mac, delivery, now))

    def enqueue(
        self, spec: dict[str, Any], *, delivery: str | None = None, mac: str | None = None
    ) -> Enqueued:
        """Queue a build (spec has repo, ref, sha, image) unless that commit of that ref is
        already queued or running."""
        with self._tx() as db:
            if delivery is not None:
                row = db.execute("SELECT build_id FROM deliveries WHERE key=?", (delivery,))
                found = row.fetchone()
                if found is not None:
                    return Enqueued(int(found[0] or 0), duplicate=True)
            same = db.execute(
                "SELECT id FROM builds WHERE repo=? AND ref=? AND sha=? AND status IN (?, ?)",
                (spec["repo"], spec["ref"], spec["sha"], *ACTIVE),
            ).fetchone()
            if same is not None:
                build_id, duplicate = int(same[0]), True
            else:
                build_id, duplicate = self._insert(db, spec, delivery), False
            if delivery is not None:
                self._record(db, delivery, mac, build_id)
        return Enqueued(build_id, duplicate)

    @staticmethod
    def _insert(db: sqlite3.Connection, spec: dict[str, Any], delivery: str | None) -> int:
        cur = db.execute(
            "INSERT INTO builds (repo, ref, sha, image, status, spec, delivery, created)"
            " VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
            (spec["repo"], spec["ref"], spec["sha"], spec["image"], json.dumps(spec), delivery,
             time.time()),
        )  # fmt: skip
        return int(cur.lastrowid or 0)

    def claim_next(self, repo: str) -> Build | None:
        """Mark the oldest queued build of `repo` running and return it."""
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM builds WHERE repo=? AND status='queued' ORDER BY id LIMIT 1", (repo,)
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE builds SET status='running', started=?, pid=NULL WHERE id=?",
                (time.time(), row["id"]),
            )
        return self.get(int(row["id"]))

    def requeue_running(self, repo: str | None = None) -> list[Build]:
        """Put interrupted builds back in the queue; return them as they were."""
        where, args = (
            ("status='running'", ()) if repo is None else ("status='running' AND repo=?", (repo,))
        )
        with self._tx() as db:
            rows = db.execute(f"SELECT * FROM builds WHERE {where}", args).fetchall()
            db.execute(f"UPDATE builds SET status='queued', started=NULL WHERE {where}", args)
        return [_build(r) for r in rows]

    def set_running(self, build_id: int, *, pid: int | None, log_path: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE builds SET pid=?, log_path=? WHERE id=?", (pid, log_path, build_id))

    def finish(
        self, build_id: int, status: str, *, exit_code: int | None, image_id: str | None = None,
        error: str | None = None, superseded_by: int | None = None,
    ) -> None:  # fmt: skip
        """Record the end of a running build; `error` is redacted (no URL credentials)."""
        text = redact_text(error)[:4000] if error else None
        with self._tx() as db:
            db.execute(
                "UPDATE builds SET status=?, exit_code=?, image_id=?, error=?, finished=?,"
                " pid=NULL, superseded_by=? WHERE id=? AND status='running'",
                (status, exit_code, image_id, text, time.time(), superseded_by, build_id),
            )

    def same_ref(self, build: Build) -> list[Build]:
        """Other builds of `build`'s repository and ref, of another commit, that are queued
        or have run (newest first): the candidates that may contain its commit."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM builds WHERE repo=? AND ref=? AND sha<>? AND id<>?"
                " AND status IN ('queued', 'running', 'succeeded', 'failed', 'deploy_failed')"
                " AND (exit_code IS NOT NULL OR status IN ('queued', 'running'))"
                " ORDER BY id DESC LIMIT 200",
                (build.repo, build.ref, build.sha, build.id),
            ).fetchall()
        return [_build(r) for r in rows]

    def get(self, build_id: int) -> Build | None:
        with self._tx() as db:
            row = db.execute("SELECT * FROM builds WHERE id=?", (build_id,)).fetchone()
        return None if row is None else _build(row)

    def recent(self, *, limit: int = 100, repo: str | None = None) -> list[Build]:
        query, args = "SELECT * FROM builds", ()  # type: tuple[str, tuple[Any, ...]]
        if repo is not None:
            query, args = query + " WHERE repo=?", (repo,)
        with self._tx() as db:
            rows = db.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_build(r) for r in rows]

    def has_queued(self, repo: str) -> bool:
        with self._tx() as db:
            row = db.execute(
                "SELECT 1 FROM builds WHERE repo=? AND status='queued' LIMIT 1", (repo,)
            ).fetchone()
        return row is not None

    def repos_with_work(self) -> list[str]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT DISTINCT repo FROM builds WHERE status IN (?, ?)", ACTIVE
            ).fetchall()
        return [str(r[0]) for r in rows]


def _build(row: sqlite3.Row) -> Build:
    data = dict(row)
    data["spec"] = json.loads(data["spec"])
    return Build(**data)


def render_builds(builds: list[Build]) -> str:
    """The CLI listing: one line per build, newest first, its error (redacted) below it."""
    if not builds:
        return "no builds yet"
    lines = []
    for build in builds:
        branch = build.ref.removeprefix("refs/heads/")
        lines.append(f"#{build.id:<5} {build.status:<13} {build.repo} {branch} {build.sha[:12]}")
        if build.error:
            lines.append(f"       {redact_text(build.error)}")
    return "\n".join(lines)
