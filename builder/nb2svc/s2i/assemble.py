"""`assemble`: the same steps as `nb2svc build`, inside the S2I builder image.

source (<destination>/src) -> .s2i/environment -> artifacts -> analyze -> lock -> install
(+ the previous build's bytecode) -> train -> check the artifact -> provenance labels
(`/tmp/.s2i/image_metadata.json`) -> group-0 permissions -> clean up the upload.
Never runs buildah or podman. Exit status: 0, or the `nb2svc build` code of the failing
class (6 for training, with the notebook cell named). Prints names, never values, of the
environment, and never the CA bundle.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import MutableMapping
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from nb2svc.analyze import Analysis, analyze
from nb2svc.config import load_config
from nb2svc.errors import Nb2svcError, TrainingError, UsageError
from nb2svc.hazards import retry_inputs
from nb2svc.lock import Lock, LockInput
from nb2svc.lockfile import resolve_build_lock
from nb2svc.plan import LIB_DIR, MODEL_DIR, SRC_DIR, VENV
from nb2svc.s2i import BUILD_DIR, CACHE_DIR, DESTINATION, artifacts, bytecode, metadata, steps
from nb2svc.s2i.environment import apply_environment, read_environment
from nb2svc.s2i.settings import Settings
from nb2svc.s2i.steps import Layout
from nb2svc.source import select_notebooks

DESTINATION_ENV = "NB2SVC_S2I_DESTINATION"  # the builder image sets it to its destination label


def default_layout(env: MutableMapping[str, str]) -> Layout:
    return Layout(
        destination=Path(env.get(DESTINATION_ENV) or DESTINATION),
        app_src=Path(SRC_DIR),
        model=Path(MODEL_DIR),
        venv=Path(VENV),
        lib=Path(LIB_DIR),
        cache=Path(CACHE_DIR),
        build=Path(BUILD_DIR),
    )


def assemble(layout: Layout, env: MutableMapping[str, str], log: TextIO) -> dict[str, float]:
    """Run every step; return seconds per step. Raises `Nb2svcError`."""
    timings: dict[str, float] = {}
    started = time.monotonic()

    def step(name: str) -> None:
        nonlocal started
        now = time.monotonic()
        timings[name] = round(now - started, 3)
        started = now

    settings = load_settings(layout, env, log)
    restored = artifacts.restore(layout.artifacts, layout.cache, log)
    steps.copy_source(layout.src, layout.app_src)
    analysis = _analyze(layout.app_src, settings)
    step("analyze")
    lock = _lock(analysis, layout, settings, log)
    step("lock")
    _install(lock, layout, settings, log, restored=restored)
    step("install")
    try:
        _train(analysis, layout, log, lock)
    except TrainingError as exc:  # a known API removal: once more with the library capped
        if exc.retry is None:
            raise
        retry = exc.retry
        _say(log, f"{exc.message}; installing and training once more with {retry.plan}")
        again = replace(settings, exclude_newer=retry.as_of)
        lock = _lock(analysis, layout, again, log, retry_inputs(retry))
        _install(lock, layout, settings, log, restored=False)
        _train(analysis, layout, log, lock)
    step("train")
    labels = metadata.provenance_labels(analysis, lock, layout.app_src, settings.runtime, env)
    metadata.write(layout.image_metadata, labels)
    steps.group_writable(layout.venv, layout.app_src, layout.model, layout.cache, layout.build)
    _clean_upload(layout)
    step("finish")
    return timings


def load_settings(layout: Layout, env: MutableMapping[str, str], log: TextIO) -> Settings:
    """Apply `.s2i/environment` (names the environment lacks) and read `NB2SVC_*`."""
    if not layout.src.is_dir():
        raise UsageError(
            f"no source at {layout.src}",
            fix="run assemble through s2i, or copy the repository to <destination>/src",
        )
    found = read_environment(layout.src)
    if found.problem:
        _say(log, f"ignoring .s2i/environment: {found.problem}")
    skipped: list[str] = []
    applied = apply_environment(found.entries, env, skipped)
    if skipped:
        _say(log, f"warning: .s2i/environment entries skipped: {', '.join(skipped)}")
    if applied:
        _say(log, f".s2i/environment set {', '.join(applied)}")
    return Settings.from_env(env)


def _analyze(root: Path, settings: Settings) -> Analysis:
    config = load_config(root)
    notebooks = select_notebooks(root, settings.notebooks, config.notebooks)
    analysis = analyze(notebooks, root=root, config=config, overrides=settings.parameters)
    analysis.raise_for_build()
    return analysis


def _lock(
    analysis: Analysis,
    layout: Layout,
    settings: Settings,
    log: TextIO,
    extra: tuple[LockInput, ...] = (),
) -> Lock:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    if analysis.python_version != python:
        _say(log, f"warning: the notebook asks for Python {analysis.python_version}; this "
             f"builder image has {python} (use `nb2svc build --python` for another)")  # fmt: skip
    with steps.environment(steps.uv_env(layout, settings.ca_file)):
        lock = resolve_build_lock(
            analysis,
            python,
            cache_dir=layout.cache / "locks",
            exclude_newer=settings.exclude_newer,
            extra=extra,
        )
    state = "reused" if lock.reused else "resolved"
    _say(log, f"lock: {len(lock.packages)} packages ({state}): {'; '.join(lock.notes)}")
    return lock


def _install(
    lock: Lock, layout: Layout, settings: Settings, log: TextIO, *, restored: bool
) -> None:
    env = steps.uv_env(layout, settings.ca_file)
    offline = steps.install(lock, layout, env, log, offline=restored)
    _say(log, "installed without downloads (restored cache, --offline)" if offline else "installed")
    compiled = bytecode.restore(layout.cache, layout.venv)
    if compiled:
        _say(log, f"reused {compiled} compiled modules of the previous build")


def _train(analysis: Analysis, layout: Layout, log: TextIO, lock: Lock) -> None:
    script = analysis.training_script(layout.app_src, artifact_dir=str(layout.model))
    steps.train(script.text, analysis, layout, log, lock.packages)
    steps.check_model(layout, log)


def _clean_upload(layout: Layout) -> None:
    """The uploaded source and artifacts are not part of the app (s2i#832: image bloat)."""
    for path in (layout.src, layout.artifacts):
        shutil.rmtree(path, ignore_errors=True)


def _say(log: TextIO, message: str) -> None:
    log.write(f"nb2svc-s2i: {message}\n")
    log.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help", "usage"):
        os.execv("/usr/libexec/s2i/usage", ["usage"])
    log = sys.stdout
    try:
        timings = assemble(default_layout(os.environ), os.environ, log)
    except Nb2svcError as exc:
        log.flush()
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    _say(log, "done: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
