"""`assemble`: the same plan as `nb2svc build`, carried out inside the S2I builder image.

source (<destination>/src) -> .s2i/environment -> settings (nb2svc.options, the same
model as the flags) -> artifacts -> analyze -> the same checks (network, data files) ->
lock -> plan (nb2svc.plan.make_plan: train.py, data links, limits, labels) -> install
(+ the previous build's bytecode) -> train as planned -> check the artifact -> the plan's
labels (`/tmp/.s2i/image_metadata.json`) -> group-0 permissions -> clean up the upload.
Never runs buildah or podman. Exit status: 0, or the `nb2svc build` code of the failing
class (6 for training, with the notebook cell named). Prints names, never values, of the
environment, and never the CA bundle.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from nb2svc.analyze import Analysis, analyze
from nb2svc.config import load_config
from nb2svc.errors import Nb2svcError, TrainingError, UsageError
from nb2svc.hazards import retry_inputs
from nb2svc.image.context import runtime_requirements
from nb2svc.lock import Lock, LockInput
from nb2svc.lockfile import build_lock
from nb2svc.options import BuildOptions, unknown_variables
from nb2svc.plan import (
    LIB_DIR,
    MODEL_DIR,
    SRC_DIR,
    VENV,
    BuildPlan,
    HostFacts,
    check_buildable,
    make_plan,
)
from nb2svc.s2i import (
    BUILD_DIR,
    BUILDER_IMAGE,
    CACHE_DIR,
    DESTINATION,
    artifacts,
    bytecode,
    metadata,
    steps,
)
from nb2svc.s2i.environment import apply_environment, read_environment
from nb2svc.s2i.settings import s2i_options
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

    options = load_settings(layout, env, log)
    restored = artifacts.restore(layout.artifacts, layout.cache, log)
    steps.copy_source(layout.src, layout.app_src)
    analysis = _analyze(layout.app_src, options)
    check_buildable(analysis, options)  # what `nb2svc build` refuses, refused here too
    step("analyze")
    plan = plan_for(analysis, layout, options, env, log)
    step("lock")
    _install(plan.lock, layout, options, log, restored=restored)
    step("install")
    try:
        steps.train(plan, analysis, layout, log)
    except TrainingError as exc:  # a known API removal: once more with the library capped
        if exc.retry is None:
            raise
        retry = exc.retry
        _say(log, f"{exc.message}; installing and training once more with {retry.plan}")
        again = replace(options, exclude_newer=retry.as_of)
        plan = plan_for(analysis, layout, again, env, log, retry_inputs(retry))
        _install(plan.lock, layout, options, log, restored=False)
        steps.train(plan, analysis, layout, log)
    steps.check_model(layout, log)
    step("train")
    metadata.write(layout.image_metadata, metadata.image_labels(plan))
    steps.group_writable(layout.venv, layout.app_src, layout.model, layout.cache, layout.build)
    _clean_upload(layout)
    step("finish")
    return timings


def load_settings(layout: Layout, env: MutableMapping[str, str], log: TextIO) -> BuildOptions:
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
    for warning in unknown_variables(env):
        _say(log, f"warning: {warning}")
    return s2i_options(env)


def _analyze(root: Path, options: BuildOptions) -> Analysis:
    config = load_config(root)
    notebooks = select_notebooks(root, options.notebooks, config.notebooks)
    return analyze(notebooks, root=root, config=config, overrides=options.parameters)


def plan_for(
    analysis: Analysis,
    layout: Layout,
    options: BuildOptions,
    env: Mapping[str, str],
    log: TextIO,
    extra: tuple[LockInput, ...] = (),
) -> BuildPlan:
    """The lock, then the plan `nb2svc build` would make for this source on this Python
    (nb2svc.plan.make_plan), with the builder image's paths."""
    lock = _lock(analysis, layout, options, log, extra)
    host = HostFacts(
        python=_python(),
        base_image=BUILDER_IMAGE,
        build_base_image=BUILDER_IMAGE,
        runtime_requirements=runtime_requirements(),
        ca_bundle=options.ca_bundle,
        src_dir=str(layout.app_src),
        model_dir=str(layout.model),
    )
    facts = metadata.source_facts(analysis, layout.app_src, env)
    # The builder image serves the notebook's own model: the compile stage is nb2svc build's
    # (docs/architecture.md, "Compiled inference").
    return make_plan(analysis, lock, replace(options, inference="native"), facts, host)


def _python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _lock(
    analysis: Analysis,
    layout: Layout,
    options: BuildOptions,
    log: TextIO,
    extra: tuple[LockInput, ...] = (),
) -> Lock:
    python = _python()
    if analysis.python_version != python:
        _say(log, f"warning: the notebook asks for Python {analysis.python_version}; this "
             f"builder image has {python} (use `nb2svc build --python` for another)")  # fmt: skip
    with steps.environment(steps.uv_env(layout, options.ca_bundle)):
        lock = build_lock(analysis, python, options, layout.cache / "locks", extra=extra)
    state = "reused" if lock.reused else "resolved"
    _say(log, f"lock: {len(lock.packages)} packages ({state}): {'; '.join(lock.notes)}")
    return lock


def _install(
    lock: Lock, layout: Layout, options: BuildOptions, log: TextIO, *, restored: bool
) -> None:
    env = steps.uv_env(layout, options.ca_bundle)
    offline = steps.install(lock, layout, env, log, offline=restored)
    _say(log, "installed without downloads (restored cache, --offline)" if offline else "installed")
    compiled = bytecode.restore(layout.cache, layout.venv)
    if compiled:
        _say(log, f"reused {compiled} compiled modules of the previous build")


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
