"""Hypothesis against the real webhook server on 127.0.0.1: arbitrary methods, paths, headers,
Content-Lengths, signatures (right and wrong) and bodies (JSON pushes with hostile fields,
or bytes). The server never answers a 5xx other than its deliberate 503, keeps answering,
and leaves no request thread behind (issue #13, "Checks").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nb2svc.triggers.signatures import sign_generic
from trigger_support import (
    SECRET,
    Server,
    serving,
    status_of,
    wait_for,
)

REPOS: dict[str, dict[str, object]] = {
    "churn": {},
    "gen": {"forge": "generic"},
    "lab": {"forge": "gitlab"},
}

HEADER_NAMES = [
    "Content-Length", "Transfer-Encoding", "Content-Type", "X-GitHub-Event", "X-GitHub-Delivery",
    "X-GitHub-Hook-ID", "X-Hub-Signature-256", "X-Gitlab-Token", "X-Gitlab-Event",
    "X-Gitlab-Event-UUID", "Idempotency-Key", "X-Nb2svc-Timestamp", "X-Nb2svc-Signature-256",
    "X-Nb2svc-Delivery", "X-Nb2svc-Event", "Expect", "Connection",
]  # fmt: skip
PATHS = [
    "/hooks/churn", "/hooks/churn", "/hooks/gen", "/hooks/gen", "/hooks/lab", "/hooks/lab",
    "/hooks/", "/builds", "/builds/1", "/builds/\xb2", "/healthz", "/hooks/churn?x=1",
]  # fmt: skip
FORGE_OF = {"/hooks/churn": "github", "/hooks/gen": "generic", "/hooks/lab": "gitlab"}
header_value = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60),
    st.sampled_from(["", "push", "Push Hook", "ping", "0", "\xb2", "-1", "1_0", "99999999999999"]),
)
fields = st.one_of(
    st.text(max_size=40), st.integers(), st.none(), st.booleans(),
    st.sampled_from(["refs/heads/main", "refs/heads/$(id)", "refs/pull/1/head", "0" * 40,
                     "a" * 40, "acme/churn", "acme/gen", "acme/lab", "refs/heads/" + "x" * 300]),
)  # fmt: skip
json_value = st.recursive(
    fields, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)  # fmt: skip
push = st.fixed_dictionaries(
    {"ref": fields, "after": fields, "checkout_sha": fields, "repository": json_value,
     "project": st.fixed_dictionaries({"path_with_namespace": fields})},
)  # fmt: skip
oid = st.sampled_from(["0" * 40, "a" * 40]) | st.text("0123456789abcdef", min_size=40, max_size=40)
real_push = st.fixed_dictionaries(
    {"ref": st.sampled_from(["refs/heads/main", "refs/heads/dev", "refs/tags/v1"]),
     "after": oid, "checkout_sha": oid,
     "repository": st.sampled_from([{"full_name": "acme/churn"}, "acme/gen", "acme/other"]),
     "project": st.just({"path_with_namespace": "acme/lab"})},
)  # fmt: skip
body = st.one_of(  # the first strategies are drawn most: the ones that get furthest
    real_push.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=300),
    push.map(lambda d: json.dumps(d).encode()),
    json_value.map(lambda d: json.dumps(d).encode()),
    st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(["POST", "GET"]))
    path = draw(st.sampled_from([*PATHS, "random"]))
    if path == "random":
        path = "/" + draw(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E)))
    data = draw(body)
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_value), max_size=6))
    length = draw(st.sampled_from(["right", "missing", "wrong", "short"]))
    if length == "right":
        headers.append(("Content-Length", str(len(data))))
    elif length == "short":
        headers.append(("Content-Length", str(len(data) + 10)))
    elif length == "wrong":
        headers.append(("Content-Length", draw(header_value)))
    signing = draw(st.sampled_from(["match", "github", "generic", "gitlab", "none"]))
    if signing == "match":  # signed as the path's forge signs: the requests that get further
        signing = FORGE_OF.get(path.split("?", 1)[0], "none")
    delivery = draw(st.sampled_from(["d1", str(draw(st.integers(0, 10**9)))]))
    if signing == "github":
        mac = hmac.new(SECRET, data, hashlib.sha256).hexdigest()
        headers += [("X-Hub-Signature-256", f"sha256={mac}"), ("X-GitHub-Event", "push"),
                    ("X-GitHub-Delivery", delivery)]  # fmt: skip
    elif signing == "generic":
        now = int(time.time())
        headers += [("X-Nb2svc-Timestamp", str(now)), ("X-Nb2svc-Delivery", delivery),
                    ("X-Nb2svc-Signature-256", sign_generic(SECRET, data, now))]  # fmt: skip
    elif signing == "gitlab":
        headers += [("X-Gitlab-Token", SECRET.decode()), ("X-Gitlab-Event", "Push Hook"),
                    ("X-Gitlab-Event-UUID", delivery)]  # fmt: skip
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers)
    return head.encode("latin-1") + b"\r\n" + data


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("fuzz")
    settings = {"max_body_bytes": 4096, "read_timeout": 2}
    build = [sys.executable, "-c", "pass"]
    with serving(tmp, REPOS, settings=settings, command=build, commits=1) as srv:
        yield srv


def threads(server: Server) -> int:
    assert server.proc is not None
    return len(list(Path(f"/proc/{server.proc.pid}/task").iterdir()))


def test_arbitrary_requests_never_get_a_5xx_nor_stop_the_server(server: Server) -> None:
    answers: dict[int, int] = {}

    @settings(
        max_examples=300,
        deadline=5000,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests())
    def one(request: bytes) -> None:
        answer = server.raw(request)
        status = status_of(answer)
        answers[status] = answers.get(status, 0) + 1
        assert status != 0, "no answer"  # a handler that crashed just closes the connection
        assert not 500 <= status < 600 or status == 503, answer[:400]
        assert server.proc is not None
        assert server.proc.poll() is None, "the server died"

    one()
    assert server.get("/healthz") == {"status": "ok"}
    # Every request thread has ended: what is left is the main thread and the workers of the
    # repositories that got a signed push (at most one each) and the 503 thread.
    wait_for(lambda: threads(server) <= 1 + 3 + 1, "request threads to end", timeout=10)
    # The requests went deep: queued builds, bad JSON, missing and wrong credentials, ...
    assert {202, 400, 401, 403, 404, 411}.issubset(answers), sorted(answers.items())
