"""What train.py imports in the image (stdlib only): progress, cell errors, an IPython shim."""

from __future__ import annotations

import importlib
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
import time
import traceback
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from . import train_guard as _guard
from .contract import ERROR_MARKER

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_INSTALL = re.compile(
    r"(?:^|&&|;|\|\|)\s*(?:sudo\s+)?(?:\S*python[\d.]*\s+-m\s+|uv\s+)?"
    r"(?:pip[\d.]*|conda|mamba|micromamba|apt-get|apt)\s+(?:-\S+\s+)*install\b"
)
_INSTALLERS = frozenset({"pip", "conda", "mamba", "micromamba"})
_ALIASES = frozenset({"ls", "mkdir", "rm", "rmdir", "cp", "mv", "cat", "ln"})
_QUIET = frozenset(
    {"matplotlib", "load_ext", "reload_ext", "unload_ext", "config", "autoreload", "aimport",
     "precision", "xmode", "colors", "autosave", "who", "whos", "lsmagic", "history", "clear",
     "pinfo", "pinfo2", "pdoc", "pdef", "psource", "pfile", "psearch", "notebook", "alias_magic"}
)  # fmt: skip
_NOT_RUN_CELLS = frozenset({"html", "javascript", "js", "markdown", "latex", "svg", "sql"})
_MAX_LINES, _MAX_CHARS = 20, 2000


@dataclass
class _State:
    root: Path | None = None
    notebook: str | None = None
    cell: int | None = None
    execution_count: int | None = None
    started: float = field(default_factory=time.monotonic)
    starts: list[tuple[str, int, str, int, int | None]] = field(default_factory=list)
    """(file, line of the `cell()` call, notebook, cell index, execution count)."""
    previous_dir: str | None = None
    fitted: dict[str, tuple[Any, str]] = field(default_factory=dict)
    """name -> (the last fitted model it held when a cell started, where it was seen)."""
    after_cells: bool = False  # every cell ran; the model is being saved


_state = _State()


def _log(message: str) -> None:
    print(f"nb2svc: {message}", file=sys.stderr, flush=True)


def begin_notebook(rel_path: str) -> None:
    """Start a notebook: chdir to its folder (paths relative to the source root), set up once."""
    if _state.root is None:
        _state.root = Path(os.environ.get("NB2SVC_SOURCE_DIR") or Path.cwd()).resolve()
        _setup_process()
    os.chdir((_state.root / rel_path).parent)
    _state.notebook, _state.cell, _state.execution_count = rel_path, None, None
    _log(f"notebook {rel_path}")


def _setup_process() -> None:
    os.environ["MPLBACKEND"] = "Agg"  # before any cell can import matplotlib
    warnings.filterwarnings("ignore", message=".*non-interactive.*", category=UserWarning)
    if "" not in sys.path:
        sys.path.insert(0, "")  # like Jupyter: modules next to the notebook import
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)  # cell output interleaves with progress lines
    sys.excepthook = _excepthook
    _guard.install(lambda: (_state.notebook, _state.cell, _state.execution_count), _excepthook)


def cell(index: int, execution_count: int | None) -> None:
    """Mark the start of a cell: remembered for errors, and a progress line on stderr."""
    caller = sys._getframe(1)
    _remember_fitted(caller.f_globals, f"before {_label(index, execution_count)}")
    _state.starts.append(
        (caller.f_code.co_filename, caller.f_lineno, _state.notebook or "?", index, execution_count)
    )
    _state.cell, _state.execution_count = index, execution_count
    elapsed = time.monotonic() - _state.started
    _log(f"{_label(index, execution_count)} of {_state.notebook}, {elapsed:.1f}s elapsed")


def _remember_fitted(namespace: dict[str, Any], where: str) -> None:
    """Note each global that holds a fitted model, so a name re-bound after its fit (`rf`
    reused for a plot's Axes) can still be saved as the model it was. A reference, not
    a copy: cheap, and a later refit of the same object is what gets saved."""
    for name, value in list(namespace.items()):
        if not name.startswith("_") and _fitted_model(value):
            _state.fitted[name] = (value, where)


