"""IPython-aware transform of one code cell into plain Python.

Line magics, `!cmd`, `var = !cmd` and `obj?` go through IPython's own
`TransformerManager` (the same one nbconvert uses); cell magics, automagic lines,
`%time expr`, help lines and `IPython.display` imports are handled here. The output
keeps one line per input line, so `ast` line numbers are the cell's line numbers.
The result only calls `get_ipython()`, which train.py binds to a small shim.
"""

from __future__ import annotations

import ast
import difflib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from IPython.core.inputtransformer2 import TransformerManager, make_tokens_by_line

from nb2svc.notebook.load import Cell
from nb2svc.notebook.rewrite import compile_error, python_rewrites

ShellKind = Literal["shell", "pip", "conda", "apt", "magic", "cell-magic"]


@dataclass(frozen=True)
class ShellCommand:
    """A non-Python line found in a cell: `!cmd`, `%magic`, `%%bash` body, automagic `pip install`.

    `line` is 1-based within the cell source. `name` is the magic name for magics
    ("pip", "time", "bash", "writefile"...), the program for shell lines ("wget").
    `text` is the command without its `!`/`%` prefix (e.g. "pip install -q xgboost==2.0").
    """

    line: int
    kind: ShellKind
    name: str
    text: str


@dataclass(frozen=True)
class WrittenFile:
    """A `%%writefile PATH` cell: the file the notebook creates, and its content."""

    line: int
    path: str
    content: str
    append: bool = False


@dataclass(frozen=True)
class TransformedCell:
    """Plain Python for one cell, plus what was found that is not Python.

    `code` keeps the cell's line numbering where possible (magic lines become
    `pass`-equivalent statements or helper calls on the same line) so that
    `ast` line numbers map back to the cell's own lines. `syntax_error` is set
    (and `code` is the best effort) when the cell does not parse after the transform.
    """

    code: str
    shell: tuple[ShellCommand, ...] = ()
    written_files: tuple[WrittenFile, ...] = ()
    syntax_error: SyntaxError | None = None
    skipped_body: str | None = None  # e.g. "%%html": the body was not Python and is not run
    notes: tuple[str, ...] = field(default=())
    future_imports: tuple[str, ...] = ()
    """`from __future__` features; removed from `code`, train.py puts them at its top."""


KEEP_BODY_MAGICS = frozenset({"time", "timeit", "capture", "prun", "memit"})
SHELL_MAGICS = frozenset({"bash", "sh", "zsh"})
SCRIPT_MAGICS = SHELL_MAGICS | {"script", "perl", "ruby", "python", "python2", "python3", "pypy"}
HELP_MAGICS = frozenset({"pinfo", "pinfo2", "psearch", "pdef", "pdoc", "psource", "pfile"})
INLINE_MAGICS = frozenset({"time", "timeit", "prun", "memit"})
AUTOMAGICS = frozenset(
    {"pip", "conda", "mamba", "cd", "time", "timeit", "matplotlib", "load_ext", "reload_ext",
     "env", "set_env", "run", "config", "autoreload", "pwd", "ls", "mkdir", "rm", "cp", "mv",
     "who", "whos", "lsmagic", "precision", "store", "sx", "system"}
)  # fmt: skip
BARE_AUTOMAGICS = frozenset({"pwd", "ls", "who", "whos", "lsmagic"})
VALUE_OPTIONS = {"timeit": "nrpo", "prun": "lrsTD", "memit": "rti"}  # options taking a value
_CALL = re.compile(
    r"^(?P<prefix>.*?)get_ipython\(\)\.(?P<method>run_line_magic|system|getoutput)\((?P<args>.*)\)$"
)
_INSTALLS: tuple[tuple[ShellKind, re.Pattern[str]], ...] = (
    ("pip", re.compile(r"^(?:\S*python[\d.]*\s+-m\s+|uv\s+)?(pip[\d.]*)\s+(?:-\S+\s+)*install\b")),
    ("conda", re.compile(r"^(conda|mamba|micromamba)\s+(?:-\S+\s+)*install\b")),
    ("apt", re.compile(r"^(apt-get|apt)\s+(?:-\S+\s+)*install\b")),
)
_TM = TransformerManager()  # type: ignore[no-untyped-call]


def transform_cell(source: str) -> TransformedCell:
    """Transform one code cell's source. Never raises on bad code; see `syntax_error`."""
    return _finish(_transform(_split(source)))


