"""Make data files available where the notebook expects them (pure; nothing runs here).

`nb2svc.analysis.data_files` matches every path a notebook reads with a repository file
(Colab `/content/x.csv`, Kaggle `/kaggle/input/t/x.csv`, Windows `C:\\Users\\me\\x.csv`,
a case mismatch, a wrong sub-folder, a path relative to the repository root). This
module turns those matches into symbolic links that the train stage creates before
train.py runs: `link` (where the notebook looks) -> `target` (the committed file).

Why links and not a path-remapping shim in nb2svc_runtime.train.support: a link works for every
reader, including the ones that never go through Python's `open` (pyarrow, h5py,
OpenCV, `!unzip`, subprocesses), it is visible in the Containerfile, and it lives
only in the throwaway train stage, never in the served image.

A Windows path is, on Linux, a relative file name with backslashes in the notebook's
working directory, so the link is exactly that file name. Ambiguous and missing
files fail the build before any image is built (`check_data_files`), naming the cell,
and so does a path (or a repository file name) with a line break or another control
character, which no `RUN` line can carry (nb2svc.image.values).
"""

from __future__ import annotations

import ast
import posixpath
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nb2svc.analysis.data_files import DataFileRef
from nb2svc.analysis.network import NetworkUse
from nb2svc.analyze import Analysis, NotebookAnalysis
from nb2svc.errors import CellRef, NotebookError
from nb2svc.image.values import unsafe_character

LINKABLE = frozenset({"repo-root", "case", "basename", "colab", "kaggle", "windows", "absolute"})
BUILD_HOME = "/root"  # HOME of the train RUN step (`~/data/x.csv`)
FORBIDDEN = ("/opt/venv", "/opt/nb2svc/model", "/opt/nb2svc/lib", "/usr", "/etc", "/bin",
             "/sbin", "/lib", "/proc", "/sys", "/dev", "/run", "/boot", "/var/lib")  # fmt: skip


@dataclass(frozen=True)
class DataLink:
    """A symbolic link the train stage creates: `link` -> `target`, both absolute in the image."""

    link: str
    target: str
    reference: str
    notebook: str
    cell: int
    how: str

    def describe(self) -> str:
        return (
            f"{self.notebook} cell {self.cell}: {self.reference!r} ({self.how}) is linked "
            f"to {self.target}"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "notebook": self.notebook,
            "cell": self.cell,
            "reference": self.reference,
            "how": self.how,
            "link": self.link,
            "target": self.target,
        }


def link_location(ref: DataFileRef, notebook_dir: str) -> str:
    """Where the notebook will look for `ref` in the image (absolute, normalised)."""
    if ref.how == "windows":
        return posixpath.normpath(posixpath.join(notebook_dir, ref.reference))
    return image_path(ref.reference, notebook_dir)


def image_path(reference: str, notebook_dir: str) -> str:
    """A POSIX path as the notebook wrote it, absolute in the train stage (`~` is HOME)."""
    if reference.startswith("~"):
        reference = BUILD_HOME + "/" + reference[1:].lstrip("/")
    return posixpath.normpath(posixpath.join(notebook_dir, reference))


def plan_links(
    refs: Iterable[tuple[str, DataFileRef]], *, src_dir: str, source_files: Iterable[str] = ()
) -> tuple[DataLink, ...]:
    """Links for every read whose path differs from where the file is; one per location.

    `refs` are (notebook path relative to the repo root, reference). A location that is a
    committed file, or that lies in a system folder, is never linked over.
    """
    existing = {posixpath.join(src_dir, f) for f in source_files}
    links: dict[str, DataLink] = {}
    for notebook, ref in refs:
        if ref.how not in LINKABLE or ref.resolved is None:
            continue
        notebook_dir = posixpath.dirname(posixpath.join(src_dir, notebook))
        location = link_location(ref, notebook_dir)
        target = posixpath.join(src_dir, ref.resolved)
        if location == target or location in existing or _forbidden(location):
            continue
        _check_renderable(target, notebook, ref.cell, "the repository file it reads is")
        _check_renderable(location, notebook, ref.cell, "the notebook reads")
        links.setdefault(
            location, DataLink(location, target, ref.reference, notebook, ref.cell.index, ref.how)
        )
    return tuple(links.values())


def _check_renderable(path: str, notebook: str | Path, cell: CellRef | None, what: str) -> None:
    """A path the train stage's RUN line makes: refused (naming the cell) if it has a line
    break or another control character, which would end that line."""
    bad = unsafe_character(path)
    if bad is None:
        return
    fix = (
        "rename the file, and the path the cell reads, so that neither has line breaks or "
        "control characters"
        if what.startswith("the repository")
        else "fix the path in the cell so that it has no line breaks or control characters"
    )
    raise NotebookError(
        f"{what} {path!r}, which contains {bad}: the build cannot make it",
        path=notebook,
        cell=cell,
        fix=fix,
    )


def _forbidden(location: str) -> bool:
    return any(location == p or location.startswith(p + "/") for p in FORBIDDEN)


