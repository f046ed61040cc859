"""Hostile values rendered through the real renderer: each is refused with a clear error,
or rendered so that the Containerfile keeps its instructions and the value means itself."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from containerfile_syntax import Instruction, instructions
from nb2svc.datapaths import DataLink
from nb2svc.errors import EXIT_USAGE, UsageError
from nb2svc.image.containerfile import render
from nb2svc.image.context import write_context
from nb2svc.image.values import quoted, unsafe_character
from nb2svc.options import parse_secret
from nb2svc.plan import BuildPlan, Secret
from test_containerfile import make_plan

SRC = "/opt/nb2svc/src"
HOSTILE = {
    "newline": "x\nRUN touch /pwned",
    "carriage return": "x\rRUN touch /pwned",
    "NUL": "x\0y",
    "line separator": "x\u2028RUN touch /pwned",
    "paragraph separator": "x\u2029y",
    "next line (C1)": "x\x85y",
    "vertical tab": "x\vy",
    "right-to-left override": "x\u202ey",
    "backslash-newline": "x\\\nRUN touch /pwned",
    "trailing backslash": "x\\",
    "backslash before a quote": 'x\\"y',
    "command substitution": "$(touch /pwned)",
    "variable": "${HOME}",
    "backticks": "`touch /pwned`",
    "quotes": 'it\'s "quoted"',
    "leading dash": "-rf",
    "spaces and a semicolon": "a b; touch /pwned",
    "windows path": "C:\\Users\\me\\data.csv",
    "non-ASCII": "données ✓",
}

# Where each value goes: a plan with the value in that place.
FIELDS: dict[str, Callable[[str], BuildPlan]] = {
    "data path the notebook reads": lambda v: make_plan(
        data_links=(DataLink(f"/content/{v}", f"{SRC}/x.csv", v, "nb.ipynb", 1, "colab"),)
    ),
    "repository file it is linked to": lambda v: make_plan(
        data_links=(DataLink("/content/x.csv", f"{SRC}/{v}", "x.csv", "nb.ipynb", 1, "colab"),)
    ),
    "whole data path": lambda v: make_plan(
        data_links=(DataLink(v, f"{SRC}/x.csv", v, "nb.ipynb", 1, "colab"),)
    ),
    "write folder": lambda v: make_plan(write_folders=(f"{SRC}/{v}",)),
    "label value": lambda v: make_plan(
        labels={**make_plan().labels, "org.opencontainers.image.source": v}
    ),
    "label name": lambda v: make_plan(labels={**make_plan().labels, v: "x"}),
    "secret id": lambda v: make_plan(secrets=(Secret(v, Path("/k.json")),)),
    "base image": lambda v: make_plan(base_image=v),
    "build base image": lambda v: make_plan(build_base_image=v),
}


def shape(text: str) -> list[str]:
    """The instruction keywords in order: what a smuggled line would change."""
    return [step.keyword for step in instructions(text)]


def label_words(step: Instruction) -> dict[str, str]:
    """`"k"="v" ...` read as the builders read double-quoted words: `\\"` and `\\$` are
    escapes, another backslash is itself, and an unescaped `$` would be expanded."""
    found: dict[str, str] = {}
    words: list[str] = []
    rest = step.arguments.strip()
    while rest:
        assert rest[0] == '"', rest
        word, i = "", 1
        while rest[i] != '"':
            if rest[i] == "\\" and rest[i + 1] in '"$':
                i += 1
            assert rest[i] != "$" or rest[i - 1] == "\\", f"{rest!r} would expand a variable"
            word += rest[i]
            i += 1
        words.append(word)
        rest = rest[i + 1 :].lstrip("= ")
    for key, value in zip(words[::2], words[1::2], strict=True):
        found[key] = value
    return found


def rendered_values(text: str) -> tuple[list[str], dict[str, str]]:
    """The shell words of every RUN and the labels, as the builders will see them."""
    steps = instructions(text)
    words = [w for s in steps if s.keyword == "RUN" for w in shlex.split(s.arguments)]
    labels = {k: v for s in steps if s.keyword == "LABEL" for k, v in label_words(s).items()}
    return words, labels


def rendered_or_refused(plan: BuildPlan) -> str | UsageError:
    try:
        return render(plan)
    except UsageError as refused:
        return refused


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("field", FIELDS.keys())
def test_a_hostile_value_is_refused_or_rendered_as_itself(field: str, value: str) -> None:
    plan = FIELDS[field](value)
    text = rendered_or_refused(plan)
    if isinstance(text, UsageError):
        assert text.exit_code == EXIT_USAGE
        assert "cannot be written into the Containerfile" in text.message
        assert repr(value)[1:-1] in text.message  # names the value, escaped: on one line
        assert "\n" not in text.message
        assert text.fix
        return
    assert unsafe_character(value) is None, "a control character was rendered"
    assert shape(text) == shape(render(FIELDS[field]("x")))  # nothing added, nothing cut
    words, labels = rendered_values(text)
    if field == "label value":
        assert labels["org.opencontainers.image.source"] == value
    elif field == "label name":
        assert labels[value] == "x"
    elif field == "write folder":
        assert f"{SRC}/{value}" in words
    elif field in ("data path the notebook reads", "whole data path"):
        assert plan.data_links[0].link in words
    elif field == "repository file it is linked to":
        assert f"{SRC}/{value}" in words
    else:  # secret ids and image references have a grammar: nothing hostile fits it
        pytest.fail(f"{field} {value!r} was rendered")


@pytest.mark.parametrize("char", ["\n", "\r", "\0", "\u2028"], ids=["LF", "CR", "NUL", "LS"])
@pytest.mark.parametrize("field", FIELDS.keys())
def test_a_line_break_is_refused_in_every_field(field: str, char: str) -> None:
    with pytest.raises(UsageError, match="cannot be written into the Containerfile"):
        render(FIELDS[field](f"x{char}y"))


def test_a_leading_dash_never_reaches_a_command_as_an_option() -> None:
    text = render(make_plan(write_folders=(f"{SRC}/-rf",)))
    assert f"mkdir -p {SRC}/-rf" in text  # absolute: `-rf` is only a folder's name
    with pytest.raises(UsageError, match="not absolute"):
        render(make_plan(write_folders=("-rf",)))


def test_dollar_signs_in_labels_are_escaped_so_the_builder_does_not_expand_them() -> None:
    assert quoted("${HOME} $(id)") == '"\\${HOME} \\$(id)"'
    assert quoted('say "hi"') == '"say \\"hi\\""'
    assert quoted("données") == '"données"'  # not \u00e9: builders read that literally


@pytest.mark.parametrize(
    "spec",
    [
        "id=a\nRUN touch /pwned,src=/k",
        "id=a/../b,src=/k",
        "id=-rf,src=/k",
        "id=,src=/k",
        "id=nb2svc-ca,src=/k",  # the CA bundle's id: a user secret would replace it
    ],
)
def test_a_secret_id_that_cannot_be_mounted_is_a_usage_error_where_it_is_parsed(
    tmp_path: Path, spec: str
) -> None:
    (tmp_path / "k").write_text("token")
    with pytest.raises(UsageError) as refused:
        parse_secret(spec.replace("/k", str(tmp_path / "k")))
    assert refused.value.exit_code == EXIT_USAGE
    assert "--secret id" in refused.value.message
    assert "\n" not in refused.value.message


def test_a_well_formed_secret_id_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("token")
    assert parse_secret(f"id=kaggle.json_2,src={tmp_path / 'k'}").id == "kaggle.json_2"


def test_the_same_secret_id_twice_is_refused() -> None:
    twice = (Secret("kaggle", Path("/a")), Secret("kaggle", Path("/b")))
    with pytest.raises(UsageError, match="given twice"):
        render(make_plan(secrets=twice))


@pytest.mark.parametrize("ref", ["registry.example.com/team/py:3.11", "py@sha256:" + "a" * 64])
def test_image_references_with_tags_and_digests_are_rendered(ref: str) -> None:
    text = render(replace(make_plan(), base_image=ref, build_base_image=ref))
    assert f"FROM {ref} AS serve-deps" in text


@pytest.mark.parametrize("key", ["a=b", "a b", "", ".hidden", "x\ny"])
def test_a_label_name_that_is_not_a_plain_key_is_refused(key: str) -> None:
    with pytest.raises(UsageError, match=r"label .*: the name"):
        render(make_plan(labels={**make_plan().labels, key: "x"}))


def test_a_refused_plan_leaves_the_previous_context_as_it_was(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Containerfile").write_text("FROM previous\n")
    hostile = replace(make_plan(), labels={"org.example.note": "one\nRUN id"})
    with pytest.raises(UsageError):
        write_context(hostile, tmp_path, context)
    assert (context / "Containerfile").read_text() == "FROM previous\n"
