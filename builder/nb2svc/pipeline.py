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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from nb2svc.analyze import Analysis, analyze
from nb2svc.config import load_config
from nb2svc.engine.buildah import Buildah
from nb2svc.engine.errors import BuildahError
from nb2svc.engine.podman import Podman
from nb2svc.errors import BuildError, DependencyError, Nb2svcError, TrainingError, UsageError
from nb2svc.image.base import SUITES, select_base_images, suite_for
from nb2svc.image.context import runtime_requirements, write_context
from nb2svc.image.observer import BuildObserver
from nb2svc.image.verify import Verification, verify_image
from nb2svc.lock import Lock, LockInput, parse_lock, resolve_lock
from nb2svc.notebook.script import render_training_script
from nb2svc.plan import BuildPlan, NotebookRef, Secret, make_labels
from nb2svc.report import build_report, write_report
from nb2svc.source import Source, list_source_files, open_source, select_notebooks
from nb2svc.state import StateDir

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class BuildOptions:
    source: str = "."
    notebooks: tuple[str, ...] = ()
    image: str | None = None
    outdir: Path = Path("nb2svc-out")
    runtime: str = "default"
    base_image: str | None = None
    python: str | None = None
    parameters: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    dry_run: bool = False
    no_cache: bool = False
    refresh_lock: bool = False
    ca_bundle: Path | None = HOST_CA_BUNDLE


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
    with open_source(options.source) as source:
        with timer.step("analyze"):
            analysis = _analyze(source, options)
        _say(out, f"analyzed {', '.join(n.path for n in _notebook_refs(source, analysis))}")
        plan, context = _prepare(source, analysis, options, timer, out)
        if options.dry_run:
            out.write(json.dumps(plan.to_json(), indent=2) + "\n")
            out.write((context / "Containerfile").read_text())
            return {}
        return _build_and_verify(plan, analysis, context, options, timer, out)


def _analyze(source: Source, options: BuildOptions) -> Analysis:
    config = load_config(source.root)
    notebooks = select_notebooks(source.root, options.notebooks, config.notebooks)
    return analyze(notebooks, root=source.root, config=config, overrides=options.parameters)


def _prepare(
    source: Source, analysis: Analysis, options: BuildOptions, timer: Timer, out: TextIO
) -> tuple[BuildPlan, Path]:
    analysis.raise_for_build()
    python = _choose_python(analysis, options, out)
    with timer.step("base_image"):
        bases = _base_images(options, python, out)
    with timer.step("lock"):
        lock = _lock(analysis, python, options)
    plan = _make_plan(source, analysis, options, lock, bases, python)
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


def _choose_python(analysis: Analysis, options: BuildOptions, out: TextIO) -> str:
    """The notebook's Python, or the nearest newer one the offline base offers (said loudly)."""
    if options.python or options.base_image:
        return options.python or analysis.python_version
    wanted = analysis.python_version
    if wanted in SUITES:
        return wanted
    newer = [v for v in SUITES if _version_key(v) >= _version_key(wanted)]
    if not newer:
        suite_for(wanted)  # raises the UsageError that says what to pass
    chosen = newer[0]
    _say(
        out,
        f"warning: the notebook asks for Python {wanted}; the offline base offers "
        f"{'/'.join(SUITES)}, so the image uses {chosen}. Pass --python X.Y to choose, or "
        f"--base-image REF for an image with Python {wanted}.",
    )
    return chosen


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _base_images(options: BuildOptions, python: str, out: TextIO) -> tuple[str, str]:
    buildah = Buildah(stream=out)
    buildah.check()
    bases = select_base_images(python, buildah, base_image=options.base_image)
    return bases.runtime, bases.build


def _lock(analysis: Analysis, python: str, options: BuildOptions) -> Lock:
    inputs = [LockInput(req, origin) for req, origin in analysis.requirements()]
    for line in runtime_requirements().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            inputs.append(LockInput(line.strip(), "the model server (runtimes/requirements.txt)"))
    return resolve_lock(
        inputs,
        python_version=python,
        cache_dir=StateDir.default().locks,
        refresh=options.refresh_lock,
    )


def _make_plan(
    source: Source,
    analysis: Analysis,
    options: BuildOptions,
    lock: Lock,
    bases: tuple[str, str],
    python: str,
) -> BuildPlan:
    refs = _notebook_refs(source, analysis)
    name = analysis.model_name
    script = render_training_script(
        [n.notebook for n in analysis.notebooks],
        overrides=analysis.overrides,
        model_variable=analysis.model_variable,
        model_name=name,
        repo_root=source.root,
    )
    return BuildPlan(
        name=name,
        image=options.image or f"localhost/{name}:latest",
        python_version=python,
        base_image=bases[0],
        build_base_image=bases[1],
        runtime=options.runtime,
        notebooks=refs,
        lock=lock,
        runtime_requirements=runtime_requirements(),
        train_script=script.text,
        model_variable=analysis.model_variable,
        source_files=list_source_files(source.root),
        secrets=tuple(_parse_secret(s) for s in options.secrets),
        ca_bundle=options.ca_bundle if options.ca_bundle and options.ca_bundle.exists() else None,
        labels=make_labels(
            name=name,
            notebooks=refs,
            lock=lock,
            runtime=options.runtime,
            python_version=python,
            source=source.uri,
            revision=source.revision,
            created=source.created,
        ),
        parameters=analysis.overrides,
    )


