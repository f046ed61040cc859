"""The one place that makes a URL safe to record: no credentials in what nb2svc writes or prints.

A git remote can carry a token (`https://gitlab-ci-token:TOKEN@host/...`,
`https://x-access-token:TOKEN@github.com/...`, `?private_token=...`). Everything that records
or prints a URL (image labels, the Containerfile, annotations, report.json, build logs, trigger
errors) passes it through `redact_url` or, for free text such as git's stderr, `redact_text`.
See docs/security.md.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

REDACTED = "REDACTED"
# scheme://[userinfo@]host...: the userinfo is what carries a token.
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
# `?key=value` / `&key=value` in a path outside a scheme URL (a request line, a relative URL).
_QUERY_IN_TEXT = re.compile(r"([?&][^\s=&#?'\"]+=)(?!REDACTED)[^\s&#'\"]+")
# scp-like git remotes (`user@host:path`) carry no password; only scheme URLs are rewritten.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def redact_url(url: str) -> str:
    """`url` without userinfo (the user name is kept for ssh) and without query values.

    Anything that is not a scheme URL (an scp-like remote, a plain word) is returned as is.
    """
    if not _SCHEME.match(url):
        return url
    try:
        parts = urlsplit(url)
        user = parts.username if parts.scheme == "ssh" and parts.password is None else None
    except ValueError:
        return _strip_userinfo_textually(url)
    netloc = parts.netloc
    if "@" in netloc:
        hostport = netloc.rsplit("@", 1)[1]
        netloc = f"{user}@{hostport}" if user else hostport
    query = _redact_query(parts.query)
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Every scheme URL inside `text` (an error message, a log line) redacted, and the query
    values of any other path in it (`POST /hooks/x?token=...` in a request line)."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    return _QUERY_IN_TEXT.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def _redact_query(query: str) -> str:
    if not query:
        return query
    pairs = []
    for item in query.split("&"):
        key, sep, _ = item.partition("=")
        pairs.append(f"{key}={REDACTED}" if sep else key)
    return "&".join(pairs)


def _strip_userinfo_textually(url: str) -> str:
    scheme, _, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{slash}{path.split('?', 1)[0]}"
