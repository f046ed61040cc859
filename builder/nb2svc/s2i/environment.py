"""`.s2i/environment`, read exactly as s2i reads it (`pkg/scripts/environment.go`).

Rules (s2i's, including the odd ones):
- lines are split on LF; a CR before the LF is dropped (Go's `bufio.ScanLines`);
- a line whose first character is `#` is a comment (`  # x=1` is *not*: it sets `# x`);
- the line is split on the first `=`; a line without `=`, or with nothing before it, is
  skipped silently;
- name and value are trimmed of (Go) white space; no quotes, no `$VAR` expansion;
- later lines win over earlier ones; a line of 64 KiB or more makes s2i drop the whole file.
s2i passes these values to assemble and lets `-e`/BuildConfig `env` win: `apply` therefore
sets only names the environment does not already have, and only entries that can be
environment variables: a name of letters, digits and `_` (not starting with a digit) and a
value without control characters or line separators (a CR inside a line, U+2028, ...,
which s2i keeps; nb2svc.image.values). The others are skipped and named in the log.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nb2svc.image.values import ENV_NAME, unsafe_character

MAX_LINE = 64 * 1024  # bufio.MaxScanTokenSize
# unicode.IsSpace in Go; Python's str.strip() also strips \x1c-\x1f, which Go keeps.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
GO_SPACE += "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


@dataclass(frozen=True)
class EnvironmentFile:
    entries: tuple[tuple[str, str], ...]
    problem: str | None = None  # why the file was ignored, if it was

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.entries))


def parse_environment(data: bytes) -> EnvironmentFile:
    """The entries of an environment file's bytes, in file order (duplicates kept)."""
    entries: list[tuple[str, str]] = []
    for raw in _lines(data):
        if len(raw) >= MAX_LINE:
            return EnvironmentFile((), f"a line is longer than {MAX_LINE} bytes (s2i drops it)")
        line = raw.removesuffix(b"\r").decode("utf-8", errors="surrogateescape")
        if line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name:
            continue
        entries.append((name.strip(GO_SPACE), value.strip(GO_SPACE)))
    return EnvironmentFile(tuple(entries))


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the file's final newline ends the last line; it adds no empty one
    return lines


def read_environment(source_root: Path) -> EnvironmentFile:
    """`<source_root>/.s2i/environment`, or no entries when there is none."""
    path = source_root / ".s2i" / "environment"
    if not path.is_file():
        return EnvironmentFile(())
    return parse_environment(path.read_bytes())


def apply_environment(
    entries: Sequence[tuple[str, str]],
    environ: MutableMapping[str, str],
    skipped: list[str] | None = None,
) -> list[str]:
    """Set the file's values for names `environ` lacks; return the names set (never values).

    An entry that cannot be an environment variable (see the module's docstring) is left
    out; `skipped` then gets its name (quoted, escaped) and why, never its value.
    """
    preset = set(environ)
    applied: list[str] = []
    for name, value in entries:
        problem = entry_problem(name, value)
        if problem:
            if skipped is not None:
                skipped.append(f"{name!r} ({problem})")
            continue
        if name in preset:
            continue
        environ[name] = value
        if name not in applied:
            applied.append(name)
    return applied


def entry_problem(name: str, value: str) -> str | None:
    """Why `name=value` cannot be an environment variable of the build, or None."""
    if not ENV_NAME.match(name):
        return "not a variable name: letters, digits and _, not starting with a digit"
    bad = unsafe_character(value.replace("\t", " "))  # a tab in a value is harmless
    return f"the value contains {bad}" if bad else None
