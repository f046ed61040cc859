"""`nb2svc build`: the only place that knows the order of the stages.

source -> analyze -> resolve (lock) -> plan -> image (buildah) -> verify -> tag -> emit.
The image is built untagged and tagged only after it served the notebook's own
predictions, so a failed or interrupted build never touches the previous tag.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from nb2svc.analyze import Analysis, analyze
from nb2svc.config import load_config
from nb2svc.datapaths import analysis_links, check_offline, write_folders
from nb2svc.engine.buildah import Buildah
from nb2svc.engine.errors import BuildahError
from nb2svc.engine.podman import Podman
from nb2svc.errors import DependencyError, TrainingError, UsageError
from nb2svc.failures import explain_build_failure
from nb2svc.hazards import retry_inputs
from nb2svc.image.base import REPOSITORY, select_base_images, suite_for
from nb2svc.image.context import context_key, runtime_requirements, write_context
from nb2svc.image.observer import BuildObserver
from nb2svc.image.verify import Verification, read_trained, verify_image
from nb2svc.lock import Lock, LockInput, parse_lock
from nb2svc.lockfile import (
    lockfile_key,
    lockfile_path,
    read_lockfile,
    resolve_build_lock,
    write_lockfile,
)
from nb2svc.options import (
    BuildOptions,
    check_image_ref,
    choose_python,
    configured,
    parse_secret,
)
from nb2svc.plan import SRC_DIR, BuildPlan, NotebookRef, make_labels
from nb2svc.realworld import extra_report
from nb2svc.report import build_report, train_report, write_manifests, write_report
from nb2svc.source import Source, list_source_files, open_source, select_notebooks
from nb2svc.state import StateDir
from nb2svc.wheelhouse import NO_WHEELS, Wheelhouse


@dataclass
class Timer:
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = round(time.monotonic() - start, 3)


def build(options: BuildOptions, out: TextIO = sys.stderr) -> dict[str, Any]:
    """Run the whole build; return report.json's content. Raises `Nb2svcError`."""
    timer = Timer()
    if options.image:
        check_image_ref(options.image)
    with open_source(options.source) as source:
        with timer.step("analyze"):
            analysis = _analyze(source, options)
        options = configured(options, analysis)
        _say(out, f"analyzed {', '.join(n.path for n in _notebook_refs(source, analysis))}")
        plan, context = _prepare(source, analysis, options, timer, out)
        if options.dry_run:
            out.write(json.dumps(plan.to_json(), indent=2) + "\n")
            out.write((context / "Containerfile").read_text())
            return {}
        try:
            return _build_and_verify(plan, analysis, context, options, timer, out)
        except TrainingError as exc:
            if exc.retry is None:
                raise
            retry = exc.retry
            _say(out, f"{exc.message}; building once more with {retry.plan}")
        again = replace(options, exclude_newer=retry.as_of)
        plan, context = _prepare(source, analysis, again, timer, out, extra=retry_inputs(retry))
        return _build_and_verify(plan, analysis, context, again, timer, out)


def _analyze(source: Source, options: BuildOptions) -> Analysis:
    config = load_config(source.root)
    notebooks = select_notebooks(source.root, options.notebooks, config.notebooks)
    return analyze(notebooks, root=source.root, config=config, overrides=options.parameters)


def _prepare(
    source: Source,
    analysis: Analysis,
    options: BuildOptions,
    timer: Timer,
    out: TextIO,
    extra: tuple[LockInput, ...] = (),
) -> tuple[BuildPlan, Path]:
    analysis.raise_for_build()
    check_offline(analysis, allow_network=options.allow_network)
    python = choose_python(analysis, options, out)
    with timer.step("lock"):  # before the base image: a lock failure costs seconds, not minutes
        wheelhouse = Wheelhouse.scan(options.find_links)  # scanned once: the lock and the plan
        lock = _lock(analysis, python, options, wheelhouse, extra)
    _say(out, f"versions: {'; '.join(lock.notes) or 'latest'}")
    if source.local and not options.dry_run:
        written = write_lockfile(analysis, lock)
        if written is not None:
            _say(out, f"wrote {written}: commit it, so every build of this commit (S2I, hooks, "
                 "Tekton, Actions) installs these versions")  # fmt: skip
    with timer.step("base_image"):
        bases = _base_images(options, python, out)
    wheels = tuple(w.path for w in wheelhouse.used_by(lock.packages))
    plan = _make_plan(source, analysis, options, lock, bases, python, wheels)
    options.outdir.mkdir(parents=True, exist_ok=True)
    context = options.outdir / "context"
    containerfile = write_context(plan, source.root, context)
    for name, text in (
        ("Containerfile", containerfile.read_text()),
        ("train.py", plan.train_script),
        ("requirements.lock", lock.text),
    ):
        (options.outdir / name).write_text(text)
    return plan, context


