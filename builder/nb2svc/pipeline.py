"""`nb2svc build`: the only place that knows the order of the stages.

source -> analyze -> lock -> plan -> image (buildah) -> verify -> tag -> write outputs.
Each stage reads what the one before produced (the plan is pure: nb2svc.plan), and the
tools are passed in (nb2svc.tools). The image is built untagged and tagged only after it
served the notebook's own predictions, so a failed or interrupted build never touches
the previous tag.
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
from nb2svc.engine.errors import BuildahError
from nb2svc.engine.registry import RegistryAccess
from nb2svc.errors import DependencyError, PushError, TrainingError, UsageError
from nb2svc.failures import explain_build_failure
from nb2svc.hazards import retry_inputs
from nb2svc.image.context import context_key, runtime_requirements, write_context
from nb2svc.image.observer import BuildObserver
from nb2svc.image.suites import refs_for, suite_for
from nb2svc.image.verify import Verification
from nb2svc.lock import LockInput, parse_lock
from nb2svc.lockfile import build_lock, lockfile_key, lockfile_path, read_lockfile, write_lockfile
from nb2svc.options import BuildOptions, check_image_ref, choose_python, configured, parse_secret
from nb2svc.plan import BuildPlan, HostFacts, NotebookRef, SourceFacts, check_buildable, make_plan
from nb2svc.push import Pushed, again_later, check_pushable, push_image
from nb2svc.realworld import extra_report
from nb2svc.report import build_report, train_report, write_manifests, write_report
from nb2svc.source import Source, list_source_files, open_source, select_notebooks
from nb2svc.state import StateDir
from nb2svc.tools import Tools
from nb2svc.wheelhouse import Wheelhouse


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


def build(
    options: BuildOptions, out: TextIO = sys.stderr, tools: Tools | None = None
) -> dict[str, Any]:
    """Run the whole build; return report.json's content. Raises `Nb2svcError`."""
    timer = Timer()
    tools = tools or Tools.real(out)
    if options.image:
        check_image_ref(options.image)
    access = _registry_access(options)
    with open_source(options.source) as source:
        with timer.step("analyze"):
            analysis = _analyze(source, options)
        options = configured(options, analysis)
        facts = source_facts(source, analysis)
        _say(out, f"analyzed {', '.join(n.path for n in facts.notebooks)}")
        plan = _plan(source, facts, analysis, options, tools, timer, out)
        if options.dry_run:  # the plan, and the context for another builder (Tekton, Actions)
            context = _write_inputs(plan, source.root, options.outdir)
            out.write(json.dumps(plan.to_json(), indent=2) + "\n")
            out.write((context / "Containerfile").read_text())
            return {}
        try:
            return _build_and_verify(
                plan, analysis, source.root, options, tools, timer, out, access
            )
        except TrainingError as exc:
            if exc.retry is None:
                raise
            retry = exc.retry
            _say(out, f"{exc.message}; building once more with {retry.plan}")
        again = replace(options, exclude_newer=retry.as_of)
        plan = _plan(source, facts, analysis, again, tools, timer, out, retry_inputs(retry))
        return _build_and_verify(plan, analysis, source.root, again, tools, timer, out, access)


def _registry_access(options: BuildOptions) -> RegistryAccess | None:
    """With --push: how to reach the registry, every part of it checked before the build
    (a registry -t does not name, an auth file or CA folder that is not there)."""
    if not options.push:
        return None
    check_pushable(options.image or "localhost/")
    return RegistryAccess.given(options.authfile, options.tls_verify, options.cert_dir)


def plan_build(
    options: BuildOptions, out: TextIO = sys.stderr, tools: Tools | None = None
) -> BuildPlan:
    """The plan `nb2svc build` makes for `options`, as `--dry-run` does (the bases named,
    not made; no nb2svc.lock written), without writing the context."""
    tools = tools or Tools.real(out)
    options = replace(options, dry_run=True)
    with open_source(options.source) as source:
        analysis = _analyze(source, options)
        options = configured(options, analysis)
        facts = source_facts(source, analysis)
        return _plan(source, facts, analysis, options, tools, Timer(), out)


