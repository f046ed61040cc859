"""Write the build context for a plan: a self-contained folder any OCI builder can build.

Layout:  Containerfile, requirements.lock, runtime-requirements.txt, train.py,
         nb2svc_runtime/ (the server and training support; the train stage copies only its
         train side, containerfile.TRAIN_RUNTIME_FILES), src/ (the repo's files);
         with `--runtime bentoml` also bentoml-requirements.txt and nb2svc_bentoml/.
File metadata is preserved so unchanged inputs hit the layer cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

from nb2svc.errors import BuildError
from nb2svc.image.containerfile import render
from nb2svc.plan import BuildPlan

RUNTIME_PACKAGE = "nb2svc_runtime"
WHEELS_DIR = "wheels"  # local wheels (--find-links), bind-mounted by the install steps


def runtime_package_dir() -> Path:
    spec = importlib.util.find_spec(RUNTIME_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(
            "the nb2svc_runtime package is not installed next to nb2svc",
            fix="reinstall nb2svc (`make setup`)",
        )
    return Path(next(iter(spec.submodule_search_locations)))


RUNTIME_FILES = {
    "default": "requirements.txt",
    "bentoml": "requirements-bentoml.txt",
    "compile": "requirements-compile.txt",  # the converter's pinned tools: compile stage only
}
COMPILE_REQUIREMENTS = "compile-requirements.txt"
BENTOML_PACKAGE = "nb2svc_bentoml"
BENTOML_REQUIREMENTS = "bentoml-requirements.txt"


def runtime_requirements(runtime: str = "default") -> str:
    """The server's requirements; for `bentoml`, what it adds on top of the default ones;
    for `compile`, the compile stage's tools."""
    name = RUNTIME_FILES.get(runtime, RUNTIME_FILES["default"])
    return (runtime_package_dir() / name).read_text()


def write_context(plan: BuildPlan, source_root: Path, context: Path) -> Path:
    """(Re)create `context` for `plan`; returns the Containerfile path.

    The Containerfile is rendered first: a plan its checks refuse leaves the previous
    context as it was."""
    text = render(plan)
    if context.exists():
        shutil.rmtree(context)
    context.mkdir(parents=True)
    (context / "requirements.lock").write_text(plan.lock.text)
    (context / "runtime-requirements.txt").write_text(plan.runtime_requirements)
    (context / "train.py").write_text(plan.train_script)
    _copy_package(runtime_package_dir(), context / RUNTIME_PACKAGE)
    if plan.compiles:
        (context / COMPILE_REQUIREMENTS).write_text(runtime_requirements("compile"))
    if plan.runtime == "bentoml":
        (context / BENTOML_REQUIREMENTS).write_text(runtime_requirements("bentoml"))
        _copy_package(runtime_package_dir().parent / BENTOML_PACKAGE, context / BENTOML_PACKAGE)
    _copy_files(source_root, plan.source_files, context / "src")
    if plan.wheels:
        _link_files(plan.wheels, context / WHEELS_DIR)
    containerfile = context / "Containerfile"
    containerfile.write_text(text)
    return containerfile


def _copy_package(src: Path, dest: Path) -> None:
    shutil.copytree(
        src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "requirements*.txt")
    )


def _link_files(files: tuple[Path, ...], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for path in files:
        try:
            os.link(path, dest / path.name)
        except OSError:
            shutil.copy2(path, dest / path.name)


def _copy_files(root: Path, files: tuple[str, ...], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(root / rel, target)  # cheap and keeps metadata; falls back to a copy
        except OSError:
            shutil.copy2(root / rel, target)


def context_key(context: Path, base_image_ids: list[str]) -> str:
    """A digest of everything a build reads: every context file (path, mode, content) and
    the base images. The same key means buildah would reuse every layer, so the image
    that key produced can be reused without running buildah at all."""
    digest = hashlib.sha256()
    for image_id in base_image_ids:
        digest.update(f"base {image_id}\n".encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        rel = path.relative_to(context).as_posix()
        digest.update(f"{rel} {path.stat().st_mode:o}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
