"""report.json: what was built, from what, how long it took, and what was reused.

Keys listed in docs/report.md are stable (add, never rename).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb2svc import __version__, labels
from nb2svc.image.containerfile import StepKind
from nb2svc.image.observer import BuildObserver
from nb2svc.k8s.manifests import render_manifests, to_yaml
from nb2svc.k8s.spec import ManifestSpec, Provenance

if TYPE_CHECKING:
    from nb2svc.analyze import Analysis
    from nb2svc.image.verify import Verification
    from nb2svc.plan import BuildPlan


def build_report(
    *,
    plan: BuildPlan,
    analysis: Analysis,
    image_id: str,
    image_size: int | None,
    verification: Verification,
    observer: BuildObserver,
    lock_diff: dict[str, list[str]],
    timings: dict[str, float],
    manifests: Path,
) -> dict[str, Any]:
    """What was built (pure: the manifests were written by `write_manifests` before)."""
    return {
        "image": plan.image,
        "image_id": image_id,
        "image_digest": None,  # set with image_pushed once pushed (nb2svc.push)
        "image_pushed": None,
        "runtime": plan.runtime,
        **_trained(plan, analysis, verification.signature, verification.sample),
        "timings": {**timings, **_stage_timings(observer)},
        "cache": _cache(observer, lock_diff, plan),
        "image_size_bytes": image_size,
        "manifests": str(manifests.resolve()),
        "warnings": analysis.warning_messages(),
        "notebooks": [{"path": n.path, "sha256": n.sha256} for n in plan.notebooks],
        "lock": _lock(plan),
        "inference": inference_report(plan, verification.inference),
        "verification": {
            "ready_seconds": verification.ready_seconds,
            "worker_rss_bytes": verification.worker_rss_bytes,
            "sample_rows": len(verification.predictions),
            "predictions_match": True,
        },
        "base_image": plan.base_image,
        "nb2svc_version": __version__,
    }


INFERENCE_KEYS = (
    "backend", "requested", "checked_rows", "max_abs_diff", "tolerance", "fallback_reason",
    "timing_ms", "versions",
)  # fmt: skip


def inference_report(plan: BuildPlan, decided: dict[str, Any] | None) -> dict[str, Any]:
    """Which form of the model serves and why (docs/report.md, "inference"): the compile
    stage's decision, or native because the plan had no compile stage."""
    if decided is None or not plan.compiles:
        reason = (
            "--inference native"
            if plan.inference == "native" and plan.runtime == "default"
            else f"the {plan.runtime} runtime serves the notebook's model"
        )
        return {
            "backend": "native",
            "requested": plan.inference,
            "checked_rows": 0,
            "max_abs_diff": None,
            "fallback_reason": reason,
        }
    return {key: decided.get(key) for key in INFERENCE_KEYS}


def train_report(
    *,
    plan: BuildPlan,
    analysis: Analysis,
    image_id: str,
    signature: dict[str, Any],
    sample: dict[str, Any],
    observer: BuildObserver,
    timings: dict[str, float],
) -> dict[str, Any]:
    """report.json of `nb2svc build --train-only`: the model trained in the image's train
    stage; no runtime image, so no `image`, verification or manifests."""
    return {
        "train_only": True,
        "train_image_id": image_id,
        **_trained(plan, analysis, signature, sample),
        "timings": {**timings, **_stage_timings(observer)},
        "cache": _cache(observer, {}, plan),
        "warnings": analysis.warning_messages(),
        "notebooks": [{"path": n.path, "sha256": n.sha256} for n in plan.notebooks],
        "lock": _lock(plan),
        "sample_predictions": sample.get("predictions", []),
        "base_image": plan.build_base_image,
        "nb2svc_version": __version__,
    }


def _trained(
    plan: BuildPlan, analysis: Analysis, signature: dict[str, Any], sample: dict[str, Any]
) -> dict[str, Any]:
    """What the train stage made: the model, its signature, an example request."""
    return {
        "model": {
            "name": plan.name,
            "variable": signature.get("variable") or plan.model_variable,
            "framework": signature.get("framework"),
            "class": signature.get("class"),
            "task": signature.get("task"),
        },
        "signature": {
            "inputs": signature.get("inputs", []),
            "outputs": signature.get("outputs", []),
            **({"forecast": signature["forecast"]} if "forecast" in signature else {}),
        },
        "example_request": {"instances": sample.get("inputs", [])[:1]},
        "dependencies": _dependencies(analysis, plan),
        "python_version": plan.python_version,
    }


def _lock(plan: BuildPlan) -> dict[str, Any]:
    return {
        "tool": plan.lock.tool,
        "sha256": plan.lock.sha256,
        "packages": len(plan.lock.packages),
        "source": plan.lock.source,
    }


def _dependencies(analysis: Analysis, plan: BuildPlan) -> list[dict[str, Any]]:
    rows = []
    for dep in analysis.dependency_rows():
        name = str(dep["name"])
        rows.append({**dep, "version": plan.lock.packages.get(name) or dep.get("version")})
    return rows


def _stage_timings(observer: BuildObserver) -> dict[str, float]:
    stages = observer.stage_seconds()
    train = observer.step_of(StepKind.TRAIN)
    out = {f"stage_{name}": seconds for name, seconds in stages.items()}
    if train is not None:
        out["train"] = train.seconds
    return out


def _cache(
    observer: BuildObserver, lock_diff: dict[str, list[str]], plan: BuildPlan
) -> dict[str, Any]:
    deps = observer.step_of(StepKind.DEPS)
    train = observer.step_of(StepKind.TRAIN)
    reused = observer.whole_build_reused
    return {
        "whole_build_reused": reused,
        "deps_layer_reused": reused or bool(deps and deps.cached),
        "train_layer_reused": reused or bool(train and train.cached),
        "steps_reused": sum(1 for s in observer.steps if s.cached),
        "steps": len(observer.steps),
        "lock_reused": plan.lock.reused,
        "lock_changes": lock_diff,
    }


def write_manifests(
    plan: BuildPlan,
    image_id: str,
    verification: Verification,
    outdir: Path,
    digest: str | None = None,
) -> Path:
    """manifests.yaml of the build; with the pushed `digest`, pinned to `repo@digest`."""
    spec = ManifestSpec(
        name=plan.name,
        image=plan.image,
        image_digest=digest,
        version=plan.notebooks[-1].sha256[:12],
        port=plan.port,
        uid=plan.uid,
        model_load_seconds=verification.ready_seconds,
        worker_rss_bytes=verification.worker_rss_bytes,
        provenance=Provenance(
            source_commit=plan.labels.get(labels.OCI_REVISION),
            source_url=plan.labels.get(labels.OCI_SOURCE),
            notebook=",".join(n.path for n in plan.notebooks),
            notebook_sha256=plan.notebooks[-1].sha256,
            nb2svc_version=__version__,
        ),
        extra_annotations={"nb2svc.io/image-id": image_id},
    )
    path = outdir / "manifests.yaml"
    path.write_text(to_yaml(render_manifests(spec)))
    return path


def write_report(report: dict[str, Any], outdir: Path) -> Path:
    return write_report_file(report, outdir / "report.json")


def write_report_file(report: dict[str, Any], path: Path) -> Path:
    """Write `report` to `path` whole or not at all (a temporary file renamed over it)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path