def _analyze(source: Source, options: BuildOptions) -> Analysis:
    config = load_config(source.root)
    notebooks = select_notebooks(source.root, options.notebooks, config.notebooks)
    return analyze(notebooks, root=source.root, config=config, overrides=options.parameters)


def source_facts(source: Source, analysis: Analysis) -> SourceFacts:
    """What the plan needs of the source, read once."""
    refs = tuple(
        NotebookRef(
            n.notebook.path.resolve().relative_to(source.root).as_posix(), n.notebook.sha256
        )
        for n in analysis.notebooks
    )
    files = list_source_files(source.root)
    return SourceFacts(refs, files, source.url, source.revision, source.created)


def _plan(
    source: Source,
    facts: SourceFacts,
    analysis: Analysis,
    options: BuildOptions,
    tools: Tools,
    timer: Timer,
    out: TextIO,
    extra: tuple[LockInput, ...] = (),
) -> BuildPlan:
    """Lock, then the plan (after the checks that cost nothing: a notebook that cannot build
    fails before the lock, and a lock failure costs seconds, not a base image's minutes)."""
    check_buildable(analysis, options)
    python = choose_python(analysis, options, out)
    with timer.step("lock"):
        wheelhouse = Wheelhouse.scan(options.find_links)  # scanned once: the lock and the plan
        lock = build_lock(analysis, python, options, tools.state.locks, wheelhouse, extra)
    _say(out, f"versions: {'; '.join(lock.notes) or 'latest'}")
    if source.local and not options.dry_run:
        written = write_lockfile(analysis, lock)
        if written is not None:
            _say(out, f"wrote {written}: commit it, so every build of this commit (S2I, hooks, "
                 "Tekton, Actions) installs these versions")  # fmt: skip
    with timer.step("base_image"):
        bases = _base_images(options, python, tools)
    host = HostFacts(
        python=python,
        base_image=bases[0],
        build_base_image=bases[1],
        runtime_requirements=runtime_requirements(),
        secrets=tuple(parse_secret(s) for s in options.secrets),
        ca_bundle=options.ca_bundle if options.ca_bundle and options.ca_bundle.is_file() else None,
        wheels=tuple(w.path for w in wheelhouse.used_by(lock.packages)),
    )
    return make_plan(analysis, lock, options, facts, host)


def _write_inputs(plan: BuildPlan, root: Path, outdir: Path) -> Path:
    """The build context (OUT/context) and, beside it, what a reviewer reads: the
    Containerfile, train.py and the lock."""
    outdir.mkdir(parents=True, exist_ok=True)
    context = outdir / "context"
    containerfile = write_context(plan, root, context)
    for name, text in (
        ("Containerfile", containerfile.read_text()),
        ("train.py", plan.train_script),
        ("requirements.lock", plan.lock.text),
    ):
        (outdir / name).write_text(text)
    return context


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
        wheels = Wheelhouse.scan(options.find_links)
        lock = build_lock(analysis, python, options, StateDir.default().locks, wheels)
        _say(out, f"versions: {'; '.join(lock.notes)}")
        written = write_lockfile(analysis, lock)
        _say(out, f"{'wrote' if written else 'unchanged:'} {path} ({len(lock.packages)} packages)")
        return path


def _base_images(options: BuildOptions, python: str, tools: Tools) -> tuple[str, str]:
    """User-given bases as they are; else ours, made on demand (named only, for --dry-run)."""
    if options.base_image:
        return options.base_image, options.build_base_image or options.base_image
    if options.dry_run:
        suite_for(python)
        return refs_for(python)
    return tools.base_images(python)


