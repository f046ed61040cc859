"""Authenticate webhook deliveries, per forge, over the raw body before any JSON parsing.

- github: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`
- gitea / forgejo: `X-Forgejo-Signature` or `X-Gitea-Signature` (the same HMAC, hex, no prefix),
  or their GitHub-compatible `X-Hub-Signature-256`
- gitlab: `X-Gitlab-Token`, the secret itself
- generic: `X-Nb2svc-Signature-256: sha256=<hex HMAC-SHA256(secret, f"{ts}." + body)>` with
  `X-Nb2svc-Timestamp: <ts>` (Unix seconds, accepted within 5 minutes)

Every comparison is `hmac.compare_digest`. A missing credential is 401, a wrong one 403.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

GENERIC_WINDOW_SECONDS = 300
_DELIVERY_ID = re.compile(r"[\x21-\x7e]{1,200}")
_UNIX_TIME = re.compile(r"[0-9]{1,12}")
_HOOK_ID = re.compile(r"[0-9]{1,20}")
FORGES = ("github", "gitlab", "gitea", "forgejo", "generic")


class Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    event: str  # "push" for push events, else the forge's event name
    delivery: str  # deduplication key, "<forge>:<id>"
    mac: str  # HMAC of what was signed; the same body under another delivery is a replay


Headers = Mapping[str, str]  # lower-case names


def _hmac(secret: bytes, data: bytes) -> str:
    return hmac.new(secret, data, hashlib.sha256).hexdigest()


def _first(headers: Headers, *names: str) -> str | None:
    for name in names:
        value = headers.get(name.lower())
        if value:
            return value.strip()
    return None


def _delivery(forge: str, value: str | None) -> str:
    """The deduplication key; an ID that is not 1-200 printable ASCII characters is 400
    (cutting it short could make two deliveries one)."""
    if not value:
        raise Rejected(400, "no delivery ID header")
    if not _DELIVERY_ID.fullmatch(value):
        raise Rejected(400, "the delivery ID is not 1-200 printable ASCII characters")
    return f"{forge}:{value}"


def _check_hex(given: str, expected: str) -> None:
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Rejected(403, "signature does not match")


def verify_github(headers: Headers, body: bytes, secret: bytes, now: float) -> Verified:
    sig = _first(headers, "X-Hub-Signature-256")
    if sig is None:
        raise Rejected(401, "missing X-Hub-Signature-256")
    mac = _hmac(secret, body)
    _check_hex(sig, "sha256=" + mac)
    hook = _first(headers, "X-GitHub-Hook-ID") or "-"
    if hook != "-" and not _HOOK_ID.fullmatch(hook):
        raise Rejected(400, "X-GitHub-Hook-ID is not a number")
    guid = _first(headers, "X-GitHub-Delivery")
    event = (_first(headers, "X-GitHub-Event") or "").lower()
    return Verified(event, _delivery(f"github:{hook}", guid), mac)


def verify_gitea(headers: Headers, body: bytes, secret: bytes, now: float) -> Verified:
    mac = _hmac(secret, body)
    plain = _first(headers, "X-Forgejo-Signature", "X-Gitea-Signature")
    if plain is not None:
        _check_hex(plain, mac)
    else:
        github_style = _first(headers, "X-Hub-Signature-256")
        if github_style is None:
            raise Rejected(401, "missing X-Forgejo-Signature / X-Gitea-Signature")
        _check_hex(github_style, "sha256=" + mac)
    event = _first(headers, "X-Forgejo-Event", "X-Gitea-Event", "X-GitHub-Event") or ""
    guid = _first(headers, "X-Forgejo-Delivery", "X-Gitea-Delivery", "X-GitHub-Delivery")
    return Verified(event.lower(), _delivery("gitea", guid), mac)


def verify_gitlab(headers: Headers, body: bytes, secret: bytes, now: float) -> Verified:
    token = _first(headers, "X-Gitlab-Token")
    if token is None:
        raise Rejected(401, "missing X-Gitlab-Token")
    if not hmac.compare_digest(token.encode(), secret):
        raise Rejected(403, "X-Gitlab-Token does not match")
    event = (_first(headers, "X-Gitlab-Event") or "").lower()
    key = _first(headers, "Idempotency-Key", "X-Gitlab-Event-UUID")
    return Verified(
        "push" if event == "push hook" else event, _delivery("gitlab", key), _hmac(secret, body)
    )


def verify_generic(headers: Headers, body: bytes, secret: bytes, now: float) -> Verified:
    sig = _first(headers, "X-Nb2svc-Signature-256")
    stamp = _first(headers, "X-Nb2svc-Timestamp")
    if sig is None or stamp is None:
        raise Rejected(401, "missing X-Nb2svc-Signature-256 or X-Nb2svc-Timestamp")
    if not _UNIX_TIME.fullmatch(stamp):  # int() would take " 1_7", "١٧" and 5000 digits
        raise Rejected(403, "X-Nb2svc-Timestamp is not a Unix time")
    mac = _hmac(secret, stamp.encode() + b"." + body)
    _check_hex(sig, "sha256=" + mac)
    if abs(now - int(stamp)) > GENERIC_WINDOW_SECONDS:
        raise Rejected(403, "X-Nb2svc-Timestamp outside the 5 minute window (replay?)")
    event = (_first(headers, "X-Nb2svc-Event") or "push").lower()
    return Verified(event, _delivery("generic", _first(headers, "X-Nb2svc-Delivery")), mac)


VERIFIERS: dict[str, Callable[[Headers, bytes, bytes, float], Verified]] = {
    "github": verify_github,
    "gitea": verify_gitea,
    "forgejo": verify_gitea,
    "gitlab": verify_gitlab,
    "generic": verify_generic,
}


def verify(forge: str, headers: Headers, body: bytes, secret: bytes, now: float) -> Verified:
    if not secret:
        raise Rejected(403, "no secret configured for this repository")
    return VERIFIERS[forge](headers, body, secret, now)


def sign_generic(secret: bytes, body: bytes, timestamp: int) -> str:
    """The X-Nb2svc-Signature-256 value for a generic delivery (for senders and tests)."""
    return "sha256=" + _hmac(secret, str(timestamp).encode() + b"." + body)
