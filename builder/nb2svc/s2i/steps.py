"""The steps of `assemble` that run programs: uv (install) and the training script.

Each step streams the program's output to the build log. Only `uv` sees the CA bundle
(as `SSL_CERT_FILE`, a path); the training process gets no CA variable unless the build
lets it use the network (the plan's `allow_network`: `NB2SVC_ALLOW_NETWORK=1`, read by
nb2svc_runtime.train.guard), as in `nb2svc build` (docs/s2i.md, "CA bundle and secrets").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from nb2svc_runtime.contract import ALLOW_NETWORK_ENV, TRAIN_TIMEOUT_ENV

from nb2svc.analyze import Analysis
from nb2svc.datapaths import DataLink
from nb2svc.engine.process import run_streaming
from nb2svc.errors import CellRef, DependencyError, NotebookError, TrainingError
from nb2svc.failures import explain_training_failure
from nb2svc.image.observer import BuildObserver
from nb2svc.lock import Lock, uv_binary
from nb2svc.plan import BuildPlan
from nb2svc.s2i.metadata import IMAGE_METADATA
from nb2svc.source import list_source_files

SYSTEM_PYTHON = "/usr/bin/python3"
LINK_ROOTS = ("/content", "/kaggle")
"""Folders the builder image makes for user 1001 (s2i/Containerfile), so that a Colab or
Kaggle path can be linked to the repository's file as in `nb2svc build`'s train stage."""


@dataclass(frozen=True)
class Layout:
    """Where assemble reads and writes; the builder image's paths by default."""

    destination: Path
    app_src: Path
    model: Path
    venv: Path
    lib: Path
    cache: Path
    build: Path
    image_metadata: Path = Path(IMAGE_METADATA)  # labels for s2i to apply

    @property
    def src(self) -> Path:
        return self.destination / "src"

    @property
    def artifacts(self) -> Path:
        return self.destination / "artifacts"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


def uv_env(layout: Layout, ca_file: Path | None) -> dict[str, str]:
    env = {
        "UV_CACHE_DIR": str(layout.cache / "uv"),
        "UV_LINK_MODE": "hardlink",  # venv and cache share files: the cache costs no space
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_SYSTEM_CERTS": "1",
    }
    if ca_file is not None:
        env["SSL_CERT_FILE"] = str(ca_file)
    return env


@contextmanager
def environment(extra: Mapping[str, str]) -> Iterator[None]:
    """`os.environ` with `extra` for the duration (resolve_lock reads os.environ)."""
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def copy_source(src: Path, dest: Path) -> tuple[str, ...]:
    """The repo's files (no .git, caches or venvs) into the app source folder."""
    files = list_source_files(src)
    dest.mkdir(parents=True, exist_ok=True)
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, target)
    return files


def install(
    lock: Lock, layout: Layout, env: Mapping[str, str], log: TextIO, *, offline: bool
) -> bool:
    """The lock into the app venv; with `offline` try the restored cache alone first.

    Returns True when no package had to be downloaded.
    """
    layout.build.mkdir(parents=True, exist_ok=True)
    lockfile = layout.build / "requirements.lock"
    lockfile.write_text(lock.text)
    uv = uv_binary()
    _run(
        [uv, "venv", "--quiet", "--allow-existing", "--python", SYSTEM_PYTHON, str(layout.venv)],
        env,
        log,
    )
    sync = [uv, "pip", "sync", "--python", str(layout.python), str(lockfile)]
    if offline and _run([*sync, "--offline"], env, log, check=False) == 0:
        return True
    if offline:
        log.write("nb2svc-s2i: the restored cache lacks packages; downloading them\n")
    _run(sync, env, log)
    return False


def _run(argv: list[str], env: Mapping[str, str], log: TextIO, *, check: bool = True) -> int:
    def echo(line: str) -> None:
        log.write(line + "\n")

    result = run_streaming(argv, echo, env={**os.environ, **env})
    if check and result.returncode != 0:
        raise DependencyError(
            f"installing the locked dependencies failed (uv exit status {result.returncode})",
            details=result.tail[-15:],
            fix="see the installer's message above; pin a version that has a wheel for "
            "Python 3.11 on Linux, or use `nb2svc build` with a base image that has the "
            "system library the package needs",
        )
    log.flush()
    return result.returncode


