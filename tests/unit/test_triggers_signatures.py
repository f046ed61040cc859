"""Webhook authentication per forge, on raw bodies (no server)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from nb2svc.triggers.events import parse_push
from nb2svc.triggers.signatures import Rejected, sign_generic, verify

SECRET = b"topsecret"
BODY = (
    b'{"ref": "refs/heads/main", "after": "' + b"a" * 40 + b'", "repository": {"full_name": "o/r"}}'
)
MAC = hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()
NOW = 1_700_000_000.0


def status(forge: str, headers: dict[str, str], body: bytes = BODY) -> int:
    try:
        verify(forge, {k.lower(): v for k, v in headers.items()}, body, SECRET, NOW)
    except Rejected as exc:
        return exc.status
    return 200


def test_github() -> None:
    base = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d"}
    assert status("github", {**base, "X-Hub-Signature-256": f"sha256={MAC}"}) == 200
    assert status("github", base) == 401
    assert status("github", {**base, "X-Hub-Signature-256": MAC}) == 403  # no prefix
    assert status("github", {**base, "X-Hub-Signature-256": f"sha256={MAC}"}, BODY + b" ") == 403
    legacy = hmac.new(SECRET, BODY, hashlib.sha1).hexdigest()
    assert status("github", {**base, "X-Hub-Signature": f"sha1={legacy}"}) == 401
    no_id = {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={MAC}"}
    assert status("github", no_id) == 400


def test_github_delivery_key_includes_hook_id() -> None:
    headers = {
        "x-github-delivery": "g",
        "x-github-hook-id": "7",
        "x-hub-signature-256": f"sha256={MAC}",
    }
    assert verify("github", headers, BODY, SECRET, NOW).delivery == "github:7:g"


@pytest.mark.parametrize("header", ["X-Gitea-Signature", "X-Forgejo-Signature"])
def test_gitea_and_forgejo_hex_signatures(header: str) -> None:
    base = {"X-Gitea-Delivery": "d", "X-Gitea-Event": "push"}
    assert status("gitea", {**base, header: MAC}) == 200
    assert status("forgejo", {**base, header: MAC}) == 200
    assert status("gitea", {**base, header: "sha256=" + MAC}) == 403
    assert status("gitea", base) == 401
    assert status("gitea", {**base, "X-Hub-Signature-256": f"sha256={MAC}"}) == 200


def test_gitlab_token() -> None:
    base = {"X-Gitlab-Event": "Push Hook", "Idempotency-Key": "k", "X-Gitlab-Event-UUID": "u"}
    assert status("gitlab", {**base, "X-Gitlab-Token": "topsecret"}) == 200
    assert status("gitlab", {**base, "X-Gitlab-Token": "topsecreT"}) == 403
    assert status("gitlab", base) == 401
    headers = {k.lower(): v for k, v in {**base, "X-Gitlab-Token": "topsecret"}.items()}
    got = verify("gitlab", headers, BODY, SECRET, NOW)
    assert (got.event, got.delivery) == ("push", "gitlab:k")


def test_generic_signature_and_time_window() -> None:
    def headers(ts: int, sig: str | None = None) -> dict[str, str]:
        return {"X-Nb2svc-Timestamp": str(ts), "X-Nb2svc-Delivery": "d",
                "X-Nb2svc-Signature-256": sig or sign_generic(SECRET, BODY, ts)}  # fmt: skip

    assert status("generic", headers(int(NOW))) == 200
    assert status("generic", headers(int(NOW) - 299)) == 200
    assert status("generic", headers(int(NOW) - 301)) == 403
    assert status("generic", headers(int(NOW) + 1, sign_generic(SECRET, BODY, int(NOW)))) == 403
    assert status("generic", {"X-Nb2svc-Delivery": "d"}) == 401


def test_empty_secret_refuses_everything() -> None:
    empty_mac = hmac.new(b"", BODY, hashlib.sha256).hexdigest()
    with pytest.raises(Rejected) as err:
        verify("github", {"x-hub-signature-256": f"sha256={empty_mac}"}, BODY, b"", NOW)
    assert err.value.status == 403


def test_push_payloads_per_forge() -> None:
    sha = "b" * 40
    lab = (
        b'{"ref": "refs/heads/main", "checkout_sha": "'
        + sha.encode()
        + b'", "after": "'
        + sha.encode()
        + b'", "project": {"path_with_namespace": "g/p"}}'
    )
    assert parse_push("gitlab", lab).repository == "g/p"
    gen = b'{"repository": "x/y", "ref": "refs/heads/main", "commit": "' + sha.encode() + b'"}'
    assert parse_push("generic", gen).after == sha
    assert parse_push("github", BODY).repository == "o/r"
    for bad in (
        b"[]",
        b"not json",
        b'{"ref": "refs/heads/main", "after": "HEAD~1", "repository": {"full_name": "o/r"}}',
    ):
        with pytest.raises(Rejected):
            parse_push("github", bad)
