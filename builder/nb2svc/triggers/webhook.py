"""`nb2svc webhook serve`: receive push webhooks, queue builds, serve the build history.

POST /hooks/{repo-id}   a forge delivery for the configured repository `repo-id`
GET  /builds            the latest builds (JSON)
GET  /builds/{id}       one build with the tail of its log
GET  /healthz           liveness

Answers to POST: 202 queued (or ignored, with the reason), 200 duplicate delivery,
400 malformed or no delivery ID, 401 no credential, 403 wrong credential or replay,
404 unknown repo-id, 408/411/413 a body that is late, has no Content-Length or is over
`max_body_bytes`, 503 too many requests in progress (`httpguard.py`).
Builds run in one worker thread per repository; on start, queued and interrupted
(`running`) builds from the history are picked up again.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from nb2svc.redact import redact_text, redact_url
from nb2svc.triggers.config import RepoConfig, WebhookConfig
from nb2svc.triggers.events import parse_push
from nb2svc.triggers.history import History
from nb2svc.triggers.httpguard import DEFAULT_READ_TIMEOUT, GuardedServer, content_length
from nb2svc.triggers.queue import drain
from nb2svc.triggers.refs import branch_of
from nb2svc.triggers.runner import Runner
from nb2svc.triggers.signatures import Rejected, Verified, verify

LOG_TAIL_BYTES = 64 * 1024
_BUILD_ID = re.compile(r"[0-9]{1,15}")


class Service:
    """State shared by request threads: config, history, runner and per-repo workers."""

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.history = History(config.state_dir / "history.sqlite")
        sources = {rid: repo.clone_url for rid, repo in config.repos.items()}
        self.runner = Runner(self.history, config.state_dir, sources)
        self._wake: dict[str, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def kick(self, repo: str) -> None:
        """Wake the repository's worker, starting it if needed."""
        with self._lock:
            event = self._wake.get(repo)
            if event is None:
                event = self._wake[repo] = threading.Event()
                thread = threading.Thread(target=self._work, args=(repo, event), daemon=True)
                self._threads.append(thread)
                thread.start()
        event.set()

    def _work(self, repo: str, event: threading.Event) -> None:
        """The repository's worker: drain its queue whenever woken, until the server stops.

        A build's own failures are recorded by the runner; anything else (the history file
        unwritable, say) is printed and retried with a growing pause, never the end of it."""
        pause = 1.0
        while not self.runner.stopping.is_set():
            event.wait()
            event.clear()
            if self.runner.stopping.is_set():
                break
            try:
                drain(self.runner, repo, block=True)
                pause = 1.0
            except Exception as exc:  # the worker outlives any one fault
                message = redact_text(f"{type(exc).__name__}: {exc}")
                print(f"nb2svc webhook: worker of {repo}: {message}", file=sys.stderr, flush=True)
                self.runner.stopping.wait(pause)
                pause = min(pause * 2, 60.0)
                event.set()

    def recover(self) -> None:
        for repo in self.history.repos_with_work():
            self.kick(repo)

    def stop(self) -> None:
        self.runner.stop()
        with self._lock:
            for event in self._wake.values():
                event.set()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=30)

    def receive(
        self, repo: RepoConfig, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        """Authenticate, deduplicate, filter and queue one delivery."""
        verified = verify(repo.forge, headers, body, repo.secret, time.time())
        seen = self._seen(verified)
        if seen is not None:
            return seen
        if verified.event != "push":
            self.history.remember(verified.delivery, verified.mac, None)
            return 202, {"status": "ignored", "reason": f"event {verified.event!r} is not a push"}
        push = parse_push(repo.forge, body)
        reason = _ignore_reason(repo, push.repository, push.ref, push.deleted)
        if reason is not None:
            self.history.remember(verified.delivery, verified.mac, None)
            return 202, {"status": "ignored", "reason": reason}
        spec = {
            "repo": repo.id, "source": redact_url(repo.clone_url), "ref": push.ref,
            "sha": push.after, "git_timeout": repo.git_timeout,
            "image": f"{repo.image}:{push.after[:12]}", "notebooks": list(repo.notebooks),
            "build_command": list(repo.build_command) if repo.build_command else None,
            "deploy": repo.deploy, "timeout": repo.timeout, **push_settings(repo),
        }  # fmt: skip
        queued = self.history.enqueue(spec, delivery=verified.delivery, mac=verified.mac)
        self.kick(repo.id)
        status = "duplicate" if queued.duplicate else "queued"
        return (200 if queued.duplicate else 202), {"status": status, "build": queued.build_id}

    def _seen(self, verified: Verified) -> tuple[int, dict[str, Any]] | None:
        build = self.history.seen_delivery(verified.delivery)
        if build is not None:
            return 200, {"status": "duplicate", "build": build or None}
        owner = self.history.mac_owner(verified.mac)
        if owner is not None:
            raise Rejected(403, "this signed body was already delivered under another ID (replay)")
        return None


def push_settings(repo: RepoConfig) -> dict[str, Any]:
    """The queued build's push keys (paths as text: the history stores JSON)."""
    return {
        "push": repo.push, "authfile": str(repo.authfile) if repo.authfile else None,
        "tls_verify": repo.tls_verify, "cert_dir": str(repo.cert_dir) if repo.cert_dir else None,
    }  # fmt: skip


def _ignore_reason(repo: RepoConfig, name: str, ref: str, deleted: bool) -> str | None:
    if name.lower() != repo.name.lower():
        return f"repository {name[:200]!r} is not {repo.name!r}"
    branch = branch_of(ref)
    if branch is None or branch not in repo.branches:
        return f"ref {ref[:200]!r} is not a configured branch"
    if deleted:
        return "branch deleted"
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = "nb2svc-webhook"
    service: Service  # set on the subclass made by make_server
    server: GuardedServer
    timeout = DEFAULT_READ_TIMEOUT  # each read of the request; make_server sets the config's

    def do_GET(self) -> None:
        self.server.reading_done(self.connection)
        self._answer(self._get)

    def do_POST(self) -> None:
        self._answer(self._post)

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._send(405, {"error": f"{self.command} is not served: GET /builds, POST /hooks/NAME"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_TRACE = do_CONNECT = _not_allowed

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a bad request line, an unknown method, headers
        too long) as the same JSON answers as the rest, on a closed connection."""
        self.close_connection = True
        self.request_version = "HTTP/1.0"  # never an HTTP/0.9 answer without a status line
        self._send(code, {"error": message or HTTPStatus(code).phrase})

    def _answer(self, work: Callable[[], tuple[int, dict[str, Any]]]) -> None:
        """Send what `work` returns; a Rejected is its 4xx, anything else a logged 500."""
        try:
            status, answer = work()
        except Rejected as exc:
            status, answer = exc.status, {"error": exc.reason}
        except Exception as exc:  # a bug: answered and logged, the server goes on
            self.log_error("%s", redact_text(f"internal error: {type(exc).__name__}: {exc}"))
            status, answer = 500, {"error": "internal error (see the server's log)"}
        self._send(status, answer)

    def _get(self) -> tuple[int, dict[str, Any]]:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/healthz":
            return 200, {"status": "ok"}
        if path == "/builds":
            return 200, {"builds": [b.to_json() for b in self.service.history.recent()]}
        number = path.removeprefix("/builds/")
        if path.startswith("/builds/") and _BUILD_ID.fullmatch(number):
            return self._build(int(number))
        return 404, {"error": "not found"}

    def _build(self, build_id: int) -> tuple[int, dict[str, Any]]:
        build = self.service.history.get(build_id)
        if build is None:
            return 404, {"error": f"no build {build_id}"}
        data = build.to_json()
        data["log"] = _tail(build.log_path)
        return 200, data

    def _post(self) -> tuple[int, dict[str, Any]]:
        path = self.path.split("?", 1)[0]
        repo = self.service.config.repos.get(path.removeprefix("/hooks/"))
        if not path.startswith("/hooks/") or repo is None:
            self.close_connection = True
            return 404, {"error": "no such hook"}
        body = self._body()
        return self.service.receive(repo, _lower(self.headers.items()), body)

    def _body(self) -> bytes:
        try:
            length = content_length(
                self.headers.get_all("Content-Length"), self.headers.get("Transfer-Encoding"),
                self.service.config.max_body_bytes,
            )  # fmt: skip
        except Rejected:
            self.close_connection = True
            raise
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            raise Rejected(408, "the body did not arrive in time") from None
        self.server.reading_done(self.connection)
        if len(body) != length:
            self.close_connection = True
            raise Rejected(400, f"body ended after {len(body)} of {length} bytes")
        return body

    def _send(self, status: int, data: dict[str, Any]) -> None:
        body = json.dumps(data, indent=1).encode() + b"\n"
        try:
            self.send_response(status, HTTPStatus(status).phrase)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client went away (or was cut off): nothing to answer
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        line = redact_text((format % args).encode("ascii", "backslashreplace").decode())
        sys.stderr.write(f"nb2svc webhook: {self.address_string()} {line[:500]}\n")


def _lower(items: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in items}


def _tail(log_path: str | None) -> str:
    if not log_path:
        return ""
    try:
        with Path(log_path).open("rb") as log:
            log.seek(0, 2)
            log.seek(max(0, log.tell() - LOG_TAIL_BYTES))
            return log.read().decode(errors="replace")
    except OSError:
        return ""


def make_server(service: Service) -> GuardedServer:
    config = service.config
    handler = type("BoundHandler", (Handler,), {"service": service, "timeout": config.read_timeout})
    return GuardedServer(
        (config.bind, config.port), handler, max_connections=config.max_connections,
        read_timeout=config.read_timeout,
    )  # fmt: skip


def serve(config: WebhookConfig) -> int:
    """Serve until SIGTERM/SIGINT; running builds are stopped and stay queued for next start.

    The variables that held webhook secrets are removed from this process's environment
    (they are read already), so no build or git it starts inherits them."""
    for repo in config.repos.values():
        if repo.secret_env:
            os.environ.pop(repo.secret_env, None)
    service = Service(config)
    server = make_server(service)
    host, port = server.server_address[:2]
    print(f"nb2svc webhook: listening on http://{host!s}:{port}", flush=True)

    def _stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    service.recover()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        service.stop()
        server.server_close()
    return 0
