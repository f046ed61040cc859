"""The plain-Python rewrites of a transformed cell: `IPython` imports become the train.py
shim's, `from __future__` imports move to the top of train.py, line for line (so `ast`
line numbers stay the cell's), and the result is compiled once to find a syntax error.
Used by nb2svc.notebook.transform after the IPython-syntax pass.
"""

from __future__ import annotations

import ast

DISPLAY_NAMES = ("display", "clear_output", "HTML", "Markdown", "Image", "Math", "Latex", "JSON")


def python_rewrites(code: str, notes: list[str]) -> tuple[str, list[str]]:
    """Replace `IPython` imports by shims and take out `__future__` imports, line for line."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code, []
    lines = code.split("\n")
    futures: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            futures += [alias.name for alias in node.names]
            _replace(lines, node, "pass  # nb2svc: `from __future__` import moved to the top")
        elif (text := _ipython_import(node)) and _replace(lines, node, text):
            notes.append(f"line {node.lineno}: IPython import replaced by nb2svc shims")
    return "\n".join(lines), futures


def _ipython_import(node: ast.Import | ast.ImportFrom) -> str | None:
    def is_ipython(module: str | None) -> bool:
        return module is not None and (module == "IPython" or module.startswith("IPython."))

    if isinstance(node, ast.ImportFrom):
        if node.level or not is_ipython(node.module):
            return None
        names = [a.name for a in node.names if a.name != "*"] or list(DISPLAY_NAMES)
        bound = [a.asname or a.name for a in node.names if a.name != "*"] or names
        quoted = ", ".join(repr(n) for n in names)
        return f"{', '.join(bound)} = get_ipython().shim_import({node.module!r}, {quoted})"
    if not all(is_ipython(a.name) for a in node.names) or len(node.names) != 1:
        return None
    alias = node.names[0]
    module = alias.name if alias.asname else "IPython"
    return f"{alias.asname or 'IPython'} = get_ipython().shim_import({module!r})"


def _replace(lines: list[str], node: ast.stmt, text: str) -> bool:
    """Put `text` where `node` is, if the statement has its lines to itself."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    head = lines[first].encode()[: node.col_offset].decode(errors="replace")
    tail = lines[last].encode()[node.end_col_offset or 0 :].decode(errors="replace").strip()
    if head.strip() or (tail and not tail.startswith("#")):
        return False
    lines[first] = head + text
    for row in range(first + 1, last + 1):
        lines[row] = ""
    return True


def compile_error(code: str) -> SyntaxError | None:
    try:
        compile(code, "<cell>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc
    except ValueError as exc:  # e.g. a NUL byte in the source
        return SyntaxError(str(exc), ("<cell>", 1, 1, None))
    return None
