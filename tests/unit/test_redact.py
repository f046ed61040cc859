"""URLs made safe to record: no credentials survive, everything else does."""

from __future__ import annotations

from typing import Any

import pytest
from nb2svc import labels
from nb2svc.lock import Lock
from nb2svc.plan import NotebookRef, make_labels
from nb2svc.redact import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "recorded"),
    [
        ("https://gitlab-ci-token:TOK@gitlab.com/a/b.git", "https://gitlab.com/a/b.git"),
        ("https://x-access-token:TOK@github.com/a/b", "https://github.com/a/b"),
        ("https://TOK@github.com/a/b#main", "https://github.com/a/b#main"),
        ("https://u:TOK@host:8443/a", "https://host:8443/a"),
        (
            "https://host/a?private_token=TOK&ref=x",
            "https://host/a?private_token=REDACTED&ref=REDACTED",
        ),
        ("ssh://git@host/a.git", "ssh://git@host/a.git"),
        ("ssh://git:TOK@host/a.git", "ssh://host/a.git"),
        ("git@github.com:a/b.git", "git@github.com:a/b.git"),
        ("https://[::1:TOK@host/a", "https://host/a"),
        ("not a url", "not a url"),
    ],
)
def test_credentials_are_removed_and_the_rest_kept(url: str, recorded: str) -> None:
    assert redact_url(url) == recorded


def test_urls_inside_an_error_message_are_redacted() -> None:
    text = "fatal: unable to access 'https://x-access-token:TOK@github.com/a/': 403\nretry"
    assert redact_text(text) == "fatal: unable to access 'https://github.com/a/': 403\nretry"


def test_query_values_in_a_request_line_are_redacted() -> None:
    line = '"POST /hooks/churn?token=TOK&x=1 HTTP/1.1" 202 -'
    assert redact_text(line) == '"POST /hooks/churn?token=REDACTED&x=REDACTED HTTP/1.1" 202 -'


def test_redacting_twice_changes_nothing() -> None:
    once = redact_url("https://u:TOK@h/a?k=v")
    assert redact_url(once) == once
    text = redact_text("see https://u:TOK@h/a?k=v and /p?q=1")
    assert redact_text(text) == text
    assert "TOK" not in text


def test_the_source_label_never_holds_credentials() -> None:
    lock = Lock(
        text="pkg==1.0\n", packages={"pkg": "1.0"}, tool="uv 0.0", python_version="3.11",
        platform="linux", inputs_sha256="key",
    )  # fmt: skip
    common: dict[str, Any] = {
        "name": "m", "notebooks": (NotebookRef("nb.ipynb", "0" * 64),), "lock": lock,
        "runtime": "default", "python_version": "3.11", "revision": None, "created": "x",
    }  # fmt: skip
    found = make_labels(source="https://ci:TOK@git.example/repo.git", **common)
    assert found[labels.OCI_SOURCE] == "https://git.example/repo.git"
    assert labels.OCI_SOURCE not in make_labels(source=None, **common)
