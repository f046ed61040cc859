"""Find the data files a notebook reads and match them with files in the repository.

Pure (`ast`, never run). Paths are literal arguments, folded where decidable (`f"{DATA}/x.csv"`
after `DATA = "data"`, `os.path.join(...)`, `Path("data") / "x.csv"`). `how` tells how a path
matched (`exact`: relative to the notebook's folder, `repo-root`, `case`, `basename`, or the tail
of a `colab`/`kaggle`/`windows`/`absolute` path) or why not (`generated` by the notebook first,
`ambiguous`, `missing`, `remote`, `dynamic`). `resolved` is relative to the repository root.
"""

from __future__ import annotations

import ast
import contextlib
import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nb2svc.analysis.network import (
    JOINERS,
    PATH_BUILDERS,
    AnalyzedCell,
    fold,
    import_aliases,
    parse_cells,
    qualified_name,
)
from nb2svc.analysis.repo_files import How, RepoFiles, match_path
from nb2svc.errors import CellRef, cell_fields

SECRETS_DIR = "/run/secrets/"  # where `nb2svc build --secret id=ID,...` mounts secret files
PANDAS_READERS = re.compile(
    r"read_(csv|excel|parquet|json|table|feather|pickle|fwf|hdf|orc|sas|spss|stata|xml|html)"
)
LOADERS = frozenset(
    "numpy.load numpy.loadtxt numpy.genfromtxt numpy.fromfile joblib.load torch.load "  # noqa: SIM905
    "PIL.Image.open cv2.imread imageio.imread imageio.v2.imread imageio.v3.imread "
    "skimage.io.imread matplotlib.image.imread scipy.io.loadmat h5py.File "
    "pandas.ExcelFile pandas.HDFStore librosa.load soundfile.read "
    "tensorflow.keras.models.load_model keras.models.load_model "
    "tensorflow.keras.utils.image_dataset_from_directory "
    "keras.utils.image_dataset_from_directory datasets.load_from_disk codecs.open io.open "
    "open".split()
)
WRITERS = re.compile(r"to_(csv|excel|parquet|json|pickle|feather|hdf|orc|xml)|savefig")
WRITER_CALLS = {"numpy.save": 0, "numpy.savetxt": 0, "numpy.savez": 0, "joblib.dump": 1}
PATH_KEYWORDS = frozenset(
    "filepath_or_buffer path_or_buf path_or_buffer path io file fname filename filepath fp f "  # noqa: SIM905
    "source directory".split()
)
REMOTE = re.compile(r"^(?:s3|gs|gcs|hdfs|abfss?|az|wasbs?|dbfs)://", re.IGNORECASE)
URL = re.compile(r"^(?:https?|ftp)://", re.IGNORECASE)
FALLBACK = re.compile(
    r"\b(read_\w+|open|load|loadtxt|genfromtxt|imread)\(\s*[rRuU]?(['\"])([^'\"\n]+)\2"
)

_EXPLAIN: dict[str, str] = {
    "exact": "reads {0}",
    "generated": "reads a file the notebook (or an earlier one in the pipeline) writes",
    "secret": "reads a build secret (pass it with --secret id=ID,src=PATH)",
    "repo-root": "is relative to the repository root, not the notebook's folder; found {0}",
    "case": "differs in letter case from {0}; Linux file names are case-sensitive",
    "basename": "is not there, but {0} has that name; fix the path",
    "colab": "is a Google Colab path; the repository has {0}",
    "kaggle": "is a Kaggle path; the repository has {0}",
    "windows": "is a Windows path; the repository has {0}",
    "absolute": "is an absolute path on another machine; the repository has {0}",
    "ambiguous": "matches several files ({1}); use a path relative to the notebook",
    "missing": "is not in the repository; commit the file or download it in the notebook",
    "remote": "reads remote storage; the build needs network access and credentials",
    "dynamic": "reads a path computed at run time; nb2svc cannot check it",
}


