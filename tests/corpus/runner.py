"""Run one corpus case end to end: commit it into a fresh git repo, build, probe, clean up.

Shared by tests/corpus/test_corpus.py (assertions) and benchmarks/corpus/run.py (table).
Builds run the `nb2svc` command of this venv, exactly as a user's `nb2svc build`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb2svc.engine.buildah import Buildah
from nb2svc.engine.podman import Podman

HERE = Path(__file__).parent
CASES_DIR = HERE / "cases"
MANIFEST = HERE / "cases.toml"
TOLERANCE = 1e-6


@dataclass(frozen=True)
class Case:
    name: str
    expect: str = "serves"
    notebook: str = "train.ipynb"
    args: tuple[str, ...] = ()
    commit_date: str = ""
    probe: dict[str, Any] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)  # a whole body instead of `probe`
    prediction: Any = None
    report: dict[str, Any] = field(default_factory=dict)
    stage: str = ""
    message: tuple[str, ...] = ()
    requires: str = ""
    tolerance: float = TOLERANCE
    level: str = "train"  # "train" (`--train-only`) or "image" (built, served, probed)
    history: bool = True  # False: a copy without git history (a zip download, an upload)

    @property
    def train_only(self) -> bool:
        return self.expect == "serves" and self.level == "train"

    @property
    def image(self) -> str:
        return f"localhost/nb2svc-corpus-{self.name}:latest"


@dataclass
class Outcome:
    case: Case
    ok: bool
    seconds: float
    got: str
    problems: list[str] = field(default_factory=list)


def load_cases() -> list[Case]:
    data = tomllib.loads(MANIFEST.read_text())
    defaults = {"commit_date": data["default_commit_date"], **data.get("defaults", {})}
    cases = []
    for raw in data["case"]:
        item = {**defaults, **raw}
        if item.get("expect", "serves") == "fails":
            item.pop("probe", None), item.pop("prediction", None), item.pop("request", None)
        item["args"] = tuple(item.get("args", ()))
        item["message"] = tuple(item.get("message", ()))
        cases.append(Case(**item))
    return cases


def make_repo(case: Case, workdir: Path) -> Path:
    """The case's files committed into a new git repository at the case's date (or, for a
    case without history, just copied)."""
    repo = workdir / "repo"
    shutil.copytree(CASES_DIR / case.name, repo)
    if not case.history:
        return repo
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": case.commit_date,
        "GIT_COMMITTER_DATE": case.commit_date,
    }
    ident = ["-c", "user.name=corpus", "-c", "user.email=corpus@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], [*ident, "commit", "-q", "-m", case.name]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env)
    return repo


def build(case: Case, workdir: Path) -> tuple[int, str]:
    """`nb2svc build` of the case, as a user runs it (a process of its own, so cases can
    build side by side); (exit code, what it printed on stderr)."""
    repo = make_repo(case, workdir)
    argv = ["build", str(repo), "-n", case.notebook, "-t", case.image, "-o", str(workdir / "out")]
    argv += ["--train-only"] if case.train_only else []
    command = [str(Path(sys.executable).with_name("nb2svc")), *argv, *case.args]
    done = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    sys.stderr.write(done.stderr)
    return done.returncode, done.stderr


def probe(image_id: str, name: str, payload: dict[str, Any]) -> Any:
    """The first prediction the served image answers to `payload` (a v1 predict body)."""
    podman = Podman()
    with podman.running(image_id, port_container=8080, read_only=True) as container:
        podman.wait_http_ready(f"{container.url}/readyz", timeout=60, container=container)
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{container.url}/v1/models/{name}:predict",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # loopback
            return json.loads(response.read())["predictions"][0]


def lookup(report: dict[str, Any], path: str) -> list[Any]:
    """Values at a dotted path; lists along the way are searched element-wise."""
    values: list[Any] = [report]
    for key in path.split("."):
        nxt: list[Any] = []
        for value in values:
            items = value if isinstance(value, list) else [value]
            nxt += [item[key] for item in items if isinstance(item, dict) and key in item]
        values = nxt
    return [v for value in values for v in (value if isinstance(value, list) else [value])]


def check_report(case: Case, report: dict[str, Any]) -> list[str]:
    problems = []
    for path, expected in case.report.items():
        found = lookup(report, path)
        ok = any(v is not None for v in found) if expected == "*" else expected in found
        if not ok:
            problems.append(f"report {path}: expected {expected!r}, found {found!r}")
    return problems


def same(expected: Any, got: Any, tolerance: float = TOLERANCE) -> bool:
    """Equal, numbers within `tolerance` (relative), lists and objects element by element."""
    if isinstance(expected, float) and isinstance(got, int | float):
        return abs(expected - got) <= tolerance * max(1.0, abs(expected))
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(
            same(e, g, tolerance) for e, g in zip(expected, got, strict=True)
        )
    if isinstance(expected, dict) and isinstance(got, dict):
        return expected.keys() == got.keys() and all(
            same(expected[k], got[k], tolerance) for k in expected
        )
    return bool(expected == got)


def check_serves(case: Case, workdir: Path, code: int, text: str) -> tuple[str, list[str]]:
    if code != 0:
        return f"failed (exit {code})", [f"expected to serve; the build said:\n{text[-3000:]}"]
    report = json.loads((workdir / "out" / "report.json").read_text())
    problems = check_report(case, report)
    if case.train_only:
        if not report.get("train_only") or not report.get("sample_predictions"):
            problems.append(f"--train-only made no model with sample predictions: {report}")
        if Buildah(progress=False).image_exists(case.image):
            problems.append(f"--train-only tagged {case.image}")
        return f"trains ({report['model']['class']})", problems
    request = case.request or {"instances": [case.probe]}
    got = probe(report["image_id"], report["model"]["name"], request)
    if not same(case.prediction, got, case.tolerance):
        problems.append(f"request {request} -> {got!r}, expected {case.prediction!r}")
    return f"serves ({got!r})", problems


def check_fails(case: Case, code: int, text: str) -> tuple[str, list[str]]:
    error = text[text.rfind("error [") :] if "error [" in text else ""
    got = error.splitlines()[0][:160] if error else f"exit {code}"
    if code == 0:
        return "served", ["expected a failure, the build succeeded"]
    problems = []
    if f"error [{case.stage}]" not in error:
        problems.append(f"expected stage [{case.stage}]: {got}")
    problems += [f"message lacks {m!r}" for m in case.message if m not in error]
    if "fix:" not in error:
        problems.append("the message has no fix")
    return got, [*problems, *([f"full message:\n{error}"] if problems else [])]


def run_case(case: Case, workdir: Path, *, clean: bool = True) -> Outcome:
    """Build and check one case; its image is removed afterwards unless `clean` is False
    (the caller then runs `cleanup` once no other case builds: see test_corpus.py)."""
    start = time.monotonic()
    try:
        code, text = build(case, workdir)
        if case.expect == "serves":
            got, problems = check_serves(case, workdir, code, text)
        else:
            got, problems = check_fails(case, code, text)
    finally:
        if clean:
            cleanup(case)
    return Outcome(case, not problems, round(time.monotonic() - start, 1), got, problems)


def cleanup(case: Case) -> None:
    buildah = Buildah(progress=False)
    if buildah.image_exists(case.image):
        buildah.rmi(case.image, force=True)


TABLE_HEADER = "| notebook | expected | outcome | seconds | verdict |\n|---|---|---|---|---|"


def markdown_row(outcome: Outcome) -> str:
    verdict = "ok" if outcome.ok else "MISSED"
    got = outcome.got.replace("|", "\\|")
    case = outcome.case
    return f"| {case.name} | {case.expect} | {got} | {outcome.seconds:.1f} | {verdict} |"
