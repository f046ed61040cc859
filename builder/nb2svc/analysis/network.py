"""Find cells that reach the network while the notebook trains (pure, `ast` only).

A build trains the notebook inside an image, often without network access, so a
download in a cell (`urlretrieve`, `nltk.download`, `!wget`, `fetch_openml`,
`pd.read_csv("https://...")`) is worth a warning that names the cell and line.

Also home of the small `ast` helpers the other analyses share: `parse_cells`
(one tree per transformed cell, `None` when it does not parse), `import_aliases`
and `qualified_name` (`pd.read_csv` -> `pandas.read_csv`).
"""

from __future__ import annotations

import ast
import contextlib
import posixpath
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from nb2svc.errors import CellRef, cell_fields
from nb2svc.notebook.load import Cell
from nb2svc.notebook.transform import ShellCommand, TransformedCell

AnalyzedCell = tuple[Cell, TransformedCell]
"""A code cell and its IPython-aware transform; the caller transforms each cell once."""

CONVENTIONAL_ALIASES = {
    "pd": "pandas",
    "np": "numpy",
    "tf": "tensorflow",
    "sm": "statsmodels.api",
    "sns": "seaborn",
    "plt": "matplotlib.pyplot",
    "hub": "tensorflow_hub",
    "yf": "yfinance",
    "od": "opendatasets",
}

PATH_BUILDERS = {"pathlib.Path", "pathlib.PurePath", "pathlib.PureWindowsPath", "Path"}
JOINERS = {"os.path.join", "posixpath.join", "ntpath.join"}
URL = re.compile(r"^(?:https?|ftp)://", re.IGNORECASE)

# Qualified call names (after alias resolution) that download or connect.
NETWORK_CALLS = {
    "urllib.request.urlopen": "urllib.request.urlopen",
    "urllib.request.urlretrieve": "urllib.request.urlretrieve",
    "urllib.urlopen": "urllib.urlopen",
    "urllib.urlretrieve": "urllib.urlretrieve",
    "urllib2.urlopen": "urllib2.urlopen",
    "wget.download": "wget.download",
    "nltk.download": "nltk.download (corpus download)",
    "statsmodels.api.datasets.get_rdataset": "statsmodels get_rdataset (downloads R data)",
    "statsmodels.datasets.get_rdataset": "statsmodels get_rdataset (downloads R data)",
    "seaborn.load_dataset": "seaborn.load_dataset (downloads from GitHub)",
    "datasets.load_dataset": "datasets.load_dataset (Hugging Face Hub)",
    "gdown.download": "gdown.download (Google Drive)",
    "opendatasets.download": "opendatasets.download",
    "yfinance.download": "yfinance.download",
    "pandas_datareader.DataReader": "pandas_datareader.DataReader",
    "pandas_datareader.data.DataReader": "pandas_datareader.DataReader",
    "tensorflow_hub.load": "tensorflow_hub.load (model download)",
    "tensorflow_hub.KerasLayer": "tensorflow_hub.KerasLayer (model download)",
    "google.colab.drive.mount": "google.colab.drive.mount (Colab only)",
    "boto3.client": "boto3 client (AWS)",
    "boto3.resource": "boto3 resource (AWS)",
    "huggingface_hub.hf_hub_download": "huggingface_hub.hf_hub_download",
    "huggingface_hub.snapshot_download": "huggingface_hub.snapshot_download",
    "torch.hub.load": "torch.hub.load (model download)",
}
HTTP_MODULES = ("requests", "httpx", "aiohttp", "urllib3")
HTTP_VERBS = {"get", "post", "put", "patch", "delete", "head", "request", "stream", "urlopen"}
HTTP_CLIENTS = {"Session", "session", "Client", "AsyncClient", "ClientSession", "PoolManager"}
SUFFIX_CALLS = {  # attribute names that mean a download whatever the receiver is
    "get_file": "keras get_file (download)",
    "dataset_download_files": "Kaggle API download",
    "dataset_download_file": "Kaggle API download",
    "competition_download_files": "Kaggle API download",
    "competition_download_file": "Kaggle API download",
    "from_pretrained": "from_pretrained (model download from a hub)",
}
URL_READERS = re.compile(
    r"^(read_\w+|load\w*|open|urlopen|get|fetch\w*|download\w*|imread|loadtxt)$"
)
SHELL_PROGRAMS = {
    "wget",
    "curl",
    "kaggle",
    "gdown",
    "aria2c",
    "gsutil",
    "aws",
    "huggingface-cli",
    "hf",
    "svn",
    "rsync",
    "scp",
    "ssh",
    "ftp",
}
SHELL_SKIP_WORDS = {"sudo", "time", "nohup", "env", "-q", "!"}