@dataclass(frozen=True)
class DataFileRef:
    """One read of a data file; `line` is 1-based in the cell, `resolved` repo-relative."""

    reference: str
    cell: CellRef
    line: int
    function: str
    resolved: str | None
    how: How
    candidates: tuple[str, ...] = ()

    @property
    def problem(self) -> bool:
        """True when the path as written will not work in the build as it stands."""
        return self.how not in ("exact", "generated", "secret")

    def describe(self) -> str:
        where = f"{self.cell}, line {self.line}: {self.function}({self.reference!r})"
        return f"{where} {_EXPLAIN[self.how].format(self.resolved, ', '.join(self.candidates))}"

    def to_json(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            **cell_fields(self.cell),
            "line": self.line,
            "function": self.function,
            "resolved": self.resolved,
            "how": self.how,
            "candidates": list(self.candidates),
        }


@dataclass(frozen=True)
class _Read:
    reference: str | None  # None: the path is computed at run time
    source: str
    line: int
    function: str


def find_data_files(
    cells: Sequence[AnalyzedCell],
    notebook_dir: Path,
    root: Path | None = None,
    written: set[str] | None = None,
    writes: list[str] | None = None,
) -> tuple[DataFileRef, ...]:
    """Every data-file read in the cells, in order, matched against the files under `root`.

    `written` collects the paths the cells write; pass the same set for the notebooks of a
    pipeline, in order, so a file an earlier notebook writes counts as generated. `writes`
    (if given) receives each literal write target as written (a plot, a CSV, a model file).
    """
    root = (root or notebook_dir).resolve()
    files = RepoFiles.scan(root)
    nb_dir = _relative_dir(notebook_dir.resolve(), root)
    trees = parse_cells(cells)
    aliases = import_aliases(t for t in trees if t is not None)
    written = set() if written is None else written
    writes = [] if writes is None else writes
    env: dict[str, str] = {}
    found: list[DataFileRef] = []
    for (cell, transformed), tree in zip(cells, trees, strict=True):
        written.update(_normal(w.path) for w in transformed.written_files)
        reads = None
        with contextlib.suppress(RecursionError):  # absurdly deep code: use the regex scan
            reads = _cell_reads(tree, aliases, env, written, writes) if tree is not None else None
        if reads is None:
            reads = _regex_reads(transformed.code or cell.source)
        for read in reads:
            found.append(_resolve(read, cell.ref, files, nb_dir, written))
    return tuple(found)


def _relative_dir(notebook_dir: Path, root: Path) -> str:
    rel = Path(os.path.relpath(notebook_dir, root)).as_posix()
    return "" if rel == "." or rel.startswith("..") else rel


def _cell_reads(
    tree: ast.Module,
    aliases: dict[str, str],
    env: dict[str, str],
    written: set[str],
    writes: list[str],
) -> list[_Read]:
    """Reads in one cell; updates `env` (string constants) and `written` as it goes."""
    reads: list[_Read] = []
    handles = _file_handles(tree, aliases)
    for statement in tree.body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Call):
                name = qualified_name(node.func, aliases) or ""
                _note_write(node, name, aliases, env, written, writes)
                read = _as_read(node, name, aliases, env, handles)
                if read is not None:
                    reads.append(read)
        _bind(statement, aliases, env)
    return reads


def _as_read(
    call: ast.Call, name: str, aliases: dict[str, str], env: dict[str, str], handles: set[str]
) -> _Read | None:
    last = name.rsplit(".", 1)[-1]
    is_pandas = PANDAS_READERS.fullmatch(last) is not None
    if name in ("open", "io.open", "codecs.open") and _mode_writes(call):
        return None
    if not is_pandas and name not in LOADERS:
        return _path_method_read(call, name, aliases, env)
    arg = _path_arg(call, 0)
    if arg is None or _is_stream(arg, aliases, handles):
        return None
    text = fold(arg, aliases, env)
    if text is not None and ("\n" in text or text.lstrip()[:1] in ("{", "[", "<")):
        return None  # literal data, not a path (`read_json('[...]')`)
    if text is not None and URL.match(text):
        return None  # a download: the network analysis reports it
    return _Read(text, ast.unparse(arg), call.lineno, name)