def lock_source(options: BuildOptions, *, check: bool = False, out: TextIO | None = None) -> Path:
    """`nb2svc lock`: write the source's `nb2svc.lock` (or, with `check`, only say whether
    it matches its inputs); returns its path."""
    out = out or sys.stderr
    with open_source(options.source) as source:
        if not source.local:
            raise UsageError(
                "nb2svc lock writes into the source: pass a folder, not a git URL",
                fix="clone the repository, run `nb2svc lock` there and commit nb2svc.lock",
            )
        analysis = _analyze(source, options)
        options = configured(options, analysis)
        python = choose_python(analysis, options, out)
        path = lockfile_path(analysis)
        if check:
            key = lockfile_key(analysis, python, Wheelhouse.scan(options.find_links))
            committed = read_lockfile(path)
            if committed is None or committed.inputs != key:
                state = "missing" if committed is None else "stale (its inputs changed)"
                raise DependencyError(
                    f"{path.relative_to(source.root)} is {state}",
                    fix=f"run `nb2svc lock {options.source}` and commit the file",
                )
            _say(out, f"{path.relative_to(source.root)} is current")
            return path
        lock = _lock(analysis, python, options, Wheelhouse.scan(options.find_links))
        _say(out, f"versions: {'; '.join(lock.notes)}")
        written = write_lockfile(analysis, lock)
        _say(out, f"{'wrote' if written else 'unchanged:'} {path} ({len(lock.packages)} packages)")
        return path


def locked_analysis_json(analysis: Analysis, *, resolve: bool = True) -> dict[str, Any]:
    """`analyze --json`: the analysis plus the versions the build would install (`locked`)."""
    data = analysis.to_json()
    if not resolve:
        return data
    try:
        lock = _lock(analysis, analysis.python_version, BuildOptions())
    except DependencyError as exc:
        data["warnings"].append(f"versions not resolved: {exc.message}")
        return data
    for dep in data.get("dependencies", []):
        dep["locked"] = lock.packages.get(str(dep["name"]))
    data["lock"] = {"tool": lock.tool, "sha256": lock.sha256, "packages": dict(lock.packages)}
    return data


def _base_images(options: BuildOptions, python: str, out: TextIO) -> tuple[str, str]:
    """User-given bases as they are; else ours, made on demand (named only, for --dry-run)."""
    if options.base_image:
        return options.base_image, options.build_base_image or options.base_image
    if options.dry_run:
        suite_for(python)
        return f"{REPOSITORY}:{python}", f"{REPOSITORY}:{python}-build"
    buildah = Buildah(stream=out)
    buildah.check()
    bases = select_base_images(python, buildah)
    return bases.runtime, bases.build


def _lock(
    analysis: Analysis,
    python: str,
    options: BuildOptions,
    wheelhouse: Wheelhouse = NO_WHEELS,
    extra: tuple[LockInput, ...] = (),
) -> Lock:
    return resolve_build_lock(
        analysis,
        python,
        cache_dir=StateDir.default().locks,
        exclude_newer=options.exclude_newer,
        refresh=options.refresh_lock,
        wheelhouse=wheelhouse,
        extra=extra,
    )


def _make_plan(
    source: Source,
    analysis: Analysis,
    options: BuildOptions,
    lock: Lock,
    bases: tuple[str, str],
    python: str,
    wheels: tuple[Path, ...] = (),
) -> BuildPlan:
    refs = _notebook_refs(source, analysis)
    files = list_source_files(source.root)
    name = analysis.model_name
    script = analysis.training_script(source.root)
    return BuildPlan(
        name=name,
        image=check_image_ref(options.image or f"localhost/{name}:latest"),
        python_version=python,
        base_image=bases[0],
        build_base_image=bases[1],
        runtime=options.runtime or "default",
        notebooks=refs,
        lock=lock,
        runtime_requirements=runtime_requirements(),
        train_script=script.text,
        model_variable=analysis.model_variable,
        source_files=files,
        secrets=tuple(parse_secret(s) for s in options.secrets),
        ca_bundle=options.ca_bundle if options.ca_bundle and options.ca_bundle.exists() else None,
        labels=make_labels(
            name=name,
            notebooks=refs,
            lock=lock,
            runtime=options.runtime or "default",
            python_version=python,
            source=source.url,
            revision=source.revision,
            created=source.created,
        ),
        parameters=analysis.overrides,
        data_links=analysis_links(analysis, src_dir=SRC_DIR, source_files=files),
        write_folders=write_folders(analysis, src_dir=SRC_DIR, source_files=files),
        allow_network=options.allow_network,
        train_timeout=options.train_timeout,
        wheels=wheels,
    )