def train(plan: BuildPlan, analysis: Analysis, layout: Layout, log: TextIO) -> None:
    """Run the plan's train.py in the app venv, with its data links and limits; a failing
    cell becomes the `TrainingError` `nb2svc build` gives (nb2svc.failures: the cell, the
    fix for a limit, the retry a known API removal asks for)."""
    layout.build.mkdir(parents=True, exist_ok=True)
    path = layout.build / "train.py"
    path.write_text(plan.train_script)
    observer = BuildObserver()

    def feed(line: str) -> None:
        log.write(line + "\n")
        observer.feed(line)

    env = training_env(os.environ, layout, plan)
    with data_links(plan):
        result = run_streaming([str(layout.python), str(path)], feed, env=env, cwd=layout.app_src)
    log.flush()
    if result.returncode == 0:
        return
    record = observer.training_error
    if record is not None:
        raise explain_training_failure(
            record, analysis, plan, result.returncode, layout.cache / "locks"
        )
    raise TrainingError(
        f"training stopped before any notebook cell failed (exit status {result.returncode})",
        details=result.tail[-15:],
    )


@contextmanager
def data_links(plan: BuildPlan) -> Iterator[None]:
    """The plan's write folders and data links (what the Containerfile's train stage makes
    with `mkdir -p` and `ln -s`), made for training and removed after it: the app image
    carries the model, not the notebook's view of someone's disk."""
    made: list[Path] = []
    try:
        for folder in plan.write_folders:
            _make_folder(Path(folder), made, None)
        for link in plan.data_links:
            location = Path(link.link)
            _make_folder(location.parent, made, link)
            if not location.exists() and not location.is_symlink():
                location.symlink_to(link.target)
                made.append(location)
        yield
    finally:
        for path in reversed(made):
            with contextlib.suppress(OSError):
                path.unlink() if path.is_symlink() else path.rmdir()


def _make_folder(folder: Path, made: list[Path], link: DataLink | None) -> None:
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    for path in reversed(missing):
        try:
            path.mkdir()
        except OSError as exc:
            raise _unmakeable(path, link, exc) from None
        made.append(path)


def _unmakeable(path: Path, link: DataLink | None, exc: OSError) -> NotebookError:
    what = f"the data path {link.reference!r}" if link else f"the folder {str(path)!r}"
    return NotebookError(
        f"the S2I builder (user {os.getuid()}) cannot create {path} for {what}: "
        f"{exc.strerror or exc}",
        path=link.notebook if link else None,
        cell=CellRef(link.cell) if link else None,
        fix="read the file by its path relative to the notebook (the builder image makes "
        f"links only under {', '.join(LINK_ROOTS)} and the source), or build with "
        "`nb2svc build`, whose train stage runs as root",
    )


CA_VARIABLES = ("NB2SVC_CA_FILE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def training_env(environ: Mapping[str, str], layout: Layout, plan: BuildPlan) -> dict[str, str]:
    """The environment the notebook's code runs in: the build's, with the plan's limits
    (read by nb2svc_runtime.train.guard, as in the Containerfile's train step), and without
    the CA bundle's path (an install-only input) unless the plan lets training download."""
    online = plan.allow_network
    env = {k: v for k, v in environ.items() if online or k not in CA_VARIABLES}
    env.pop(ALLOW_NETWORK_ENV, None)
    env.pop(TRAIN_TIMEOUT_ENV, None)
    env.update(MPLBACKEND="Agg", PYTHONUNBUFFERED="1", PYTHONPATH=str(layout.lib))
    if online:
        env[ALLOW_NETWORK_ENV] = "1"
    if plan.train_timeout:
        env[TRAIN_TIMEOUT_ENV] = f"{plan.train_timeout:g}"
    return env


def check_model(layout: Layout, log: TextIO) -> None:
    """The server's own check: load the artifact, predict the sample, compare."""
    env = {**os.environ, "PYTHONPATH": str(layout.lib), "MODEL_DIR": str(layout.model)}

    def echo(line: str) -> None:
        log.write(line + "\n")

    result = run_streaming([str(layout.python), "-m", "nb2svc_runtime", "check"], echo, env=env)
    if result.returncode != 0:
        raise TrainingError(
            "the saved model does not load or does not reproduce its sample predictions",
            details=result.tail[-15:],
        )


def group_writable(*paths: Path) -> None:
    """chmod g=u (OpenShift runs the image with an arbitrary UID in group 0)."""
    for top in paths:
        if not top.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            here = Path(dirpath)
            for path in [here, *(here / n for n in dirnames + filenames)]:
                _copy_user_bits(path)


def _copy_user_bits(path: Path) -> None:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return
    user = (st.st_mode & 0o700) >> 3
    if st.st_mode & 0o070 != user:
        # not ours (e.g. hardlinked from a root-owned layer): left as it is
        with contextlib.suppress(PermissionError):
            path.chmod((st.st_mode & ~0o070) | user)
