"""IPython's stand-ins in train.py (stdlib only): `get_ipython()`, `display`, shell lines
and magics, meaning in a build what they mean in a notebook (train/support.py uses them)."""

from __future__ import annotations

import importlib
import os
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

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
_previous_dir: list[str] = []  # `%cd -` goes back here


def log(message: str) -> None:
    """A progress line of the training run, on stderr."""
    print(f"nb2svc: {message}", file=sys.stderr, flush=True)


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
            log(f"skipped `!{cmd}`: dependencies are installed by the build")
            return
        sys.stdout.flush()
        code = subprocess.run(cmd, shell=True, check=False).returncode
        frame.f_globals["_exit_code"] = code
        if code:
            log(f"`!{cmd}` exited with status {code}")

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
            log(f"skipped %{name} {line}: dependencies are installed by the build")
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
            log(f"%{name} {line} ignored: not available in the build".replace("  ", " "))
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
        target = (_previous_dir or [str(Path.cwd())])[-1]
    _previous_dir[:] = [str(Path.cwd())]
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
