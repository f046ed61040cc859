"""Cells that need a person at a screen: forms, prompts and app servers (pure, `ast`).

A notebook often ends by demonstrating its model: a Tkinter form, `input()`, an
ipywidgets `interact`, a Gradio or Flask app launched on a port. In a headless build such
a cell fails (no display, no stdin) or never returns (a server). When it comes after the
cell that made the model, it only demonstrates it: the build skips it, with a warning
naming the cell. One that comes earlier is left to run, so its failure names its cell.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from nb2svc.analysis.network import AnalyzedCell, import_aliases, parse_cells, qualified_name
from nb2svc.errors import CellRef

# Calls that open a window, wait for a person, or serve until stopped.
CALLS = frozenset(
    "input getpass.getpass tkinter.Tk tkinter.Toplevel tkinter.mainloop Tkinter.Tk "  # noqa: SIM905
    "ipywidgets.interact ipywidgets.interactive ipywidgets.interact_manual "
    "gradio.Interface gradio.Blocks streamlit.run uvicorn.run waitress.serve "
    "IPython.display.display_javascript matplotlib.pyplot.ginput cv2.imshow cv2.waitKey "
    "webbrowser.open".split()
)
# Methods that block on a GUI loop or a server, whatever the object's name.
METHODS = frozenset({"mainloop", "serve_forever", "run_server", "launch"})
# `app.run()` blocks when `app` is a web application object.
APP_MODULES = ("flask", "dash", "fastapi", "gradio", "streamlit", "bokeh", "panel")


@dataclass(frozen=True)
class InteractiveCell:
    cell: CellRef
    call: str  # what makes it interactive, as written (`root.mainloop()`, `input(...)`)

    def describe(self) -> str:
        return f"{self.cell} calls {self.call}"


def find_interactive(cells: Sequence[AnalyzedCell]) -> tuple[InteractiveCell, ...]:
    """Every code cell with a call that needs a person or never returns, in order."""
    trees = parse_cells(cells)
    aliases = import_aliases(t for t in trees if t is not None)
    web_app = any(v.split(".")[0] in APP_MODULES for v in aliases.values())
    found: list[InteractiveCell] = []
    for (cell, _), tree in zip(cells, trees, strict=True):
        call = _first_interactive_call(tree, aliases, web_app) if tree is not None else None
        if call is not None:
            found.append(InteractiveCell(cell.ref, call))
    return tuple(found)


def _first_interactive_call(tree: ast.Module, aliases: dict[str, str], web_app: bool) -> str | None:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = qualified_name(node.func, aliases) or ""
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if name in CALLS or method in METHODS or (web_app and method == "run"):
            text = ast.unparse(node)
            return text if len(text) <= 60 else text[:57] + "..."
    return None


def demo_cells(
    interactive: Sequence[InteractiveCell], model_cell: CellRef | None
) -> tuple[InteractiveCell, ...]:
    """The interactive cells after the cell that made the model: only demonstrations."""
    if model_cell is None:
        return ()
    return tuple(c for c in interactive if c.cell.index > model_cell.index)
