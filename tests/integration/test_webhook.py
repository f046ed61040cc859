"""`nb2svc webhook serve` as a real process on 127.0.0.1, driven by real HTTP requests.

The configured repository is a local bare repository; builds run a small real stand-in for
`nb2svc build` that records the checkout's HEAD and waits for a gate file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from nb2svc.triggers.signatures import sign_generic
from trigger_support import (
    SECRET,
    Server,
    git,
    github_headers,
    github_push,
    serving,
    wait_for,
)

REPOS: dict[str, dict[str, object]] = {
    "churn": {"forge": "github", "branches": ["main", "dev"], "image": "localhost/churn"},
    "lab": {"forge": "gitlab"},
    "tea": {"forge": "gitea"},
    "gen": {"forge": "generic"},
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    settings = {"max_body_bytes": 65536}
    # The secret file ends in a newline, as files do.
    with serving(tmp_path, REPOS, settings=settings, secret=SECRET + b"\n") as srv:
        yield srv


def test_valid_github_push_is_recorded_and_built(server: Server) -> None:
    body = github_push(server.shas[0])
    status, answer = server.post("/hooks/churn", body, github_headers(body))
    assert (status, answer["status"]) == (202, "queued")
    (server.tmp / "gate").touch()
    wait_for(lambda: server.statuses() == ["succeeded"], "the build")
    (entry,) = server.entries("end")
    assert entry["head"] == server.shas[0]
    assert f"--tag=localhost/churn:{server.shas[0][:12]}" in entry["argv"]
    build = server.get(f"/builds/{answer['build']}")
    assert build["sha"] == server.shas[0]
    assert build["ref"] == "refs/heads/main"
    assert "standin.py" in build["log"]


def test_unsigned_badly_signed_and_replayed_requests_queue_nothing(server: Server) -> None:
    body = github_push(server.shas[0])
    good = github_headers(body)
    unsigned = {k: v for k, v in good.items() if k != "X-Hub-Signature-256"}
    assert server.post("/hooks/churn", body, unsigned)[0] == 401
    wrong = dict(good, **{"X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert server.post("/hooks/churn", body, wrong)[0] == 403
    # The signature of one body replayed on another (a different commit):
    other = github_push(server.shas[1])
    assert server.post("/hooks/churn", other, good)[0] == 403
    # Another repository's hook secret is not this one's: the payload must be signed for it.
    assert server.post("/hooks/lab", body, good)[0] == 401
    assert server.get("/builds")["builds"] == []
    # The real delivery, then the same signed body replayed under a new delivery ID:
    assert server.post("/hooks/churn", body, good)[0] == 202
    replay = dict(good, **{"X-GitHub-Delivery": str(uuid.uuid4())})
    status, answer = server.post("/hooks/churn", body, replay)
    assert (status, "replay" in answer["error"]) == (403, True)
    assert len(server.get("/builds")["builds"]) == 1


def test_duplicate_delivery_builds_once(server: Server) -> None:
    body = github_push(server.shas[0])
    headers = github_headers(body)
    first = server.post("/hooks/churn", body, headers)
    second = server.post("/hooks/churn", body, headers)
    assert first == (202, {"status": "queued", "build": 1})
    assert second == (200, {"status": "duplicate", "build": 1})
    (server.tmp / "gate").touch()
    wait_for(lambda: server.statuses() == ["succeeded"], "the build")
    assert server.post("/hooks/churn", body, headers)[0] == 200
    assert len(server.entries("start")) == 1


def test_oversized_non_push_and_filtered_requests(server: Server) -> None:
    big = b"{" + b" " * 70000 + b"}"
    assert server.post("/hooks/churn", big, github_headers(big))[0] == 413
    ping = b'{"zen": "hi"}'
    status, answer = server.post("/hooks/churn", ping, github_headers(ping, event="ping"))
    assert (status, answer["status"]) == (202, "ignored")
    for body in (
        github_push(server.shas[0], ref="refs/heads/other"),
        github_push(server.shas[0], ref="refs/heads/$(touch${IFS}pwned)"),
        github_push(server.shas[0], repo="evil/churn"),
        github_push("0" * 40),
    ):
        status, answer = server.post("/hooks/churn", body, github_headers(body))
        assert (status, answer["status"]) == (202, "ignored"), answer
    bad = json.dumps({"ref": "refs/heads/main", "after": "; rm -rf /",
                      "repository": {"full_name": "acme/churn"}}).encode()  # fmt: skip
    assert server.post("/hooks/churn", bad, github_headers(bad))[0] == 400
    assert server.post("/hooks/nope", ping, github_headers(ping))[0] == 404
    assert server.get("/builds")["builds"] == []
    assert not list(server.tmp.rglob("pwned"))


def test_gitlab_gitea_forgejo_and_generic_schemes(server: Server) -> None:
    sha = server.shas[2]
    project = {"path_with_namespace": "acme/lab"}
    lab = json.dumps({"object_kind": "push", "ref": "refs/heads/main", "checkout_sha": sha,
                      "after": sha, "project": project}).encode()  # fmt: skip
    lab_headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "e1"}
    assert server.post("/hooks/lab", lab, lab_headers)[0] == 401
    assert server.post("/hooks/lab", lab, {**lab_headers, "X-Gitlab-Token": "nope"})[0] == 403
    ok = {**lab_headers, "X-Gitlab-Token": SECRET.decode()}
    assert server.post("/hooks/lab", lab, ok)[0] == 202
    tea = github_push(sha, repo="acme/tea")
    mac = hmac.new(SECRET, tea, hashlib.sha256).hexdigest()
    gitea = {"X-Gitea-Event": "push", "X-Gitea-Delivery": "d1", "X-Gitea-Signature": mac}
    assert server.post("/hooks/tea", tea, {**gitea, "X-Gitea-Signature": "ab"})[0] == 403
    assert server.post("/hooks/tea", tea, gitea)[0] == 202
    forgejo_body = github_push(server.shas[1], repo="acme/tea")
    forgejo = {
        "X-Forgejo-Event": "push",
        "X-Forgejo-Delivery": "d2",
        "X-Forgejo-Signature": hmac.new(SECRET, forgejo_body, hashlib.sha256).hexdigest(),
    }
    assert (
        server.post("/hooks/tea", forgejo_body, {**forgejo, "X-Forgejo-Signature": mac})[0] == 403
    )
    assert server.post("/hooks/tea", forgejo_body, forgejo)[0] == 202
    gen = json.dumps({"repository": "acme/gen", "ref": "refs/heads/main", "after": sha}).encode()
    now = int(time.time())
    signed = {"X-Nb2svc-Timestamp": str(now), "X-Nb2svc-Delivery": "g1",
              "X-Nb2svc-Signature-256": sign_generic(SECRET, gen, now)}  # fmt: skip
    stale = {"X-Nb2svc-Timestamp": str(now - 3600), "X-Nb2svc-Delivery": "g2",
             "X-Nb2svc-Signature-256": sign_generic(SECRET, gen, now - 3600)}  # fmt: skip
    assert server.post("/hooks/gen", gen, stale)[0] == 403
    assert server.post("/hooks/gen", gen, signed)[0] == 202
    repos = {b["repo"] for b in server.get("/builds")["builds"]}
    assert repos == {"lab", "tea", "gen"}


def test_restart_keeps_history_queue_and_deliveries(server: Server) -> None:
    # Two branches, so that neither build contains the other's commit.
    git("push", "-q", str(server.tmp / "churn.git"), f"{server.shas[1]}:refs/heads/dev",
        cwd=server.tmp / "work")  # fmt: skip
    bodies = [github_push(server.shas[0]), github_push(server.shas[1], ref="refs/heads/dev")]
    headers = [github_headers(b) for b in bodies]
    assert server.post("/hooks/churn", bodies[0], headers[0])[0] == 202
    wait_for(lambda: server.entries("start"), "the first build to start")
    assert server.post("/hooks/churn", bodies[1], headers[1])[0] == 202
    assert server.statuses() == ["running", "queued"]
    server.stop(signal.SIGKILL)  # a crash in the middle of build #1
    server.start()
    # The delivery is remembered across the restart: no second build for it.
    assert server.post("/hooks/churn", bodies[0], headers[0]) == (
        200, {"status": "duplicate", "build": 1},
    )  # fmt: skip
    wait_for(lambda: len(server.entries("start")) == 2, "build #1 to be started again")
    (server.tmp / "gate").touch()
    wait_for(lambda: server.statuses() == ["succeeded", "succeeded"], "both builds")
    heads = [e["head"] for e in server.entries("end")]
    # The orphan of the crashed server was stopped; #1 ran again, then #2.
    assert heads == [server.shas[0], server.shas[1]]


def test_sigterm_requeues_the_running_build(server: Server) -> None:
    body = github_push(server.shas[0])
    assert server.post("/hooks/churn", body, github_headers(body))[0] == 202
    wait_for(lambda: server.entries("start"), "the build to start")
    server.stop(signal.SIGTERM)
    assert server.entries("end") == [], "the build was stopped, not finished"
    server.start()
    assert server.statuses() in (["queued"], ["running"])
    (server.tmp / "gate").touch()
    wait_for(lambda: server.statuses() == ["succeeded"], "the build after restart")