@dataclass(frozen=True)
class NetworkUse:
    """One place in the notebook that needs the network; `line` is 1-based in the cell."""

    cell: CellRef
    line: int
    what: str
    url: str | None = None

    def describe(self) -> str:
        where = f" ({self.url})" if self.url and self.url not in self.what else ""
        return (
            f"{self.cell}, line {self.line} uses the network: {self.what}{where}; the training "
            "build may run offline: commit the data, or make sure the build can reach it"
        )

    def to_json(self) -> dict[str, object]:
        return {
            **cell_fields(self.cell),
            "line": self.line,
            "what": self.what,
            "url": self.url,
        }


def find_network_use(cells: Sequence[AnalyzedCell]) -> tuple[NetworkUse, ...]:
    """Every network access found in the cells, in cell and line order."""
    trees = parse_cells(cells)
    aliases = import_aliases(t for t in trees if t is not None)
    found: list[NetworkUse] = []
    for (cell, transformed), tree in zip(cells, trees, strict=True):
        if tree is not None:
            with contextlib.suppress(RecursionError):  # absurdly deep code: skip its Python
                found += _python_uses(cell.ref, tree, aliases)
        for command in transformed.shell:
            found += _shell_uses(cell.ref, command)
    unique = {(u.cell.index, u.line): u for u in reversed(found)}  # first use per line wins
    return tuple(sorted(unique.values(), key=lambda u: (u.cell.index, u.line)))


# ---------------------------------------------------------------- shared helpers


def parse_cells(cells: Sequence[AnalyzedCell]) -> list[ast.Module | None]:
    """One `ast` tree per cell, `None` where the transformed code does not parse."""
    return [_parse(transformed) for _, transformed in cells]


