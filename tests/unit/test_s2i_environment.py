"""`.s2i/environment` is read exactly as s2i reads it (pkg/scripts/environment.go)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nb2svc.s2i.environment import (
    MAX_LINE,
    apply_environment,
    parse_environment,
    read_environment,
)

CASES = [
    # (file content, entries s2i produces)
    (b"A=1\n", [("A", "1")]),
    (b"A=1", [("A", "1")]),  # no final newline: still a line
    (b"A=1\r\nB=2\r\n", [("A", "1"), ("B", "2")]),  # CRLF: the CR is dropped
    (b"  A  =  spaced value  \n", [("A", "spaced value")]),  # name and value trimmed
    (b"A=b=c\n", [("A", "b=c")]),  # split on the first '=' only
    (b"A=\n", [("A", "")]),  # empty value is kept
    (b"A\n", []),  # no '=': skipped silently
    (b"=value\n", []),  # nothing before '=': skipped
    (b"\n\n", []),  # blank lines: skipped
    (b"# A=1\n", []),  # comment
    (b"  # A=1\n", [("# A", "1")]),  # not a comment: '#' is not the first character
    (b"A='quoted'\n", [("A", "'quoted'")]),  # no quote removal
    (b'A="x y"\n', [("A", '"x y"')]),
    (b"A=$HOME/x\n", [("A", "$HOME/x")]),  # no expansion
    (b"A=1 # trailing\n", [("A", "1 # trailing")]),  # no inline comments
    (b"A=1\nA=2\n", [("A", "1"), ("A", "2")]),  # duplicates kept, in order
    (b"A=x,B=y\n", [("A", "x,B=y")]),  # a comma does not split
    (
        b"A=\x1fx\x1f\n",
        [("A", "\x1fx\x1f")],
    ),  # Go's TrimSpace keeps \x1f (Python's strip would not)
    ("A=\u00a0café\u3000\n".encode(), [("A", "café")]),  # NBSP and ideographic space trimmed
    (b"\tA\t=\t1\t\n", [("A", "1")]),
]


@pytest.mark.parametrize(("content", "expected"), CASES)
def test_entries_follow_s2i_rules(content: bytes, expected: list[tuple[str, str]]) -> None:
    assert list(parse_environment(content).entries) == expected


def test_a_line_of_64_KiB_makes_s2i_drop_the_whole_file() -> None:
    found = parse_environment(b"A=1\nB=" + b"x" * MAX_LINE + b"\n")
    assert found.entries == ()
    assert found.problem is not None


def test_a_line_just_under_the_limit_is_read() -> None:
    value = b"x" * (MAX_LINE - 3)
    assert parse_environment(b"B=" + value + b"\n").entries == (("B", value.decode()),)


def test_missing_file_means_no_entries(tmp_path: Path) -> None:
    assert read_environment(tmp_path).entries == ()


def test_the_file_is_read_from_dot_s2i(tmp_path: Path) -> None:
    (tmp_path / ".s2i").mkdir()
    (tmp_path / ".s2i" / "environment").write_text("NB2SVC_NOTEBOOKS=a.ipynb\n")
    assert read_environment(tmp_path).names == ["NB2SVC_NOTEBOOKS"]


def test_build_environment_wins_over_the_file_and_later_lines_win() -> None:
    env = {"SET_BY_S2I_E": "cli"}
    entries = [("SET_BY_S2I_E", "file"), ("A", "1"), ("A", "2")]
    assert apply_environment(entries, env) == ["A"]
    assert env == {"SET_BY_S2I_E": "cli", "A": "2"}


def test_names_that_cannot_be_environment_variables_are_skipped() -> None:
    env: dict[str, str] = {}
    assert apply_environment([("", "x"), ("A", "nul\0byte")], env) == []
    assert env == {}


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("A B", "x", "not a variable name"),
        ("1ST", "x", "not a variable name"),
        ("A$(id)", "x", "not a variable name"),
        ("X\rRUN", "x", "not a variable name"),
        ("TOKEN", "abc\rRUN touch /pwned", "a carriage return (U+000D)"),
        ("TOKEN", "abc\u2028def", "U+2028 (line separator)"),
        ("TOKEN", "abc\x85def", "U+0085"),
    ],
)
def test_entries_that_cannot_be_build_variables_are_skipped_by_name_never_by_value(
    name: str, value: str, why: str
) -> None:
    env: dict[str, str] = {}
    skipped: list[str] = []
    assert apply_environment([(name, value), ("OK_1", "a\tb $(x)")], env, skipped) == ["OK_1"]
    assert env == {"OK_1": "a\tb $(x)"}
    assert len(skipped) == 1
    assert repr(name) in skipped[0]
    assert why in skipped[0]
    assert value not in skipped[0]
    assert "abc" not in skipped[0]


def test_a_carriage_return_inside_a_line_of_the_file_does_not_reach_the_environment() -> None:
    found = parse_environment(b"TOKEN=abc\rRUN touch /pwned\nNEXT=1\n")
    env: dict[str, str] = {}
    assert apply_environment(found.entries, env) == ["NEXT"]
