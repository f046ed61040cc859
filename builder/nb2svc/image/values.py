"""Values rendered into a Containerfile: each stays on its line and means what it says.

A Containerfile is read line by line: a line break inside a rendered value ends the
instruction and starts another one, written by whoever chose the value (a notebook's
data path, a file name in the repository, a `--secret` id, an S2I variable). Every value
is therefore checked where it enters the build plan (with an error naming its origin),
and `check_plan` checks them all again before anything is rendered.

Refused everywhere: control characters (C0 and C1, DEL, NUL, CR, LF, tab), the Unicode
line and paragraph separators (U+2028, U+2029) and the bidirectional controls that make
a line read differently from what it is. Quoting is then the renderer's job:
`shlex.quote` in `RUN` lines, `quoted` in `LABEL` and `ENV`.
"""

from __future__ import annotations

import re
import unicodedata

BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\0": "a NUL byte"}
SECRET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")  # reverse-DNS keys; no `=`, no space
IMAGE_REF = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?"  # registry host[:port]/
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"  # :tag
    r"(?:@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,})?$"  # @sha256:digest
)


def unsafe_character(value: str) -> str | None:
    """The first character that cannot be rendered, said for a person ("a newline (U+000A)",
    "the control character U+2028 (line separator)"), or None."""
    for char in value:
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp") or char in BIDI_CONTROLS:
            if char in _NAMES:
                return f"{_NAMES[char]} (U+{ord(char):04X})"
            name = unicodedata.name(char, "").lower()
            return f"the control character U+{ord(char):04X}" + (f" ({name})" if name else "")
    return None


def word_problem(value: str) -> str | None:
    """Why `value` cannot be a double-quoted word of `LABEL`/`ENV`, or None.

    Inside double quotes the builders expand `$` and take `\\"` and `\\$` as escapes
    (`quoted` writes both); older ones keep `\\\\` as two characters, newer ones as one,
    so a backslash before `"`, `$`, `\\` or at the end has no spelling that all read alike.
    """
    bad = unsafe_character(value)
    if bad:
        return f"it contains {bad}"
    if re.search(r'\\(?=["$\\]|$)', value):
        return 'it has a backslash before ", $ or \\, or at its end'
    return None


def quoted(value: str) -> str:
    """`value` as a double-quoted `LABEL`/`ENV` word that every builder reads back as is
    (`$` not expanded). Only for values that `word_problem` accepts."""
    problem = word_problem(value)
    if problem:
        raise ValueError(f"{value!r} cannot be quoted: {problem}")
    return '"' + value.replace('"', '\\"').replace("$", "\\$") + '"'


def secret_id_problem(value: str) -> str | None:
    """Why `value` cannot be a build secret id (it is rendered into `--mount=...,id=`)."""
    if SECRET_ID.match(value):
        return None
    return "a secret id is 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"


def image_ref_problem(value: str) -> str | None:
    """Why `value` cannot be an image reference in `FROM`, or None."""
    if IMAGE_REF.match(value):
        return None
    bad = unsafe_character(value)
    what = f"it contains {bad}" if bad else "it is not an image reference"
    return f"{what} (registry/name[:tag][@sha256:digest])"


def label_problem(key: str, value: str) -> str | None:
    """Why `key=value` cannot be a `LABEL` pair, or None."""
    if not LABEL_KEY.match(key):
        bad = unsafe_character(key)
        return f"the name contains {bad}" if bad else "the name is not letters, digits, . _ / -"
    return word_problem(value)