def _build_and_verify(
    plan: BuildPlan,
    analysis: Analysis,
    root: Path,
    options: BuildOptions,
    tools: Tools,
    timer: Timer,
    out: TextIO,
    access: RegistryAccess | None = None,
) -> dict[str, Any]:
    context = _write_inputs(plan, root, options.outdir)
    builder, state = tools.builder, tools.state
    builder.check()
    observer = BuildObserver()
    if options.train_only:
        return _train_only(plan, analysis, context, options, tools, timer, observer, out)
    with timer.step("image"):
        key = context_key(context, [builder.image_id(plan.base_image),
                                    builder.image_id(plan.build_base_image)])  # fmt: skip
        image_id = None if options.no_cache else state.built(key)
        if image_id is None or not builder.image_exists(image_id):
            image_id = _run_build(tools, plan, context, options, observer, analysis)
            state.remember_built(key, image_id)
        else:
            observer.whole_build_reused = True
            _say(out, f"nothing changed since image {image_id[:12]} was built; reusing it")
    verification = state.verified(image_id)
    if verification is None:
        with timer.step("verify"):
            verification = tools.verify(image_id, plan.name, plan.port)
        state.remember_verified(image_id, verification)
    builder.tag(image_id, plan.image)
    _say(out, f"built and verified {plan.image} ({image_id[:12]})")
    previous = state.previous_lock(plan.image)
    state.remember_lock(plan.image, plan.lock.text)
    manifests = write_manifests(plan, image_id, verification, options.outdir)
    report = build_report(
        plan=plan,
        analysis=analysis,
        image_id=image_id,
        image_size=builder.image_size(image_id),
        verification=verification,
        observer=observer,
        lock_diff=plan.lock.diff(parse_lock(previous) if previous is not None else None),
        timings=timer.timings,
        manifests=manifests,
    )
    report = _written(report, plan, analysis, options)
    if access is None:
        return report
    with timer.step("push"):
        pushed = _push(report["image_id"], plan, access, options, tools, out)
    write_manifests(plan, image_id, verification, options.outdir, pushed.digest)
    report.update(pushed.report_keys())
    report["timings"]["push"] = timer.timings["push"]
    write_report(report, options.outdir)
    return report


def _push(
    image_id: str,
    plan: BuildPlan,
    access: RegistryAccess,
    options: BuildOptions,
    tools: Tools,
    out: TextIO,
) -> Pushed:
    """Push the verified, tagged image. report.json and the manifests are written (unpinned)
    before: a failed push leaves them, and the tag, for `nb2svc push --report`."""
    try:
        return push_image(tools.builder, image_id, plan.image, access, out)
    except PushError as exc:
        raise again_later(exc, options.outdir / "report.json") from None


def _written(
    report: dict[str, Any], plan: BuildPlan, analysis: Analysis, options: BuildOptions
) -> dict[str, Any]:
    """The report with the real-world keys added, written to report.json."""
    report.update(extra_report(plan, analysis))
    write_report(report, options.outdir)
    return report


def _train_only(
    plan: BuildPlan,
    analysis: Analysis,
    context: Path,
    options: BuildOptions,
    tools: Tools,
    timer: Timer,
    observer: BuildObserver,
    out: TextIO,
) -> dict[str, Any]:
    """`--train-only`: the deps and train stages, then what the model's capture recorded."""
    with timer.step("image"):
        image_id = _run_build(tools, plan, context, options, observer, analysis, target="train")
    signature, sample = tools.read_trained(image_id)
    trained = f"trained {signature.get('class')} in the image's train stage ({image_id[:12]})"
    _say(out, f"{trained}; --train-only: no runtime image, nothing tagged")
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
    tools: Tools,
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
        result = tools.builder.build(
            context / "Containerfile",
            context,
            target=target,
            secrets=secrets,
            no_cache=options.no_cache,
            on_line=observer.feed,
        )
    except BuildahError as exc:
        observer.finish()
        raise explain_build_failure(exc, observer, analysis, plan, tools.state.locks) from None
    observer.finish()
    return result.image_id


def _say(out: TextIO, message: str) -> None:
    out.write(f"nb2svc: {message}\n")
    out.flush()


__all__ = ["BuildOptions", "Verification", "build", "lock_source"]