def _notebook_refs(source: Source, analysis: Analysis) -> tuple[NotebookRef, ...]:
    return tuple(
        NotebookRef(
            n.notebook.path.resolve().relative_to(source.root).as_posix(), n.notebook.sha256
        )
        for n in analysis.notebooks
    )


def _build_and_verify(
    plan: BuildPlan,
    analysis: Analysis,
    context: Path,
    options: BuildOptions,
    timer: Timer,
    out: TextIO,
) -> dict[str, Any]:
    buildah = Buildah(stream=out)
    buildah.check()
    observer = BuildObserver()
    if options.train_only:
        return _train_only(buildah, plan, analysis, context, options, timer, observer)
    state = StateDir.default()
    with timer.step("image"):
        key = context_key(context, [buildah.image_id(plan.base_image),
                                    buildah.image_id(plan.build_base_image)])  # fmt: skip
        image_id = None if options.no_cache else state.built(key)
        if image_id is None or not buildah.image_exists(image_id):
            image_id = _run_build(buildah, plan, context, options, observer, analysis)
            state.remember_built(key, image_id)
        else:
            observer.whole_build_reused = True
            _say(out, f"nothing changed since image {image_id[:12]} was built; reusing it")
    verification = state.verified(image_id)
    if verification is None:
        with timer.step("verify"):
            verification = verify_image(Podman(), image_id, name=plan.name, port=plan.port)
        state.remember_verified(image_id, verification)
    buildah.tag(image_id, plan.image)
    _say(out, f"built and verified {plan.image} ({image_id[:12]})")
    previous = state.previous_lock(plan.image)
    state.remember_lock(plan.image, plan.lock.text)
    manifests = write_manifests(plan, image_id, verification, options.outdir)
    report = build_report(
        plan=plan,
        analysis=analysis,
        image_id=image_id,
        image_size=buildah.image_size(image_id),
        verification=verification,
        observer=observer,
        lock_diff=plan.lock.diff(parse_lock(previous) if previous is not None else None),
        timings=timer.timings,
        manifests=manifests,
    )
    return _written(report, plan, analysis, options)


def _written(
    report: dict[str, Any], plan: BuildPlan, analysis: Analysis, options: BuildOptions
) -> dict[str, Any]:
    """The report with the real-world keys added, written to report.json."""
    report.update(extra_report(plan, analysis))
    write_report(report, options.outdir)
    return report


def _train_only(
    buildah: Buildah,
    plan: BuildPlan,
    analysis: Analysis,
    context: Path,
    options: BuildOptions,
    timer: Timer,
    observer: BuildObserver,
) -> dict[str, Any]:
    """`--train-only`: the deps and train stages, then what the model's capture recorded."""
    with timer.step("image"):
        image_id = _run_build(buildah, plan, context, options, observer, analysis, target="train")
    signature, sample = read_trained(buildah, image_id)
    trained = f"trained {signature.get('class')} in the image's train stage ({image_id[:12]})"
    _say(buildah.stream or sys.stderr, f"{trained}; --train-only: no runtime image, nothing tagged")
    report = train_report(
        plan=plan,
        analysis=analysis,
        image_id=image_id,
        signature=signature,
        sample=sample,
        observer=observer,
        timings=timer.timings,
    )
    return _written(report, plan, analysis, options)


def _run_build(
    buildah: Buildah,
    plan: BuildPlan,
    context: Path,
    options: BuildOptions,
    observer: BuildObserver,
    analysis: Analysis,
    *,
    target: str | None = None,
) -> str:
    secrets = [(s.id, s.src) for s in plan.all_secrets]
    try:
        result = buildah.build(
            context / "Containerfile",
            context,
            target=target,
            secrets=secrets,
            no_cache=options.no_cache,
            on_line=observer.feed,
        )
    except BuildahError as exc:
        observer.finish()
        raise explain_build_failure(exc, observer, analysis, plan) from None
    observer.finish()
    return result.image_id


def _say(out: TextIO, message: str) -> None:
    out.write(f"nb2svc: {message}\n")
    out.flush()


__all__ = ["BuildOptions", "Verification", "build", "lock_source"]
