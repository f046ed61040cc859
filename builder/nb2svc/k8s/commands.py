"""Entry points the CLI calls: `nb2svc manifests --check`, `nb2svc deploy`, `nb2svc run`.

Each returns an exit code or raises an `Nb2svcError` (the CLI maps it to its exit code).
The kubernetes client and the podman engine are imported lazily, so `manifests --check`
needs neither.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO, cast

from nb2svc.errors import DeployError, UsageError
from nb2svc.k8s.local import KubePlayer, play
from nb2svc.k8s.manifests import render_manifests, with_scaling
from nb2svc.k8s.spec import HpaSpec, ManifestSpec, dns_label
from nb2svc.k8s.validate import load_manifest_file, validate_file

LOCAL_WORKDIR = Path("nb2svc-out") / "local"


def manifests_check_command(
    path: Path, *, versions: Sequence[str] | None = None, out: TextIO = sys.stdout
) -> int:
    """`nb2svc manifests --check FILE`: 0 when clean (warnings allowed), else EXIT_DEPLOY (8).

    Prints one line per finding: `Deployment/churn: spec.template...: must be false (...)`.
    """
    findings = validate_file(path, versions)
    for finding in findings:
        print(finding, file=out)
    errors = [f for f in findings if f.severity == "error"]
    print(f"{path}: {len(errors)} error(s), {len(findings) - len(errors)} warning(s)", file=out)
    return DeployError.exit_code if errors else 0


def manifests_from_report(report: Path) -> Path:
    """The manifests file a build's report.json points at (relative to the report)."""
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the build report: {exc}", path=report) from exc
    value = data.get("manifests") if isinstance(data, dict) else None
    if not isinstance(value, str):
        raise UsageError("report.json has no `manifests` path", path=report)
    path = Path(value)
    return path if path.is_absolute() else report.parent / path


def podman_engine() -> KubePlayer:
    """`nb2svc.engine.podman.Podman`, checked: the only code that runs podman."""
    from nb2svc.engine.podman import Podman

    engine = Podman()
    engine.check()
    return engine


def deploy_command(
    *,
    report: Path | None = None,
    manifests: Path | None = None,
    namespace: str | None = None,
    context: str | None = None,
    kubeconfig: Path | None = None,
    wait: bool = False,
    rollback: bool = False,
    local: bool = False,
    timeout: float | None = None,
    force_conflicts: bool = False,
    hpa: HpaSpec | None = None,
    pdb: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    """`nb2svc deploy (--report FILE | -f MANIFESTS) [...]`; `rollback` implies `wait`.

    `hpa`/`pdb` add a HorizontalPodAutoscaler / PodDisruptionBudget for the Deployment
    (which then carries no `replicas`); `force_conflicts` lets nb2svc take over fields that
    another field manager owns instead of refusing.
    """
    if (report is None) == (manifests is None):
        raise UsageError("pass exactly one of --report FILE or -f MANIFESTS")
    path = manifests if manifests is not None else manifests_from_report(cast(Path, report))
    docs = with_scaling(load_manifest_file(path), hpa, pdb)
    if local:
        service = play(docs, podman_engine(), LOCAL_WORKDIR, timeout=timeout or 120.0)
        print(f"{service.name} is ready at {service.url}", file=out)
        print(f"stop it with: podman kube down {service.manifest}", file=out)
        return 0
    from nb2svc.k8s.deploy import Deployer, connect  # the kubernetes client, only when needed

    deployer = Deployer(connect(context=context, kubeconfig=kubeconfig), force=force_conflicts)
    deployer.deploy(docs, namespace=namespace, wait=wait, timeout=timeout, rollback=rollback)
    return 0


def spec_for_image(image: str, *, port: int = 8080) -> ManifestSpec:
    """A ManifestSpec for serving `image` locally (name and version from the reference)."""
    ref = image.split("@", 1)[0]
    repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    version = dns_label(tag or "local")
    return ManifestSpec(name=repo.rsplit("/", 1)[-1], image=image, version=version, port=port)


def run_command(
    image: str | None = None,
    *,
    report: Path | None = None,
    port: int | None = None,
    timeout: float = 120.0,
    out: TextIO = sys.stdout,
) -> int:
    """`nb2svc run (IMAGE | --report FILE) [--port N]`: play locally, wait, print the URL."""
    if (image is None) == (report is None):
        raise UsageError("pass exactly one of IMAGE or --report FILE")
    docs: list[dict[str, Any]]
    if report is not None:
        docs = load_manifest_file(manifests_from_report(report))
    else:
        docs = render_manifests(spec_for_image(cast(str, image)))
    service = play(docs, podman_engine(), LOCAL_WORKDIR, host_port=port, timeout=timeout)
    print(service.url, file=out)
    print(f"stop it with: podman kube down {service.manifest}", file=out)
    return 0


def parse_hpa(text: str) -> HpaSpec:
    """`--hpa MIN:MAX[:CPU%]` -> HpaSpec (`2:5:70`; the CPU target defaults to 70 %)."""
    parts = text.split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (2, 3) or not 1 <= numbers[0] <= numbers[1]:
        msg = f"--hpa {text!r}: expected MIN:MAX or MIN:MAX:CPU_PERCENT with 1 <= MIN <= MAX"
        raise UsageError(msg, fix="e.g. --hpa 2:5 or --hpa 2:10:60")
    cpu = numbers[2] if len(numbers) == 3 else HpaSpec().cpu_utilization
    if not 1 <= cpu <= 100:
        raise UsageError(f"--hpa {text!r}: the CPU target must be 1 to 100 (%)")
    return HpaSpec(min_replicas=numbers[0], max_replicas=numbers[1], cpu_utilization=cpu)
