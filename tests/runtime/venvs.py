"""Real venvs from exact pins (uv), for tests that need other library versions than the
project venv's: cached under ~/.cache/nb2svc/range-venvs/<hash of the pins>, built into a
temporary folder and renamed, so a venv is complete or absent. `--exclude-newer` fixes
what the pins do not name, so a venv is the same whenever it is made."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

CACHE = Path.home() / ".cache" / "nb2svc" / "range-venvs"
EXCLUDE_NEWER = "2026-12-01T00:00:00Z"


def interpreter(version: str) -> Path:
    """A CPython `version` (X.Y): pyenv's, else one on PATH; the test skips without one."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(pyenv.glob(f"{version}.*/bin/python"))
    if found:
        return found[-1]
    on_path = shutil.which(f"python{version}")
    if on_path is None:
        pytest.skip(f"no Python {version} (pyenv or python{version} on PATH)")
    return Path(on_path)


def uv_command() -> str:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    return uv


def _run(argv: list[str], what: str) -> None:
    env = {**os.environ, "UV_SYSTEM_CERTS": os.environ.get("UV_SYSTEM_CERTS", "1")}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.fail(f"{what} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")


def pinned_venv(version: str, pins: Sequence[str], *, what: str = "installing") -> Path:
    """The python of a venv on CPython `version` holding exactly `pins`, made once, reused."""
    python, uv = interpreter(version), uv_command()
    key = json.dumps([str(python), list(pins), EXCLUDE_NEWER])
    final = CACHE / hashlib.sha256(key.encode()).hexdigest()[:16]
    if (final / "bin" / "python").exists():
        return final / "bin" / "python"
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=CACHE))
    try:
        venv = work / "venv"
        _run(
            [uv, "venv", "--quiet", "--relocatable", "--python", str(python), str(venv)], "uv venv"
        )
        install = ["--only-binary", ":all:", "--exclude-newer", EXCLUDE_NEWER, *pins]
        _run([uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *install],
             what)  # fmt: skip
        try:
            venv.rename(final)  # complete or absent, whoever builds it at the same time
        except OSError:
            if not (final / "bin" / "python").exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final / "bin" / "python"
