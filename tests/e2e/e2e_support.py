"""Helpers for end-to-end builds: small notebook repos, the real CLI, image cleanup."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
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
