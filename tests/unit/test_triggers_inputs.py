"""What crosses the webhook's trust boundary gets a clear 4xx, never an exception: delivery
IDs, hook IDs, generic timestamps, Content-Length values, payload nesting and name lengths."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

import pytest
from nb2svc.triggers.events import parse_push
from nb2svc.triggers.httpguard import content_length
from nb2svc.triggers.refs import branch_of
from nb2svc.triggers.signatures import Rejected, sign_generic, verify

SECRET = b"topsecret"
NOW = 1_700_000_000
BODY = b'{"ref": "refs/heads/main", "after": "' + b"a" * 40 + b'", "repository": "o/r"}'


def github(delivery: str, hook: str | None = None) -> int:
    headers = {
        "x-github-event": "push",
        "x-github-delivery": delivery,
        "x-hub-signature-256": "sha256=" + hmac.new(SECRET, BODY, hashlib.sha256).hexdigest(),
    }
    if hook is not None:
        headers["x-github-hook-id"] = hook
    return status_of(lambda: verify("github", headers, BODY, SECRET, NOW))


def status_of(call: Callable[[], object]) -> int:
    try:
        call()
    except Rejected as exc:
        return exc.status
    return 200


@pytest.mark.parametrize(
    ("delivery", "hook", "expected"),
    [
        ("72d3162e-cc78-11e3-81ab-4c9367dc0958", "123", 200),
        ("x" * 200, None, 200),
        ("x" * 201, None, 400),  # cut to 200, two long IDs would be one delivery
        ("id with space", None, 400),
        ("naïve", None, 400),
        ("ok", "12:34", 400),
        ("ok", "²", 400),
    ],
)
def test_delivery_and_hook_ids_are_printable_ascii_or_400(
    delivery: str, hook: str | None, expected: int
) -> None:
    assert github(delivery, hook) == expected


@pytest.mark.parametrize("stamp", ["١٧٠٠٠٠٠٠٠٠", "+1700000000", "1_700_000_000", "9" * 5000])
def test_a_generic_timestamp_that_is_not_ascii_digits_is_403(stamp: str) -> None:
    headers = {
        "x-nb2svc-timestamp": stamp,
        "x-nb2svc-delivery": "g1",
        "x-nb2svc-signature-256": sign_generic(SECRET, BODY, NOW),
    }
    assert status_of(lambda: verify("generic", headers, BODY, SECRET, NOW)) == 403


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deeper than Python's recursion limit
        json.dumps(
            {"repository": "o/r", "ref": "refs/heads/" + "a" * 2000, "after": "a" * 40}
        ).encode(),
        b'{"repository": "o/r", "ref": "refs/heads/main", "after": 1e999}',
        b"\xff\xfe",
    ],
    ids=["deep", "long-ref", "number", "not-utf8"],
)
def test_hostile_payloads_are_400(body: bytes) -> None:
    assert status_of(lambda: parse_push("generic", body)) == 400


def test_branch_names_over_255_characters_are_not_branches() -> None:
    assert branch_of("refs/heads/" + "a" * 255) == "a" * 255
    assert branch_of("refs/heads/" + "a" * 256) is None


@pytest.mark.parametrize(
    ("values", "encoding", "expected"),
    [
        (["12"], None, 200),
        (["12", "12"], None, 200),
        (["²"], None, 400),
        (["١٢"], None, 400),
        ([" 1_2"], None, 400),
        (["12", "13"], None, 400),
        (["1" * 13], None, 400),
        (["101"], None, 413),
        (None, None, 411),
        (["12"], "chunked", 411),
    ],
)
def test_content_length_is_strict(
    values: list[str] | None, encoding: str | None, expected: int
) -> None:
    assert status_of(lambda: content_length(values, encoding, 100)) == expected