def _path_method_read(
    call: ast.Call, name: str, aliases: dict[str, str], env: dict[str, str]
) -> _Read | None:
    """`Path("x.csv").read_text()`, `.read_bytes()`, `.open()` (read mode)."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)):
        return None
    if func.attr not in ("read_text", "read_bytes", "open") or _mode_writes(call, 0):
        return None
    builder = qualified_name(func.value.func, aliases)
    if builder not in PATH_BUILDERS:
        return None
    text = fold(func.value, aliases, env)
    return _Read(text, ast.unparse(func.value), call.lineno, name)


def _note_write(
    call: ast.Call,
    name: str,
    aliases: dict[str, str],
    env: dict[str, str],
    written: set[str],
    writes: list[str],
) -> None:
    last = name.rsplit(".", 1)[-1]
    if name in WRITER_CALLS:
        arg = _path_arg(call, WRITER_CALLS[name])
    elif WRITERS.fullmatch(last) or (name in ("open", "io.open") and _mode_writes(call)):
        arg = _path_arg(call, 0)
    else:
        return
    text = fold(arg, aliases, env) if arg is not None else None
    if text is not None:
        written.add(_normal(text))
        writes.append(text)


def _bind(statement: ast.stmt, aliases: dict[str, str], env: dict[str, str]) -> None:
    """Track `NAME = <string we can fold>`; any other binding of NAME forgets it."""
    if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        value = fold(statement.value, aliases, env)
        for target in targets:
            if isinstance(target, ast.Name):
                if value is None:
                    env.pop(target.id, None)
                else:
                    env[target.id] = value
        return
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            env.pop(node.id, None)


def _path_arg(call: ast.Call, position: int) -> ast.expr | None:
    if len(call.args) > position and not isinstance(call.args[position], ast.Starred):
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg in PATH_KEYWORDS), None)


def _mode_writes(call: ast.Call, position: int = 1) -> bool:
    mode: ast.expr | None = call.args[position] if len(call.args) > position else None
    mode = next((k.value for k in call.keywords if k.arg == "mode"), mode)
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return any(c in mode.value for c in "wax+")
    return False


def _is_stream(arg: ast.expr, aliases: dict[str, str], handles: set[str]) -> bool:
    """A file object or buffer, not a path: `open(...)` (reported itself), `io.BytesIO(...)`."""
    if isinstance(arg, ast.Call):
        name = qualified_name(arg.func, aliases) or ""
        return name not in PATH_BUILDERS and name not in JOINERS and name != "str"
    return isinstance(arg, ast.Name) and arg.id in handles


def _file_handles(tree: ast.Module, aliases: dict[str, str]) -> set[str]:
    """Names bound to open files: `with ... as f`, `f = open(...)`, `buf = io.BytesIO(...)`."""
    handles: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            handles.add(node.optional_vars.id)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            name = qualified_name(node.value.func, aliases) or ""
            if name.rsplit(".", 1)[-1] in ("open", "BytesIO", "StringIO", "ZipFile"):
                handles.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return handles


def _regex_reads(code: str) -> list[_Read]:
    """Fallback for a cell that does not parse: literal paths in reader calls."""
    reads = []
    for match in FALLBACK.finditer(code):
        line = code.count("\n", 0, match.start()) + 1
        path = match[3]
        if not URL.match(path):
            reads.append(_Read(path, repr(path), line, match[1]))
    return reads


# ---------------------------------------------------------------- matching


def _resolve(
    read: _Read, cell: CellRef, files: RepoFiles, nb_dir: str, written: set[str]
) -> DataFileRef:
    match: tuple[str | None, How, list[str]] = (None, "dynamic", [])
    if read.reference is not None:
        remote = REMOTE.match(read.reference)
        match = (None, "remote", []) if remote else match_path(read.reference, files, nb_dir)
        if read.reference.startswith(SECRETS_DIR):
            match = (None, "secret", [])
        if match[0] is None and _normal(read.reference) in written:
            match = (None, "generated", [])
    shown = read.reference if read.reference is not None else read.source
    return DataFileRef(shown, cell, read.line, read.function, match[0], match[1], (*match[2],))


def _normal(path: str) -> str:
    return posixpath.normpath(path.replace("\\", "/")).lower()
