"""Helpers for end-to-end builds: small notebook repos, the real CLI, image cleanup."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nb2svc.engine.buildah import Buildah

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL_CELLS = (
    "n_estimators = 10\nrandom_state = 0",
    "import pandas as pd\nfrom sklearn.ensemble import RandomForestClassifier",
    "df = pd.read_csv('data/flowers.csv')\ndf.head()",
    "X = df.drop(columns=['kind'])\ny = df['kind']",
    "model = RandomForestClassifier(n_estimators=n_estimators, random_state=random_state)\n"
    "model.fit(X, y)",
)


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    def report(self, outdir: Path) -> dict[str, Any]:
        data = json.loads((outdir / "report.json").read_text())
        assert isinstance(data, dict)
        return data


def notebook(cells: Sequence[str], *, tags: dict[int, list[str]] | None = None) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.2"}
    for i, source in enumerate(cells, start=1):
        cell = nbformat.v4.new_code_cell(source, execution_count=i)
        cell.metadata["tags"] = (tags or {}).get(i, [])
        nb.cells.append(cell)
    nb.cells[0].metadata["tags"] = ["parameters", *nb.cells[0].metadata["tags"]]
    return nb


def write_flowers(path: Path, rows: int = 90) -> None:
    rng = random.Random(7)
    lines = ["petal,sepal,kind"]
    for i in range(rows):
        kind = ("iris", "rose", "tulip")[i % 3]
        base = {"iris": 1.0, "rose": 2.5, "tulip": 4.0}[kind]
        lines.append(f"{base + rng.random():.3f},{base * 2 + rng.random():.3f},{kind}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def make_repo(root: Path, cells: Sequence[str] = SMALL_CELLS, name: str = "flowers.ipynb") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_flowers(root / "data" / "flowers.csv")
    nbformat.write(notebook(cells), str(root / name))
    return root


def nb2svc(*args: str | Path, timeout: float = 900) -> Run:
    env = {**os.environ, "CONTAINERS_CONF": str(REPO_ROOT / "containers" / "containers.conf")}
    proc = subprocess.run(
        [sys.executable, "-m", "nb2svc.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def container_ids(buildah: Buildah) -> set[str]:
    return {str(c.get("id")) for c in buildah.containers()}


CHURN = REPO_ROOT / "sample-notebooks" / "churn"
FAKE_TOKEN = "glpat-nb2svcFAKEtoken0123456789"
TOKEN_ORIGIN = f"https://gitlab-ci-token:{FAKE_TOKEN}@gitlab.example.com/acme/churn.git"
CLEAN_ORIGIN = "https://gitlab.example.com/acme/churn.git"
COMMIT_DATE = "2026-06-01T12:00:00+00:00"


@dataclass(frozen=True)
class ChurnBuild:
    """One `nb2svc build` of the churn checkout: its tag, source, output folder and run."""

    tag: str
    source: Path
    out: Path
    run: Run

    @property
    def report(self) -> dict[str, Any]:
        return self.run.report(self.out)


def git_checkout(source: Path, dest: Path, origin: str) -> Path:
    """`source` committed into a fresh repo at `dest` (a fixed date) whose origin is `origin`."""
    shutil.copytree(source, dest)
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": COMMIT_DATE,
        "GIT_COMMITTER_DATE": COMMIT_DATE,
        "GIT_AUTHOR_NAME": "ci",
        "GIT_AUTHOR_EMAIL": "ci@example.com",
        "GIT_COMMITTER_NAME": "ci",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
    }
    for argv in (
        ["init", "--quiet", "--initial-branch=main"],
        ["remote", "add", "origin", origin],
        ["add", "--all"],
        ["commit", "--quiet", "--message", "churn"],
    ):
        subprocess.run(["git", "-C", str(dest), *argv], check=True, env=env)
    return dest


class ChurnBuilds:
    """`nb2svc build` of the churn checkout, once per runtime (localhost/nb2svc-e2e-churn:*)."""

    def __init__(self, checkout: Path, tmp: pytest.TempPathFactory) -> None:
        self.checkout = checkout
        self._tmp = tmp
        self._built: dict[str, ChurnBuild] = {}

    def get(self, runtime: str = "default") -> ChurnBuild:
        if runtime not in self._built:
            tag = f"localhost/nb2svc-e2e-churn:{runtime}"
            out = self._tmp.mktemp(f"churn-{runtime}")
            run = nb2svc("build", self.checkout, "--runtime", runtime, "-o", out, "-t", tag)
            assert run.returncode == 0, run.stderr[-4000:]
            self._built[runtime] = ChurnBuild(tag, self.checkout, out, run)
        return self._built[runtime]