@dataclass
class _Out:
    """Mutable working state while transforming one cell."""

    lines: list[str]
    shell: list[ShellCommand] = field(default_factory=list)
    files: list[WrittenFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: SyntaxError | None = None
    skipped: str | None = None


def _split(source: str) -> list[str]:
    text = source.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _transform(lines: list[str]) -> _Out:
    start = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    if start < len(lines) and lines[start].startswith("%%"):
        return _cell_magic(lines, start)
    return _line_level(lines)


def _cell_magic(lines: list[str], header: int) -> _Out:
    name, _, args = lines[header][2:].strip().partition(" ")
    args = args.strip()
    body = lines[header + 1 :]
    out = _Out(lines=[""] * header)
    out.shell.append(ShellCommand(header + 1, "cell-magic", name, f"{name} {args}".strip()))
    if name in KEEP_BODY_MAGICS:
        _keep_body(out, name, args, body, header)
    elif name == "writefile":
        _writefile(out, args, body, header)
    elif name in SCRIPT_MAGICS:
        program = args.split()[0] if name == "script" and args else name
        out.lines += _string_call(f"get_ipython().run_cell_magic({name!r}, {args!r}, ", body)
        if program in SHELL_MAGICS:
            _shell_body(out, body, header)
    else:
        out.skipped = f"%%{name}"
        out.lines.append(f"# nb2svc: %%{name} cell not run (its body is not Python)")
        out.lines += [f"# {line}" if line.strip() else "" for line in body]
        out.notes.append(f"%%{name} cell body not run in the build")
    return out


def _keep_body(out: _Out, name: str, args: str, body: list[str], header: int) -> None:
    var = next((w for w in args.split() if not w.startswith("-")), "") if name == "capture" else ""
    if var.isidentifier():
        out.lines.append(f"{var} = get_ipython().run_cell_magic('capture', {args!r}, '')")
    else:
        out.lines.append(f"# nb2svc: %%{name} {args}".rstrip() + " (the body below runs once)")
    inner = _transform(body)
    out.lines += inner.lines
    out.shell += [replace(cmd, line=cmd.line + header + 1) for cmd in inner.shell]
    out.files += [replace(f, line=f.line + header + 1) for f in inner.files]
    out.notes += inner.notes
    out.skipped = inner.skipped
    if inner.error is not None:
        err = inner.error
        where = ("<cell>", (err.lineno or 1) + header + 1, err.offset, err.text)
        out.error = SyntaxError(err.msg, where)


def _writefile(out: _Out, args: str, body: list[str], header: int) -> None:
    try:
        words = shlex.split(args)
    except ValueError:
        words = args.split()
    append = any(w in ("-a", "--append") for w in words)
    paths = [w for w in words if not w.startswith("-")]
    if not paths:
        out.error = SyntaxError("%%writefile needs a file name", ("<cell>", header + 1, 1, None))
        return
    content = "".join(line + "\n" for line in body)
    out.files.append(WrittenFile(header + 1, paths[0], content, append))
    out.lines += _string_call(f"get_ipython().run_cell_magic('writefile', {args!r}, ", body)


def _shell_body(out: _Out, body: list[str], header: int) -> None:
    for number, line in enumerate(body, start=header + 2):
        text = line.strip()
        if text and not text.startswith("#"):
            kind, program = classify_command(text)
            out.shell.append(ShellCommand(number, kind, program, text))


def _string_call(call: str, body: list[str]) -> list[str]:
    """`call` + `body` as a triple-quoted string, one source line per body line."""
    if not body:
        return [call + "'')"]
    text = "".join(body)
    quote = '"' if "'" in text and '"' not in text else "'"
    lines = [_escape(line, quote) for line in body]
    lines[-1] += "\\n" + quote * 3 + ")"
    return [call + quote * 3 + "\\", *lines]


def _escape(line: str, quote: str) -> str:
    out = line.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return "".join(c if c == "\t" or (" " <= c != "\x7f") else f"\\x{ord(c):02x}" for c in out)


def _line_level(lines: list[str]) -> _Out:
    if not lines:
        return _Out(lines=[])
    rows = _single_row_statements(lines)
    src = [_automagic(line) if row in rows else line for row, line in enumerate(lines, 1)]
    out = _Out(lines=list(src))
    try:
        result = _split(_TM.transform_cell("\n".join(src) + "\n"))
    except Exception as exc:  # IPython's tokenizer can fail on odd input; keep the source
        out.notes.append(f"IPython could not transform the cell ({exc}); kept as written")
        return out
    out.lines = _align(src, result)
    for number, line in enumerate(out.lines, start=1):
        if number > len(src) or line != src[number - 1]:
            _rewrite_line(out, number, line)
    return out


def _single_row_statements(lines: list[str]) -> set[int]:
    """Rows (1-based) that hold a whole logical line: the only places automagic can be."""
    try:
        tokens = make_tokens_by_line([line + "\n" for line in lines])
    except Exception:  # a cell that does not tokenize has no automagic
        return set()
    return {g[0].start[0] for g in tokens if g and g[0].start[0] == g[-1].end[0] > 0}


def _automagic(line: str) -> str:
    """`pip install x` -> `%pip install x`: IPython's automagic, for known magics only."""
    match = re.match(r"^(\s*)([A-Za-z_]\w*)(?:\s+(.*))?$", line)
    if not match or match[2] not in AUTOMAGICS:
        return line
    rest = match[3] or ""
    if not rest:
        return f"{match[1]}%{match[2]}" if match[2] in BARE_AUTOMAGICS else line
    try:
        ast.parse(line.strip())
    except SyntaxError:
        return f"{match[1]}%{match[2]} {rest}"
    return line


def _align(src: list[str], result: list[str]) -> list[str]:
    """`result` with blank lines added so that it has one line per `src` line."""
    if len(result) == len(src):
        return result
    aligned: list[str] = []
    matcher = difflib.SequenceMatcher(None, src, result, autojunk=False)
    for _, i1, i2, j1, j2 in matcher.get_opcodes():
        block = result[j1:j2]
        aligned += block + [""] * (i2 - i1 - len(block))
    return aligned


def _rewrite_line(out: _Out, number: int, line: str) -> None:
    match = _CALL.match(line)
    if line.strip() == "get_ipython().show_usage()":  # a lone `?`
        out.lines[number - 1] = line.replace("get_ipython().show_usage()", "pass  # nb2svc: ?")
    if not match:
        return
    prefix, method = match["prefix"], match["method"]
    indent = prefix[: len(prefix) - len(prefix.lstrip())]
    try:
        args = ast.literal_eval(f"({match['args']},)")
    except (ValueError, SyntaxError):
        return
    if method != "run_line_magic":
        kind, program = classify_command(args[0])
        out.shell.append(ShellCommand(number, kind, program, args[0]))
        return
    name, arg = str(args[0]), str(args[1])
    kind, _ = classify_command(f"{name} {arg}")
    out.shell.append(
        ShellCommand(number, kind if kind != "shell" else "magic", name, f"{name} {arg}".strip())
    )
    if name.startswith("%"):  # `%%time` below the first line: IPython fails here too
        out.error = SyntaxError(
            f"cell magic %{name} must be on the first line of the cell", ("<cell>", number, 1, line)
        )
    elif name in HELP_MAGICS:
        out.lines[number - 1] = f"{indent}pass  # nb2svc: help ({name} {arg}) dropped"
    elif name in INLINE_MAGICS:
        out.lines[number - 1] = _inline(prefix, indent, name, arg) or line


def _inline(prefix: str, indent: str, name: str, arg: str) -> str | None:
    """`%time stmt` -> `stmt` on the same line (run once, untimed), or None if it is not Python."""
    code = _strip_options(arg, VALUE_OPTIONS[name]) if name in VALUE_OPTIONS else arg.strip()
    if not code:
        return f"{indent}pass  # nb2svc: %{name}"
    try:
        ast.parse(code, mode="exec" if prefix == indent else "eval")
    except SyntaxError:
        return None
    return f"{prefix}{code}  # nb2svc: was %{name}"


def _strip_options(arg: str, with_value: str) -> str:
    words = arg.split(" ")
    while words and (words[0].startswith("-") or not words[0]):
        word = words.pop(0)
        if len(word) == 2 and word[1] in with_value and words:
            words.pop(0)
    return " ".join(words).strip()


def classify_command(text: str) -> tuple[ShellKind, str]:
    """(kind, program) of a shell command: ("pip", "pip"), ("apt", "apt-get"), ("shell", "wget")."""
    for segment in re.split(r"&&|\|\||;|\|", text):
        words = segment.split()
        while words and (words[0] == "sudo" or re.match(r"^\w+=", words[0])):
            words.pop(0)
        command = " ".join(words)
        for kind, pattern in _INSTALLS:
            match = pattern.match(command)
            if match:
                return kind, match[1]
    words = [w for w in text.split() if w != "sudo" and not re.match(r"^\w+=", w)]
    return "shell", words[0].rsplit("/", 1)[-1] if words else ""


def _finish(out: _Out) -> TransformedCell:
    code = "\n".join(out.lines) + "\n"
    futures: list[str] = []
    if out.error is None:
        code, futures = python_rewrites(code, out.notes)
        out.error = compile_error(code)
    return TransformedCell(
        code=code,
        shell=tuple(out.shell),
        written_files=tuple(out.files),
        syntax_error=out.error,
        skipped_body=out.skipped,
        notes=tuple(out.notes),
        future_imports=tuple(futures),
    )


Transforms = Mapping[int, TransformedCell]  # a notebook's code cells, by index, transformed


def transformed(cell: Cell, given: Transforms | None) -> TransformedCell:
    """The cell as the analysis transformed it; transformed now only without an analysis."""
    if given is not None and cell.index in given:
        return given[cell.index]
    return transform_cell(cell.source)