def _fitted_model(value: object) -> bool:
    if isinstance(value, (type, types.ModuleType, types.FunctionType)):
        return False
    if not callable(getattr(value, "predict", None)):
        return False
    if not hasattr(value, "get_params"):  # not scikit-learn-like: fitted if it can predict
        return True
    return any(k.endswith("_") and not k.startswith("_") for k in vars(value))


def _excepthook(etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """Print a traceback pointing at notebook cells, then one `NB2SVC-ERROR {json}` line."""
    try:
        lines = _clean_traceback(value, tb)
        record = {
            "stage": "training",
            "notebook": _state.notebook,
            "cell": _state.cell,
            "execution_count": _state.execution_count,
            "after_last_cell": _state.after_cells,
            "ename": etype.__name__,
            "evalue": _ANSI.sub("", str(value)) + _guard.blocked_note(value),
            "traceback": lines,
        }
        print("\n".join(lines), file=sys.stderr)
        print(f"{ERROR_MARKER} " + json.dumps(record, default=str), file=sys.stderr, flush=True)
    except Exception:  # the hook must never hide the original error
        sys.__excepthook__(etype, value, tb)


def _clean_traceback(value: BaseException, tb: TracebackType | None) -> list[str]:
    lines = ["Traceback (most recent call last):"]
    for frame in traceback.extract_tb(tb):
        if frame.filename == __file__:
            continue
        where = _where(frame.filename, frame.lineno or 0)
        where = f"  [{where}]" if where else ""
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}{where}')
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    last = traceback.format_exception_only(type(value), value)  # (type, value): Python 3.9
    lines += [_ANSI.sub("", line.rstrip("\n")) for line in last]
    return lines


def _where(filename: str, lineno: int) -> str | None:
    """`churn.ipynb cell 3, line 4` for a line of train.py, from the `cell()` calls seen."""
    seen = [start for start in _state.starts if start[0] == filename and start[1] < lineno]
    if not seen:
        return None
    _, line, notebook, index, count = max(seen, key=lambda start: start[1])
    return f"{notebook} {_label(index, count)}, line {lineno - line}"


def _label(index: int, count: int | None) -> str:
    return f"cell {index}" + (f" (In [{count}])" if count is not None else "")


def display(*objs: object, **_kwargs: object) -> None:
    """IPython's `display` in a build: print a short text form of each object; never fails."""
    for obj in objs:
        print(_short_repr(obj))


def _short_repr(obj: object) -> str:
    try:
        text = repr(obj)
    except Exception:
        return f"<{type(obj).__name__} object>"
    lines = text.splitlines()
    if len(lines) > _MAX_LINES:
        text = "\n".join([*lines[:_MAX_LINES], f"... ({len(lines) - _MAX_LINES} more lines)"])
    return text if len(text) <= _MAX_CHARS else text[:_MAX_CHARS] + "..."


def writefile(path: str, content: str, append: bool = False) -> None:
    """`%%writefile [-a] PATH`: write the cell body, relative to the notebook's folder."""
    target = Path(path).expanduser()
    verb = "Appending to" if append else "Overwriting" if target.exists() else "Writing"
    with target.open("a" if append else "w", encoding="utf-8") as handle:
        handle.write(content)
    importlib.invalidate_caches()  # a module written here can be imported right away
    print(f"{verb} {path}")


class SList(list[str]):
    """The result of `x = !cmd`: a list of output lines, with IPython's `.s` and `.n`."""

    @property
    def s(self) -> str:
        return " ".join(self)

    @property
    def n(self) -> str:
        return "\n".join(self)


