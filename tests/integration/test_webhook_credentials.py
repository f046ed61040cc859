"""A `clone_url` with a token in it: the clone uses it, nothing nb2svc records or serves
shows it (issue #13, item 1). The real server, real git, a fake token.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from trigger_support import (
    SECRET,
    Server,
    github_headers,
    github_push,
    serving,
    wait_for,
)

TOKEN = "ghs_FAKEtoken0123456789abcdef"
QUERY_TOKEN = "glpat-FAKEquerytoken42"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_dump(tmp: Path) -> list[str]:
    """A build command that writes its environment to `tmp/env.json`."""
    code = f"import json, os, pathlib; pathlib.Path({str(tmp / 'env.json')!r}).write_text("
    return [sys.executable, "-c", code + "json.dumps(dict(os.environ)))"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {**os.environ, "NB2SVC_TEST_WEBHOOK_SECRET": SECRET.decode()}
    bad_url = f"https://x-access-token:{TOKEN}@127.0.0.1:{closed_port()}/acme/churn.git"
    repos: dict[str, dict[str, object]] = {  # three ways to reach one repository
        "good": {"clone_url": f"file://x-access-token:{TOKEN}@{tmp_path / 'churn.git'}"},
        "bad": {"clone_url": f"{bad_url}?private_token={QUERY_TOKEN}"},
        "env": {"secret_file": None, "secret_env": "NB2SVC_TEST_WEBHOOK_SECRET",
                "build_command": env_dump(tmp_path)},
    }  # fmt: skip
    named = {key: {"name": "acme/churn", **fields} for key, fields in repos.items()}
    with serving(tmp_path, named, env=env) as srv:
        yield srv


def test_a_token_in_clone_url_is_used_but_never_logged_stored_or_served(server: Server) -> None:
    (server.tmp / "gate").touch()
    good = server.deliver(server.shas[2], "good")
    bad = server.deliver(server.shas[1], "bad")  # another body: the same one is a replay
    wait_for(lambda: server.get(f"/builds/{good}")["status"] == "succeeded", "the good build")
    wait_for(lambda: server.get(f"/builds/{bad}")["status"] == "failed", "the bad build")
    (entry,) = server.entries("end")
    assert entry["head"] == server.shas[2], "the clone used the URL with the token"
    assert entry["origin"] == f"file://{server.tmp / 'churn.git'}", "the checkout's origin"
    failed = server.get(f"/builds/{bad}")
    assert "cannot fetch branch main from https://127.0.0.1:" in failed["error"]
    assert "private_token=REDACTED" in failed["error"]
    served = [
        json.dumps(server.get(path))
        for path in ("/builds", f"/builds/{good}", f"/builds/{bad}", "/healthz")
    ]
    state = server.tmp / "state"
    written = {str(f): f.read_bytes() for f in state.rglob("*") if f.is_file()}
    assert any(name.endswith("build.log") for name in written)
    written["server.err"] = (server.tmp / "server.err").read_bytes()
    written["stand-in record"] = (server.tmp / "record.jsonl").read_bytes()
    listing = [
        subprocess.run(
            [sys.executable, "-m", "nb2svc.triggers", "webhook", "builds", "--config",
             str(server.config), *flag], capture_output=True, text=True, check=True,
        ).stdout
        for flag in ([], ["--json"])
    ]  # fmt: skip
    assert f"#{bad}" in listing[0]
    assert "private_token=REDACTED" in listing[0]
    served += listing
    for secret in (TOKEN, QUERY_TOKEN):
        assert not [text for text in served if secret in text], "served"
        assert not [name for name, data in written.items() if secret.encode() in data]


def test_builds_do_not_inherit_the_webhook_secret_from_secret_env(server: Server) -> None:
    build = server.deliver(server.shas[2], "env")
    wait_for(lambda: server.get(f"/builds/{build}")["status"] == "succeeded", "the build")
    environment = json.loads((server.tmp / "env.json").read_text())
    assert "NB2SVC_TEST_WEBHOOK_SECRET" not in environment
    assert SECRET.decode() not in json.dumps(environment)


def test_a_token_in_the_hook_urls_query_is_not_in_the_server_log(server: Server) -> None:
    body = github_push("0" * 40)
    status, _ = server.post(f"/hooks/good?token={QUERY_TOKEN}", body, github_headers(body))
    assert status < 500
    server.stop()
    log = (server.tmp / "server.err").read_text()
    assert "/hooks/good?token=REDACTED" in log
    assert QUERY_TOKEN not in log