def check_data_files(
    refs: Iterable[tuple[str, DataFileRef]], *, has_shell_commands: bool = False
) -> None:
    """Refuse to build a notebook that reads an ambiguous or missing file (names the cell).

    A missing file is only a warning when the notebook runs shell commands (it may unpack
    or create the file itself, e.g. `!unzip data.zip`).
    """
    for notebook, ref in refs:
        if ref.how == "ambiguous":
            raise NotebookError(
                f"the data file {ref.reference!r} matches several repository files: "
                f"{', '.join(ref.candidates)}",
                path=notebook,
                cell=ref.cell,
                details=[ref.describe()],
                fix="read the file by its path relative to the notebook's folder, e.g. "
                f"{ref.candidates[0]!r}, so the build knows which one you mean",
            )
        if ref.how == "missing" and not has_shell_commands:
            raise NotebookError(
                f"the data file {ref.reference!r} is not in the repository",
                path=notebook,
                cell=ref.cell,
                details=[ref.describe()],
                fix="commit the file next to the notebook (small data), or tag the cell "
                "`nb2svc:skip` if training does not need it",
            )


def link_commands(links: Iterable[DataLink], folders: Iterable[str] = ()) -> list[str]:
    """Shell commands creating the write folders, then the links (`mkdir -p` parents, then
    `ln -s`), quoted. Every path is absolute (`check_plan` makes sure), so none can be
    taken for an option."""
    commands: list[str] = [f"mkdir -p {shlex.quote(folder)}" for folder in folders]
    for link in links:
        parent = posixpath.dirname(link.link)
        commands.append(f"mkdir -p {shlex.quote(parent)}")
        commands.append(f"ln -s {shlex.quote(link.target)} {shlex.quote(link.link)}")
    return commands


SHELL_KINDS = frozenset({"shell", "cell-magic"})


def _refs(analysis: Analysis) -> list[tuple[str, DataFileRef]]:
    return [(nb.rel_path, ref) for nb in analysis.notebooks for ref in nb.data_files]


def analysis_links(
    analysis: Analysis, *, src_dir: str, source_files: Iterable[str]
) -> tuple[DataLink, ...]:
    """`plan_links` for every notebook of an analysis."""
    return plan_links(_refs(analysis), src_dir=src_dir, source_files=source_files)


def write_folders(
    analysis: Analysis, *, src_dir: str, source_files: Iterable[str]
) -> tuple[str, ...]:
    """Folders the notebooks write into that the repository does not carry (`charts/` of a
    `plt.savefig('charts/x.png')`, kept out of git with the author's outputs): created in
    the train stage before train.py runs, so a plot or a CSV cannot fail the build. Only in
    the throwaway train stage: the runtime image takes the model artifact alone."""
    committed = {str(p) for f in source_files for p in PurePosixPath(src_dir, f).parents}
    folders: dict[str, None] = {}
    for nb in analysis.notebooks:
        notebook_dir = posixpath.dirname(posixpath.join(src_dir, nb.rel_path))
        for target in nb.writes:
            if "://" in target or not target.strip():
                continue
            folder = posixpath.dirname(image_path(target.replace("\\", "/"), notebook_dir))
            if folder in committed or _forbidden(folder):
                continue
            _check_renderable(folder, nb.rel_path, _cell_writing(nb, target), "a cell writes into")
            folders.setdefault(folder, None)
    return tuple(folders)


def _cell_writing(nb: NotebookAnalysis, target: str) -> CellRef | None:
    """The first cell with a string literal that is part of `target` and has the control
    character (the analysis records writes without their cell)."""
    for cell, transformed in nb.cells:
        try:
            tree = ast.parse(transformed.code)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and text in target and unsafe_character(text):
                return cell.ref
    return None


def check_offline(analysis: Analysis, *, allow_network: bool) -> None:
    """Fail before any image is built when training would download or miss its data.

    Network use (a download call, `!wget`, `!kaggle`, `nltk.download`, remote storage)
    fails naming the first cell unless `allow_network`; then ambiguous or missing files.
    """
    if not allow_network:
        for nb in analysis.notebooks:
            remote = [r for r in nb.data_files if r.how == "remote"]
            if nb.network:
                raise _network_error(nb.notebook.path, nb.network[0], nb.network)
            if remote:
                raise NotebookError(
                    f"{remote[0].cell} reads remote storage {remote[0].reference!r}",
                    path=nb.notebook.path,
                    cell=remote[0].cell,
                    details=[r.describe() for r in remote],
                    fix=_OFFLINE_FIX,
                )
    shell = any(
        s.kind in SHELL_KINDS for nb in analysis.notebooks for _, t in nb.cells for s in t.shell
    )
    check_data_files(_refs(analysis), has_shell_commands=shell)


_OFFLINE_FIX = (
    "commit the (small) data next to the notebook and read it from there, or pass "
    "--allow-network if the build may download it"
)


def _network_error(path: Path, first: NetworkUse, uses: Iterable[NetworkUse]) -> NotebookError:
    where = f" ({first.url})" if first.url and first.url not in first.what else ""
    return NotebookError(
        f"{first.cell} needs the network while training: {first.what}{where}",
        path=path,
        cell=first.cell,
        details=[u.describe() for u in uses],
        fix=_OFFLINE_FIX,
    )