def _parse(transformed: TransformedCell) -> ast.Module | None:
    if transformed.syntax_error is not None and not transformed.code.strip():
        return None
    try:
        return ast.parse(transformed.code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def import_aliases(trees: Iterator[ast.Module] | Sequence[ast.Module]) -> dict[str, str]:
    """Local name -> qualified name, from every import in the trees (last one wins)."""
    aliases = dict(CONVENTIONAL_ALIASES)
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        aliases[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if alias.name != "*":
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def dotted_name(node: ast.expr) -> str | None:
    """`a.b.c` for a Name/Attribute chain, calls shown as `a()` (`requests.Session().get`)."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            inner = dotted_name(node.func)
            return ".".join([f"{inner}()", *reversed(parts)]) if inner else None
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return ".".join(reversed(parts))
        else:
            return None


def qualified_name(func: ast.expr, aliases: dict[str, str]) -> str | None:
    """The dotted name of a called function with its first part resolved through imports."""
    name = dotted_name(func)
    if name is None:
        return None
    head, _, rest = name.partition(".")
    resolved = aliases.get(head, head)
    return f"{resolved}.{rest}" if rest else resolved


def string_arg(call: ast.Call, *keywords: str) -> str | None:
    """The first positional argument (or one of `keywords`) when it is a string literal."""
    node: ast.expr | None = call.args[0] if call.args else None
    if node is None or isinstance(node, ast.Starred):
        node = next((k.value for k in call.keywords if k.arg in keywords), None)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def fold(node: ast.expr, aliases: dict[str, str], env: dict[str, str]) -> str | None:
    """The string value of a path expression when it is decidable without running code."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.Name):
        return env.get(node.id)
    if isinstance(node, ast.JoinedStr):
        return _fold_fstring(node, aliases, env)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Div):
        left, right = fold(node.left, aliases, env), fold(node.right, aliases, env)
        if left is None or right is None:
            return None
        return left + right if isinstance(node.op, ast.Add) else posixpath.join(left, right)
    if isinstance(node, ast.Call):
        return _fold_call(node, aliases, env)
    return None


def _fold_fstring(node: ast.JoinedStr, aliases: dict[str, str], env: dict[str, str]) -> str | None:
    parts: list[str] = []
    for value in node.values:
        if isinstance(value, ast.FormattedValue):
            if value.format_spec is not None:
                return None
            text = fold(value.value, aliases, env)
        else:
            text = fold(value, aliases, env)
        if text is None:
            return None
        parts.append(text)
    return "".join(parts)


def _fold_call(node: ast.Call, aliases: dict[str, str], env: dict[str, str]) -> str | None:
    name = qualified_name(node.func, aliases)
    if name in JOINERS or name in PATH_BUILDERS or name == "str":
        args = node.args
    elif isinstance(node.func, ast.Attribute) and node.func.attr == "joinpath":
        args = [node.func.value, *node.args]
    else:
        return None
    if node.keywords or not args:
        return None
    texts = [fold(a, aliases, env) for a in args]
    if any(t is None for t in texts):
        return None
    return posixpath.join(*[t for t in texts if t is not None])


def walk_calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


# ---------------------------------------------------------------- python calls


def _python_uses(ref: CellRef, tree: ast.Module, aliases: dict[str, str]) -> list[NetworkUse]:
    uses = []
    for call in walk_calls(tree):
        what = _describe_call(call, aliases)
        if what is not None:
            url = _url_arg(call)
            uses.append(NetworkUse(ref, call.lineno, what, url))
    return uses


def _describe_call(call: ast.Call, aliases: dict[str, str]) -> str | None:
    name = qualified_name(call.func, aliases)
    if name is None:
        return None
    last = name.rsplit(".", 1)[-1]
    if name in NETWORK_CALLS:
        return NETWORK_CALLS[name]
    if name.split(".")[0] in HTTP_MODULES and (last in HTTP_VERBS or last in HTTP_CLIENTS):
        return f"{name} (HTTP)"
    if name.startswith("sklearn.datasets.fetch_"):
        return f"scikit-learn {last} (downloads the data set)"
    if last == "load_data" and "keras.datasets" in name:
        return f"{name} (downloads the data set)"
    if name.startswith("torchvision.datasets.") and _keyword_true(call, "download"):
        return f"{name}(download=True)"
    if last in SUFFIX_CALLS:
        return SUFFIX_CALLS[last]
    url = _url_arg(call)
    if url is not None and URL_READERS.match(last):
        return f"{name}({url!r})"
    return None


def _url_arg(call: ast.Call) -> str | None:
    nodes = [*call.args, *(k.value for k in call.keywords)]
    for node in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and URL.match(node.value):
            return node.value.strip()
    return None


def _keyword_true(call: ast.Call, keyword: str) -> bool:
    return any(
        k.arg == keyword and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


# ---------------------------------------------------------------- shell lines


def _shell_uses(ref: CellRef, command: ShellCommand) -> list[NetworkUse]:
    if command.kind in ("pip", "conda", "apt"):
        return []  # installs are the dependency resolver's business
    uses = []
    for offset, line in enumerate(command.text.splitlines() or [command.text]):
        for part in re.split(r"&&|\|\||[;|]", line):
            words = _words(part)
            program = _program(words)
            if program == "git" and "clone" in words:
                uses.append(NetworkUse(ref, command.line + offset, "!git clone", _first_url(words)))
            elif program in SHELL_PROGRAMS:
                uses.append(
                    NetworkUse(ref, command.line + offset, f"!{program}", _first_url(words))
                )
    return uses


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=True)
    except ValueError:
        return text.split()


def _program(words: list[str]) -> str | None:
    for word in words:
        if word in SHELL_SKIP_WORDS or re.match(r"^\w+=", word):
            continue
        return word.lstrip("!").rsplit("/", 1)[-1]
    return None


def _first_url(words: list[str]) -> str | None:
    return next((w for w in words if URL.match(w)), None)
