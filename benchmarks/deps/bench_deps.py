"""Benchmark nb2svc's dependency inference against pipreqs 0.5.0 on the messy notebooks.

Usage: .venv/bin/python benchmarks/deps/bench_deps.py [--timeout SECONDS] [--case NAME]...

* pipreqs is installed into its own venv (benchmarks/.venv-pipreqs, via `uv venv` and
  `uv pip install pipreqs==0.5.0`), never the project venv: it pins IPython 8.12.
* pipreqs runs with its default behaviour (`--scan-notebooks --print`, default mode, no
  `--ignore-errors`, so one unparsable file aborts its run) over each case folder. It looks
  names up on PyPI; `--pypi-server https://pypi.org/pypi/` only points it at PyPI's current
  host (its built-in `pypi.python.org` alias does not resolve here).
* A non-zero exit or a timeout counts as a crash, with an empty result.
* Scores: distribution names normalized (PEP 503) against benchmarks/deps/ground_truth.json;
  precision and recall are micro-averaged over all cases.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from nb2svc.deps import detect_python_version, infer_dependencies
from nb2svc.notebook.load import load_notebook
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "fixtures" / "messy"
TRUTH = Path(__file__).resolve().parent / "ground_truth.json"
VENV = ROOT / "benchmarks" / ".venv-pipreqs"
RESULTS = Path(__file__).resolve().parent / "results"
PIPREQS_VERSION = "0.5.0"


@dataclass
class Outcome:
    names: set[str] = field(default_factory=set)
    crashed: bool = False
    error: str = ""
    seconds: float = 0.0


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    crashes: int = 0

    def add(self, got: Outcome, expected: set[str]) -> None:
        self.tp += len(got.names & expected)
        self.fp += len(got.names - expected)
        self.fn += len(expected - got.names)
        self.crashes += got.crashed

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


def ensure_pipreqs() -> Path:
    exe = VENV / "bin" / "pipreqs"
    if exe.is_file():
        return exe
    uv = ROOT / ".venv" / "bin" / "uv"
    env = {**os.environ, "UV_SYSTEM_CERTS": "1"}
    subprocess.run([str(uv), "venv", "-q", "--python", "3.11", str(VENV)], check=True, env=env)
    install = [str(uv), "pip", "install", "-q", "--python", str(VENV / "bin" / "python")]
    subprocess.run([*install, f"pipreqs=={PIPREQS_VERSION}"], check=True, env=env)
    return exe


def normalize(names: set[str]) -> set[str]:
    return {str(canonicalize_name(n)) for n in names}


def run_nb2svc(case_dir: Path, notebook: Path) -> Outcome:
    start = time.monotonic()
    try:
        nb = load_notebook(notebook)
        report = infer_dependencies([nb], case_dir, detect_python_version([nb]))
    except Exception as exc:  # a crash is a result here
        return Outcome(set(), True, f"{type(exc).__name__}: {exc}", time.monotonic() - start)
    names = normalize({d.name for d in report.required})
    return Outcome(names, False, "", time.monotonic() - start)


def run_pipreqs(exe: Path, case_dir: Path, timeout: float) -> Outcome:
    argv = [str(exe), "--scan-notebooks", "--print", "--pypi-server", "https://pypi.org/pypi/"]
    start = time.monotonic()
    try:
        done = subprocess.run(
            [*argv, str(case_dir)], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return Outcome(set(), True, f"timeout after {timeout:.0f}s", timeout)
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return Outcome(set(), True, tail[:120], elapsed)
    lines = [ln.strip() for ln in done.stdout.splitlines() if ln.strip()]
    names = {ln.split("==")[0].split("~=")[0].split(">=")[0] for ln in lines if "=" in ln}
    return Outcome(normalize(names), False, "", elapsed)


def fmt(got: Outcome, expected: set[str]) -> str:
    if got.crashed:
        return f"CRASH ({got.error[:48]})"
    extra, missing = sorted(got.names - expected), sorted(expected - got.names)
    parts = ([f"+{','.join(extra)}"] if extra else []) + (
        [f"-{','.join(missing)}"] if missing else []
    )
    return " ".join(parts) or "exact"


def main() -> int:
    parser = argparse.ArgumentParser(description="nb2svc vs pipreqs dependency inference")
    parser.add_argument("--timeout", type=float, default=120.0, help="per case, for pipreqs")
    parser.add_argument("--case", action="append", default=[], help="run only these cases")
    args = parser.parse_args()
    truth: dict[str, dict[str, object]] = json.loads(TRUTH.read_text(encoding="utf-8"))
    exe = ensure_pipreqs()
    scores = {"nb2svc": Score(), f"pipreqs {PIPREQS_VERSION}": Score()}
    rows: list[dict[str, object]] = []
    print(f"{'case':26} {'nb2svc':44} pipreqs {PIPREQS_VERSION}")
    for name, entry in truth.items():
        if args.case and name not in args.case:
            continue
        expected = normalize({str(n) for n in entry["expected"]})  # type: ignore[attr-defined]
        case_dir = CASES / name
        ours = run_nb2svc(case_dir, CASES / str(entry["notebook"]))
        theirs = run_pipreqs(exe, case_dir, args.timeout)
        for score, got in zip(scores.values(), (ours, theirs), strict=True):
            score.add(got, expected)
        print(f"{name:26} {fmt(ours, expected):44} {fmt(theirs, expected)}")
        rows.append({"case": name, "expected": sorted(expected), "nb2svc": sorted(ours.names),
                     "pipreqs": sorted(theirs.names), "pipreqs_error": theirs.error})  # fmt: skip
    print()
    print(
        f"{'tool':16} {'precision':>9} {'recall':>7} {'crashes':>8} {'tp':>4} {'fp':>4} {'fn':>4}"
    )
    for tool, s in scores.items():
        counts = f"{s.crashes:8d} {s.tp:4d} {s.fp:4d} {s.fn:4d}"
        print(f"{tool:16} {s.precision:9.3f} {s.recall:7.3f} {counts}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    ours_s, theirs_s = scores.values()
    better = ours_s.crashes == 0 and ours_s.precision > theirs_s.precision
    return 0 if better and ours_s.recall > theirs_s.recall else 1


if __name__ == "__main__":
    sys.exit(main())