class DisplayObject:
    """Stand-in for `IPython.display.HTML`, `Image`, ...: accepts anything, shows its class."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args, self.kwargs = args, kwargs

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object>"


class ShimModule:
    """Stand-in for `IPython`, `IPython.display`...: names resolve to harmless shims."""

    def __init__(self, name: str) -> None:
        self.__name__ = name

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "display" and self.__name__ != "IPython":
            return display
        if name == "get_ipython":
            return get_ipython
        if name[:1].isupper():
            return type(name, (DisplayObject,), {})
        if name in ("clear_output", "update_display", "set_matplotlib_formats"):
            return lambda *args, **kwargs: None
        return ShimModule(f"{self.__name__}.{name}")

    def __call__(self, *objs: object, **kwargs: object) -> None:
        if self.__name__.endswith(".display"):  # `from IPython import display; display(x)`
            display(*objs)


def _expand(text: str, frame: FrameType) -> str:
    """IPython's `$name` and `{expr}` in shell lines and magics, from the caller's variables."""
    scope = {**frame.f_globals, **frame.f_locals}

    def expression(match: re.Match[str]) -> str:
        try:
            return str(eval(match[1], frame.f_globals, frame.f_locals))
        except Exception:
            return match[0]

    def name(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        return str(scope[match[1]]) if match[1] in scope else match[0]

    text = re.sub(r"\{([^{}\s][^{}]*)\}", expression, text)
    return re.sub(r"\$\$|\$([A-Za-z_]\w*)", name, text)


class BuildShell:
    """What `get_ipython()` returns in train.py: the magics that mean something in a build."""

    def __repr__(self) -> str:
        return "<nb2svc BuildShell>"

    def system(self, cmd: str) -> None:
        """`!cmd`: run with the shell; installs are skipped (the build installed dependencies)."""
        frame = sys._getframe(1)
        cmd = _expand(cmd, frame)
        if _INSTALL.search(cmd):
            _log(f"skipped `!{cmd}`: dependencies are installed by the build")
            return
        sys.stdout.flush()
        code = subprocess.run(cmd, shell=True, check=False).returncode
        frame.f_globals["_exit_code"] = code
        if code:
            _log(f"`!{cmd}` exited with status {code}")

    def getoutput(self, cmd: str, split: bool = True) -> SList | str:
        """`x = !cmd`: the output lines (stdout and stderr) of the command."""
        cmd = _expand(cmd, sys._getframe(1))
        proc = subprocess.run(
            cmd,
            shell=True,
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return SList(proc.stdout.splitlines()) if split else proc.stdout

    def magic(self, line: str) -> Any:
        """The old `get_ipython().magic("name args")` spelling."""
        name, _, rest = line.lstrip("%").partition(" ")
        return self._line(name, _expand(rest, sys._getframe(1)), sys._getframe(1))

    def run_line_magic(self, name: str, line: str) -> Any:
        """`%name line`."""
        frame = sys._getframe(1)
        return self._line(name, _expand(line, frame), frame)

    def _line(self, name: str, line: str, frame: FrameType) -> Any:
        if name in _INSTALLERS:
            _log(f"skipped %{name} {line}: dependencies are installed by the build")
        elif name == "cd":
            _cd(line)
        elif name == "pwd":
            return str(Path.cwd())
        elif name in ("env", "set_env"):
            return _env(line)
        elif name == "run":
            _run(line, frame)
        elif name in ("sx", "system"):
            return self.getoutput(line)
        elif name in _ALIASES:
            subprocess.run(f"{name} {line}", shell=True, check=False)
        elif name not in _QUIET:
            _log(f"%{name} {line} ignored: not available in the build".replace("  ", " "))
        return None

    def run_cell_magic(self, name: str, line: str, cell: str) -> Any:
        """`%%name line` + body: writefile, capture, shell scripts; display magics do nothing."""
        frame = sys._getframe(1)
        line = _expand(line, frame)
        if name == "writefile":
            words = shlex.split(line)
            paths = [w for w in words if not w.startswith("-")]
            writefile(paths[0], cell, append=bool({"-a", "--append"} & set(words)))
        elif name == "capture":
            return _Captured()
        elif name in ("time", "timeit", "prun"):
            exec(compile(cell, "<cell>", "exec"), frame.f_globals, frame.f_locals)
        elif name not in _NOT_RUN_CELLS:
            _script(name, line, cell)
        return None

    def shim_import(self, module: str, *names: str) -> Any:
        """`from IPython.display import a, b` -> shims for `a`, `b` (IPython is not installed)."""
        shim = ShimModule(module)
        values = tuple(getattr(shim, name) for name in names)
        return shim if not names else values[0] if len(values) == 1 else values


class _Captured:
    """What `%%capture name` binds: the build does not capture, so it is empty."""

    stdout = stderr = ""
    outputs: tuple[object, ...] = ()
    show = staticmethod(lambda: None)


def _cd(line: str) -> None:
    target = line.strip().strip("'\"") or "~"
    if target == "-":
        target = _state.previous_dir or str(Path.cwd())
    _state.previous_dir = str(Path.cwd())
    os.chdir(Path(target).expanduser())
    print(Path.cwd())


def _env(line: str) -> object:
    line = line.strip()
    if not line:
        return dict(os.environ)
    key, sep, value = line.partition("=") if "=" in line else line.partition(" ")
    if not sep:
        return os.environ.get(key)
    os.environ[key.strip()] = value.strip()
    print(f"env: {key.strip()}={value.strip()}")
    return None


def _run(line: str, frame: FrameType) -> None:
    """`%run [-i] [-m] script args`: run it and copy its names into the notebook's namespace."""
    words = shlex.split(line)
    flags = {w for w in words if w in ("-i", "-m", "-t", "-e", "-n")}
    args = [w for w in words if w not in flags]
    if not args:
        return
    if args[0].endswith(".ipynb"):
        msg = f"%run {args[0]}: nb2svc cannot run a notebook from a notebook; build both with -n"
        raise RuntimeError(msg)
    saved, sys.argv = sys.argv, args
    init = dict(frame.f_globals) if "-i" in flags else None
    try:
        if "-m" in flags:
            found = runpy.run_module(args[0], init_globals=init, run_name="__main__")
        else:
            found = runpy.run_path(args[0], init_globals=init, run_name="__main__")
    finally:
        sys.argv = saved
    frame.f_globals.update({k: v for k, v in found.items() if not k.startswith("__")})