def _notebook_refs(source: Source, analysis: Analysis) -> tuple[NotebookRef, ...]:
    return tuple(
        NotebookRef(
            n.notebook.path.resolve().relative_to(source.root).as_posix(), n.notebook.sha256
        )
        for n in analysis.notebooks
    )


def _parse_secret(spec: str) -> Secret:
    fields = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    if "id" not in fields or "src" not in fields:
        raise UsageError(
            f"--secret {spec!r} is not of the form id=ID,src=PATH",
            fix="e.g. --secret id=kaggle,src=$HOME/.kaggle/kaggle.json",
        )
    src = Path(fields["src"]).expanduser()
    if not src.is_file():
        raise UsageError(f"--secret {fields['id']}: file {src} not found")
    return Secret(fields["id"], src)


def _build_and_verify(
    plan: BuildPlan,
    analysis: Analysis,
    context: Path,
    options: BuildOptions,
    timer: Timer,
    out: TextIO,
) -> dict[str, Any]:
    state = StateDir.default()
    buildah = Buildah(stream=out)
    buildah.check()
    observer = BuildObserver()
    with timer.step("image"):
        image_id = _run_build(buildah, plan, context, options, observer, analysis)
    verification = state.verified(image_id)
    if verification is None:
        with timer.step("verify"):
            verification = verify_image(Podman(), image_id, name=plan.name, port=plan.port)
        state.remember_verified(image_id, verification)
    buildah.tag(image_id, plan.image)
    _say(out, f"built and verified {plan.image} ({image_id[:12]})")
    previous = state.previous_lock(plan.image)
    state.remember_lock(plan.image, plan.lock.text)
    report = build_report(
        plan=plan,
        analysis=analysis,
        image_id=image_id,
        image_size=_image_size(buildah, image_id),
        verification=verification,
        observer=observer,
        lock_diff=plan.lock.diff(_lock_from_text(previous, plan.lock)),
        timings=timer.timings,
        outdir=options.outdir,
    )
    write_report(report, options.outdir)
    return report


def _run_build(
    buildah: Buildah,
    plan: BuildPlan,
    context: Path,
    options: BuildOptions,
    observer: BuildObserver,
    analysis: Analysis,
) -> str:
    secrets = [(s.id, s.src) for s in plan.all_secrets]
    try:
        result = buildah.build(
            context / "Containerfile",
            context,
            secrets=secrets,
            no_cache=options.no_cache,
            on_line=observer.feed,
        )
    except BuildahError as exc:
        observer.finish()
        raise _explain_build_failure(exc, observer, analysis) from None
    observer.finish()
    return result.image_id


def _explain_build_failure(
    exc: BuildahError, observer: BuildObserver, analysis: Analysis
) -> Nb2svcError:
    error = observer.training_error
    if error is not None:
        return analysis.training_error(error, exit_status=_exit_status(exc))
    failed = observer.steps[-1].instruction if observer.steps else ""
    if "uv pip" in failed:
        return DependencyError(
            "installing the locked dependencies failed",
            details=[*analysis.explain_install_failure(observer.install_lines), *exc.details],
            fix="see the installer's message above; pin a version that has a wheel for the "
            "image's Python, or add the system library the package needs",
        )
    if "train.py" in failed:
        return TrainingError(
            "training stopped before any notebook cell failed (see the output above)",
            details=exc.details,
        )
    return BuildError(exc.message, details=exc.details, fix=exc.fix)


def _exit_status(exc: BuildahError) -> int | None:
    for line in reversed(exc.stderr_tail):
        if "exit status" in line:
            tail = line.rsplit("exit status", 1)[1].strip().strip(":").split()
            if tail and tail[0].isdigit():
                return int(tail[0])
    return None


def _image_size(buildah: Buildah, image_id: str) -> int | None:
    for image in buildah.images():
        if str(image.get("id", "")).startswith(image_id[:12]):
            size = image.get("size")
            return int(size) if isinstance(size, int | float) else None
    return None


def _lock_from_text(text: str | None, current: Lock) -> Lock | None:
    if text is None:
        return None
    return Lock(
        text=text,
        packages=parse_lock(text),
        tool=current.tool,
        python_version=current.python_version,
        platform=current.platform,
        inputs_sha256="",
    )


def _say(out: TextIO, message: str) -> None:
    out.write(f"nb2svc: {message}\n")
    out.flush()


__all__ = ["BuildOptions", "Verification", "build"]
