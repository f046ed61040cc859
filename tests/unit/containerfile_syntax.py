"""A Containerfile read the way buildah's and docker's parsers split it into instructions.

Lines ending in `\\` continue on the next line; a line that starts with `#` (after white
space) is a comment, also inside a continuation; blank lines are skipped. Every
instruction must start with a known keyword, so a value that smuggled a line break into
the file shows up as an instruction that is not one (or as a second, unexpected one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset(
    {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
     "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
)  # fmt: skip
LINE_BREAKS = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")  # str.splitlines' breaks


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """The instructions of `text`; `ValueError` for a line that starts none."""
    found: list[Instruction] = []
    pending = ""
    for raw in text.split("\n"):
        line = raw.rstrip("\r")
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        found.append(_instruction(pending + line))
        pending = ""
    if pending:
        raise ValueError(f"the file ends inside a continued line: {pending!r}")
    return found


def _instruction(logical: str) -> Instruction:
    keyword, _, arguments = logical.strip().partition(" ")
    if keyword.upper() not in KEYWORDS:
        raise ValueError(f"not an instruction: {logical!r}")
    return Instruction(keyword.upper(), arguments)