def _script(name: str, line: str, cell: str) -> None:
    """`%%bash`, `%%sh`, `%%script PROGRAM`: the body on the program's stdin; failure raises."""
    words = shlex.split(line)
    raise_error = "--no-raise-error" not in words
    words = [w for w in words if not w.startswith("--")]
    argv = words if name == "script" else [name, *words]
    if not argv:
        return
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    sys.stdout.flush()
    code = subprocess.run(argv, input=cell, text=True, check=False).returncode
    if code and raise_error:
        raise subprocess.CalledProcessError(code, argv)


_SHELL = BuildShell()


def get_ipython() -> BuildShell:
    """The shim train.py uses in place of IPython's shell."""
    return _SHELL


def save_model(
    namespace: dict[str, Any], *, variable: str | None, name: str, out_dir: str
) -> object:
    """Save the trained model (after the last cell) with `nb2svc_runtime.capture`."""
    _log(f"training done in {time.monotonic() - _state.started:.1f}s; saving the model")
    _state.cell = _state.execution_count = None
    _state.after_cells = True
    capture = importlib.import_module("nb2svc_runtime.capture")
    try:
        return capture.save_model(
            namespace, variable=variable, name=name, out_dir=out_dir, fitted=_state.fitted
        )
    except SystemExit as exc:  # reported like a cell's error, so the build names the cause
        raise _guard.capture_failed(exc, _excepthook) from None
