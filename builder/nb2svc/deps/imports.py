"""Find imports in plain Python code with `ast`, recording line, scope and guard.

One cell (or one local module) at a time. Also collects `importlib.import_module("x")` /
`__import__("x")` literals, `sys.path` additions and attribute uses that imply an optional
backend (`df.read_excel`). When code does not parse, `regex_scan` is the fallback.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Literal

Guard = Literal["none", "try", "try-main", "fallback", "if"]
How = Literal["import", "from", "dynamic", "regex"]
IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
ENV_GUARD = re.compile(
    r"colab|kaggle|sagemaker|databricks|paperspace|get_ipython|ipykernel|sys\.modules"
    r"|sys\.platform|platform\.|os\.name|version_info|\bPY2\b|\bPY3\b|IN_NOTEBOOK",
    re.IGNORECASE,
)
OPTIONAL_GUARDS: frozenset[Guard] = frozenset({"try", "fallback", "if"})


@dataclass(frozen=True)
class ImportRef:
    """One imported module. `path` is what gets mapped (`google.cloud` + `storage`)."""

    module: str  # as written after `import`/`from` ("" for `from . import x`)
    line: int
    name: str | None = None  # the imported name of `from module import name`
    level: int = 0  # leading dots of a relative import
    guard: Guard = "none"
    in_function: bool = False
    how: How = "import"

    @property
    def path(self) -> str:
        if self.name and self.name != "*" and self.module:
            return f"{self.module}.{self.name}"
        return self.module or (self.name or "")

    @property
    def top(self) -> str:
        return self.path.split(".")[0]

    @property
    def optional(self) -> bool:
        return self.guard in OPTIONAL_GUARDS


@dataclass(frozen=True)
class AttrUse:
    """`obj.attr(...)` seen in code: used for implicit backends such as `read_excel`."""

    attr: str
    line: int
    literal: str | None = None  # first positional argument, if a string


@dataclass
class ScanResult:
    imports: list[ImportRef] = field(default_factory=list)
    sys_paths: list[str] = field(default_factory=list)
    attrs: list[AttrUse] = field(default_factory=list)


def scan_code(code: str) -> ScanResult:
    """Scan parseable code; raises SyntaxError (callers fall back to `regex_scan`)."""
    tree = ast.parse(code)
    result = ScanResult()
    _walk(tree, "none", False, result)
    return result


def _walk(node: ast.AST, guard: Guard, in_function: bool, out: ScanResult) -> None:
    if isinstance(node, ast.Try | ast.TryStar) and _catches_import_error(node):
        has_fallback = any(_has_import(h) for h in node.handlers)
        body_guard: Guard = guard if guard != "none" else ("try-main" if has_fallback else "try")
        _walk_all(node.body, body_guard, in_function, out)
        for handler in node.handlers:
            _walk_all(handler.body, "fallback" if guard == "none" else guard, in_function, out)
        _walk_all(node.orelse + node.finalbody, guard, in_function, out)
        return
    if isinstance(node, ast.If) and ENV_GUARD.search(ast.unparse(node.test)):
        _walk(node.test, guard, in_function, out)
        inverted = isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not)
        optional: Guard = "if" if guard == "none" else guard
        _walk_all(node.body, guard if inverted else optional, in_function, out)
        _walk_all(node.orelse, optional if inverted else guard, in_function, out)
        return
    _record(node, guard, in_function, out)
    inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
    for child in ast.iter_child_nodes(node):
        _walk(child, guard, inner, out)


def _walk_all(nodes: list[ast.stmt], guard: Guard, in_function: bool, out: ScanResult) -> None:
    for child in nodes:
        _walk(child, guard, in_function, out)


def _catches_import_error(node: ast.Try | ast.TryStar) -> bool:
    for handler in node.handlers:
        if handler.type is None:
            return True
        names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(n, ast.Name) and n.id in IMPORT_ERRORS for n in names):
            return True
    return False


def _has_import(handler: ast.ExceptHandler) -> bool:
    return any(isinstance(n, ast.Import | ast.ImportFrom) for n in ast.walk(handler))


def _record(node: ast.AST, guard: Guard, in_function: bool, out: ScanResult) -> None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            out.imports.append(ImportRef(alias.name, node.lineno, None, 0, guard, in_function))
    elif isinstance(node, ast.ImportFrom):
        module = node.module or ""
        for alias in node.names:
            ref = ImportRef(module, node.lineno, alias.name, node.level, guard, in_function, "from")
            out.imports.append(ref)
    elif isinstance(node, ast.Call):
        _record_call(node, guard, in_function, out)


def _record_call(node: ast.Call, guard: Guard, in_function: bool, out: ScanResult) -> None:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    first = node.args[0] if node.args else None
    literal = (
        first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
    )
    if name == "shim_import" and literal:  # the cell transform's stand-in for IPython imports
        out.imports.append(ImportRef(literal, node.lineno, None, 0, guard, in_function))
    elif name in ("import_module", "__import__") and literal:
        level = len(literal) - len(literal.lstrip("."))
        ref = ImportRef(
            literal.lstrip("."), node.lineno, None, level, guard, in_function, "dynamic"
        )
        out.imports.append(ref)
    elif isinstance(func, ast.Attribute) and _is_sys_path(func.value):
        for arg in node.args[-1:] if name in ("append", "insert") else []:
            path = _eval_path(arg)
            if path is not None:
                out.sys_paths.append(path)
    if isinstance(func, ast.Attribute):
        out.attrs.append(AttrUse(func.attr, node.lineno, literal))
        if isinstance(func.value, ast.Attribute):  # df.plot.bar(...)
            out.attrs.append(AttrUse(func.value.attr, node.lineno, None))


def _is_sys_path(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "path" and _dotted(node.value) == "sys"


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _eval_path(node: ast.expr) -> str | None:
    """Best-effort value of a path expression made of literals, os.path.* and Path(...)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left, right = _eval_path(node.left), _eval_path(node.right)
        return f"{left}/{right}" if left is not None and right is not None else None
    if not isinstance(node, ast.Call):
        return None
    func = _dotted(node.func)
    if func in ("os.getcwd", "Path.cwd", "pathlib.Path.cwd"):
        return "."
    args = [_eval_path(a) for a in node.args]
    if any(a is None for a in args):
        return None
    parts = [a for a in args if a is not None]
    if func in ("os.path.join", "os.path.abspath", "os.path.realpath", "str", "Path"):
        return "/".join(parts) if parts else "."
    if func == "os.path.dirname" and parts:
        return f"{parts[0]}/.."
    return None


IMPORT_LINE = re.compile(r"^\s*import\s+([\w.]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.]+(?:\s+as\s+\w+)?)*)")
FROM_LINE = re.compile(r"^\s*from\s+(\.*)([\w.]*)\s+import\s+\(?\s*([\w*]+)")
DYNAMIC = re.compile(r"(?:import_module|__import__)\(\s*['\"]([\w.]+)['\"]")


def regex_scan(code: str) -> ScanResult:
    """Line-based import scan for code that `ast` cannot parse (py2 `print x`, conflicts)."""
    result = ScanResult()
    for number, line in enumerate(code.splitlines(), start=1):
        if match := IMPORT_LINE.match(line):
            for part in match[1].split(","):
                module = part.split()[0]
                result.imports.append(ImportRef(module, number, how="regex"))
        elif match := FROM_LINE.match(line):
            level = len(match[1])
            result.imports.append(ImportRef(match[2], number, match[3], level, how="regex"))
        for dyn in DYNAMIC.finditer(line):
            result.imports.append(ImportRef(dyn[1], number, how="dynamic"))
    return result
