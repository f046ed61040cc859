"""The real protocol clients, in a virtualenv of their own, pinned and cached.

`tests/peers/clients.txt` names the clients (tritonclient, the KServe SDK, MLflow's scoring
client) at exact versions and `tests/peers/clients.lock` pins everything they bring; they
cannot share nb2svc's dev venv (the KServe SDK needs an older python-dateutil). The venv is
made once per lock, with uv from PyPI, in `$NB2SVC_TOOLS_CACHE/py-clients-<hash>` (default
`~/.cache/nb2svc/tools`), under a file lock and renamed into place when complete.
`tests/peers/protocol_clients.py` runs in it and talks to a served model. `BOOSTERS` is a
second set made the same way: XGBoost, LightGBM and CatBoost with the compile stage's tools
(`tests/peers/boosters.txt`, `boosters.lock`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import go_tools

PEERS = Path(__file__).resolve().parent / "peers"
REQUIREMENTS = PEERS / "clients.txt"
LOCK = PEERS / "clients.lock"
SCRIPT = PEERS / "protocol_clients.py"
UV = Path(sys.executable).parent / "uv"
COMPILE_REQUIREMENTS = (
    Path(__file__).resolve().parent.parent / "runtimes/nb2svc_runtime/requirements-compile.txt"
)


@dataclass(frozen=True)
class PeerSet:
    """A venv of pinned packages: `requirements` installed with `-c lock`, cached in
    `<prefix>-<hash of the files>`."""

    prefix: str
    requirements: tuple[Path, ...]
    lock: Path

    def venv_dir(self) -> Path:
        files = [path.read_bytes() for path in (*self.requirements, self.lock)]
        digest = hashlib.sha256(b"\0".join(files))
        return go_tools.cache_root() / f"{self.prefix}-{digest.hexdigest()[:16]}"

    def python(self) -> Path:
        """The venv's Python, made first when it is not there."""
        folder = self.venv_dir()
        python = folder / "bin" / "python"
        folder.parent.mkdir(parents=True, exist_ok=True)
        with (folder.parent / f"{folder.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if python.is_file():
                return python
            scratch = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
            shutil.rmtree(scratch, ignore_errors=True)
            env = {**os.environ, "UV_SYSTEM_CERTS": "1"}
            install = [str(UV), "pip", "install", "-q", "--python", str(scratch / "bin" / "python")]
            for path in self.requirements:
                install += ["-r", str(path)]
            steps = [
                [str(UV), "venv", "-q", "--python", sys.executable, str(scratch)],
                [*install, "-c", str(self.lock)],
            ]
            for step in steps:
                done = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    shutil.rmtree(scratch, ignore_errors=True)
                    msg = f"making the venv failed: {' '.join(step)}\n{done.stderr[-3000:]}"
                    raise RuntimeError(msg)
            # A venv's scripts name its folder; the interpreter link does not, so it moves safely.
            scratch.replace(folder)
            return python


CLIENTS = PeerSet("py-clients", (REQUIREMENTS,), LOCK)
# XGBoost, LightGBM and CatBoost beside the compile stage's own pinned converter tools
# (tests/unit/test_compiled_boosters.py runs tests/peers/booster_models.py in it).
BOOSTERS = PeerSet(
    "py-boosters", (PEERS / "boosters.txt", COMPILE_REQUIREMENTS), PEERS / "boosters.lock"
)


def venv_dir() -> Path:
    return CLIENTS.venv_dir()


def client_python() -> Path:
    """The Python of the clients' venv, made first when it is not there."""
    return CLIENTS.python()


def versions(python: Path) -> dict[str, str]:
    """The installed version of each client named in clients.txt."""
    names = [
        line.split("==")[0].split("[")[0]
        for line in REQUIREMENTS.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    )
    done = subprocess.run(
        [str(python), "-c", code, *names], capture_output=True, text=True, check=True
    )
    found: dict[str, str] = json.loads(done.stdout)
    return found
