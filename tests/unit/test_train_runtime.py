"""The train stage copies only the runtime's train side, and that side stands on its own.

A change to the server (nb2svc_runtime/serve/) must not retrain the model, so the train
stage never copies serve/; and since it does not have it, no train-side module may import
it (docs/architecture.md, "The model server").
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from nb2svc.image.containerfile import render
from nb2svc.image.context import RUNTIME_PACKAGE, runtime_package_dir
from nb2svc.plan import LIB_DIR
from test_containerfile import lines_of_stage, make_plan

PACKAGE_DEST = f"{LIB_DIR}/{RUNTIME_PACKAGE}"


def _runtime_copies(stage: str) -> list[tuple[list[str], str]]:
    """(sources, destination) of the stage's COPY lines that copy the runtime package."""
    found = []
    for line in lines_of_stage(render(make_plan()), stage):
        words = line.split()
        if words[0] == "COPY" and not words[1].startswith("--"):
            sources, dest = words[1:-1], words[-1]
            if any(s.split("/")[0] == RUNTIME_PACKAGE for s in sources):
                found.append((sources, dest))
    return found


def _stage_train_side(root: Path) -> Path:
    """The runtime files the train stage's COPY lines copy, laid out as in the image."""
    package = runtime_package_dir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for sources, dest in _runtime_copies("train"):
        target = root / Path(dest).relative_to(LIB_DIR)
        for source in sources:
            path = package / Path(source).relative_to(RUNTIME_PACKAGE)
            if path.is_dir():
                shutil.copytree(path, target, ignore=ignore)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)
    return root / RUNTIME_PACKAGE


def _modules(package: Path) -> list[str]:
    """Dotted names of every module under `package`."""
    names = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_train_stage_copies_no_serve_code_and_the_runtime_stage_all_of_it() -> None:
    train = _runtime_copies("train")
    sources = [s for copied, _ in train for s in copied]
    assert sources, "the train stage copies no runtime code"
    assert RUNTIME_PACKAGE not in sources  # never the whole package
    assert not [s for s in sources if s.startswith(f"{RUNTIME_PACKAGE}/serve")]
    assert {dest.rstrip("/") for _, dest in train} >= {PACKAGE_DEST, f"{PACKAGE_DEST}/train"}
    assert _runtime_copies("serve-files") == [([RUNTIME_PACKAGE], PACKAGE_DEST)]


def test_every_train_side_module_imports_with_only_the_train_side_present(
    tmp_path: Path,
) -> None:
    """In a Python with nothing but the copied files (and the standard library: -I -S)."""
    package = _stage_train_side(tmp_path)
    assert not (package / "serve").exists()
    modules = _modules(package)
    assert f"{RUNTIME_PACKAGE}.train.support" in modules  # what train.py imports
    assert f"{RUNTIME_PACKAGE}.train.capture" in modules
    code = "import sys; sys.path.insert(0, sys.argv[1])\n" + "\n".join(
        f"import {name}" for name in modules
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr


def test_no_train_side_module_imports_serve_code_even_lazily(tmp_path: Path) -> None:
    """An import inside a function runs only when called: read every import statement."""
    package = _stage_train_side(tmp_path)
    offenders = []
    for path in sorted(package.rglob("*.py")):
        depth = len(path.relative_to(package).parts) - 1  # 0: a top-level module
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(a.name for a in node.names)]
                if node.level and node.level - 1 == depth:  # relative to the package root
                    names = [f"{RUNTIME_PACKAGE}.{n}" for n in names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n.startswith(f"{RUNTIME_PACKAGE}.serve") for n in names):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert not offenders
