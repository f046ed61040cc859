"""What train.py imports in the image (stdlib only): progress, cell errors, the model's
capture; IPython's stand-ins are in train/shell.py (`get_ipython`, `display`)."""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import time
import traceback
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from ..contract import ERROR_MARKER
from . import guard as _guard
from . import shell
from .shell import display, get_ipython
from .shell import log as _log

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class _State:
    root: Path | None = None
    notebook: str | None = None
    cell: int | None = None
    execution_count: int | None = None
    started: float = field(default_factory=time.monotonic)
    starts: list[tuple[str, int, str, int, int | None]] = field(default_factory=list)
    """(file, line of the `cell()` call, notebook, cell index, execution count)."""
    fitted: dict[str, tuple[Any, str]] = field(default_factory=dict)
    """name -> (the last fitted model it held when a cell started, where it was seen)."""
    after_cells: bool = False  # every cell ran; the model is being saved


_state = _State()
_OWN_FILES = (__file__, shell.__file__)  # frames left out of a cell's traceback
__all__ = ["begin_notebook", "cell", "display", "get_ipython", "save_model"]


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
        if frame.filename in _OWN_FILES:
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


def save_model(
    namespace: dict[str, Any], *, variable: str | None, name: str, out_dir: str
) -> object:
    """Save the trained model (after the last cell) with `nb2svc_runtime.train.capture`."""
    _log(f"training done in {time.monotonic() - _state.started:.1f}s; saving the model")
    _state.cell = _state.execution_count = None
    _state.after_cells = True
    capture = importlib.import_module("nb2svc_runtime.train.capture")
    try:
        return capture.save_model(
            namespace, variable=variable, name=name, out_dir=out_dir, fitted=_state.fitted
        )
    except SystemExit as exc:  # reported like a cell's error, so the build names the cause
        raise _guard.capture_failed(exc, _excepthook) from None
