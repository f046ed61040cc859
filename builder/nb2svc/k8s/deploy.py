"""Apply manifests to a cluster, wait for the rollout, roll back. The only kubernetes-client user.

- Config: `--kubeconfig`/`--context`, else in-cluster when `KUBERNETES_SERVICE_HOST` is set,
  else `$KUBECONFIG` / `~/.kube/config`. An explicit `ApiClient`, never global state.
- Apply: server-side apply through the dynamic client (the one SSA path that works on
  kubernetes 33.x to 37.x): `PATCH ...?fieldManager=nb2svc`,
  `Content-Type: application/apply-patch+yaml`. A field another manager owns is a
  conflict the user sees (`apistatus.conflict_error`); `force=true` only with
  `--force-conflicts`.
- Admission first: each Deployment's pod template is sent as a dry-run Pod before anything
  is applied, so Pod Security admission refuses a weakened template with its own message
  and nothing is half-applied.
- Wait: `rollout.rollout_state` (kubectl's logic) polled until done, failed or timed out.
- Rollback: the Deployment manifest that last rolled out is kept on the Deployment itself,
  in the `nb2svc.io/last-good-manifest` annotation (see docs/deploying.md for why).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, dynamic
from kubernetes import config as _config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from nb2svc.errors import DeployError
from nb2svc.k8s import apistatus, lastgood
from nb2svc.k8s import spec as s
from nb2svc.k8s.findings import dig
from nb2svc.k8s.rollout import pod_failure_reason, rollout_state

Manifest = dict[str, Any]
# The client's functions are untyped; reach them through Any rather than ignore comments.
config: Any = _config
DynamicClient: Any = dynamic.DynamicClient
SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@contextlib.contextmanager
def api_errors(action: str) -> Iterator[None]:
    """Turn every client-side failure into a `DeployError` naming what nb2svc was doing."""
    try:
        yield
    except ApiException as exc:
        summary = exc.summary() if hasattr(exc, "summary") else exc.reason
        msg = f"{action} failed: HTTP {exc.status}: {summary}"
        raise DeployError(msg) from exc
    except ResourceNotFoundError as exc:
        msg = f"{action} failed: the API server does not serve this kind ({exc})"
        raise DeployError(
            msg, fix="check the cluster version (autoscaling/v2 needs 1.23+)"
        ) from exc
    except urllib3.exceptions.HTTPError as exc:
        msg = f"{action} failed: cannot reach the API server ({exc})"
        raise DeployError(msg, fix="check the kubeconfig context and network") from exc


def connect(context: str | None = None, kubeconfig: Path | None = None) -> Cluster:
    """A `Cluster` from a kubeconfig (explicit, or `$KUBECONFIG`) or the in-cluster config."""
    in_cluster = "KUBERNETES_SERVICE_HOST" in os.environ and SA_NAMESPACE_FILE.is_file()
    configuration = client.Configuration()
    try:
        if in_cluster and context is None and kubeconfig is None:
            config.load_incluster_config(client_configuration=configuration)
            namespace = SA_NAMESPACE_FILE.read_text().strip() or "default"
        else:
            path = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG", "~/.kube/config")
            config.load_kube_config(
                config_file=path, context=context, client_configuration=configuration
            )
            namespace = _context_namespace(path, context)
    except (ConfigException, OSError) as exc:
        msg = f"cannot load the Kubernetes configuration: {exc}"
        raise DeployError(msg, fix="set KUBECONFIG or pass --context / --kubeconfig") from exc
    return Cluster(client.ApiClient(configuration), default_namespace=namespace)


def _context_namespace(path: str, context: str | None) -> str:
    contexts, active = config.list_kube_config_contexts(config_file=path)
    chosen = next((c for c in contexts if c.get("name") == context), active) if context else active
    return str(dig(chosen, "context", "namespace") or "default")


class Cluster:
    """One API server, spoken to through the dynamic client with plain-dict bodies."""

    def __init__(
        self, api_client: Any, *, default_namespace: str = "default", cache_file: Path | None = None
    ) -> None:
        self.default_namespace = default_namespace
        with api_errors("API discovery"):
            self._dyn = DynamicClient(
                api_client, cache_file=str(cache_file) if cache_file else None
            )

    def _resource(self, api_version: str, kind: str) -> Any:
        with api_errors(f"looking up {api_version} {kind}"):
            return self._dyn.resources.get(api_version=api_version, kind=kind)

    def namespaced(self, doc: Mapping[str, Any]) -> bool:
        return bool(self._resource(doc["apiVersion"], doc["kind"]).namespaced)

    def apply(
        self, doc: Mapping[str, Any], namespace: str | None, *, force: bool = False
    ) -> Manifest:
        """Server-side apply with field manager `nb2svc`; with `force`, take over fields
        other managers own, else a conflict is a `DeployError` naming each field."""
        res = self._resource(doc["apiVersion"], doc["kind"])
        what = f"{doc['kind']}/{dig(doc, 'metadata', 'name')}"
        try:
            with api_errors(f"applying {what}"):
                out = res.server_side_apply(
                    body=dict(doc),
                    namespace=namespace if res.namespaced else None,
                    field_manager=s.FIELD_MANAGER,
                    force_conflicts=force,
                )
        except DeployError as exc:
            cause = exc.__cause__
            found = apistatus.conflicts(apistatus.status_body(getattr(cause, "body", None)))
            if found:
                raise apistatus.conflict_error(what, found) from cause
            raise
        return dict(out.to_dict())

    def pod_admission_refusal(self, pod: Mapping[str, Any], namespace: str) -> str | None:
        """Pod Security admission's refusal of `pod` in `namespace` (a dry-run create), or None.

        Any other refusal (RBAC, a missing service account) is not this check's to report:
        the apply and the rollout report it with more context.
        """
        res = self._resource("v1", "Pod")
        try:
            res.create(body=dict(pod), namespace=namespace, query_params=[("dryRun", "All")])
        except ApiException as exc:
            return apistatus.pod_security_refusal(apistatus.status_body(exc.body))
        return None

    def get(self, api_version: str, kind: str, name: str, namespace: str) -> Manifest | None:
        res = self._resource(api_version, kind)
        try:
            with api_errors(f"reading {kind}/{name}"):
                return dict(res.get(name=name, namespace=namespace).to_dict())
        except DeployError as exc:
            if isinstance(exc.__cause__, NotFoundError):
                return None
            raise

    def list_pods(self, namespace: str, labels: Mapping[str, str]) -> list[Manifest]:
        selector = ",".join(f"{key}={value}" for key, value in labels.items())
        res = self._resource("v1", "Pod")
        with api_errors(f"listing pods {selector}"):
            # Raw JSON: a list is plain data, no need for (or risk in) ResourceInstance wrapping.
            raw = res.get(namespace=namespace, label_selector=selector, serialize=False)
            listed = json.loads(raw.data.decode("utf-8"))
        return list(listed.get("items") or [])


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


@dataclass(eq=False)
class Deployer:
    """Apply, wait and roll back. `clock`/`sleep` are injectable so tests can script time."""

    cluster: Cluster
    _: KW_ONLY
    log: Callable[[str], None] = _stderr
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll_seconds: float = 2.0
    force: bool = False  # take over fields other managers own (`--force-conflicts`)

    def resolve_namespace(self, doc: Mapping[str, Any], namespace: str | None) -> str:
        own = dig(doc, "metadata", "namespace")
        if own and namespace and own != namespace:
            msg = f"{doc['kind']}/{dig(doc, 'metadata', 'name')} is in namespace {own!r}"
            raise DeployError(msg, fix=f"drop --namespace {namespace} or the manifest's namespace")
        return str(own or namespace or self.cluster.default_namespace)

    def deploy(
        self,
        docs: Sequence[Mapping[str, Any]],
        *,
        namespace: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
        rollback: bool = False,
    ) -> None:
        """Apply `docs` in order; with `wait`, wait for each Deployment and record it as good.

        Every Deployment's pods are checked against admission before anything is applied.
        """
        own = [copy.deepcopy(dict(doc)) for doc in docs]
        placed = [(doc, self.resolve_namespace(doc, namespace)) for doc in own]
        for doc, ns in placed:
            if doc["kind"] == "Deployment":
                self._check_admission(doc, ns)
        pending: list[tuple[Manifest, str, int, str | None]] = []
        for doc, ns in placed:
            previous = self._carry_last_good(doc, ns) if doc["kind"] == "Deployment" else None
            applied = self.cluster.apply(doc, ns, force=self.force)
            self.log(f"applied {doc['kind']}/{doc['metadata']['name']} in namespace {ns}")
            if doc["kind"] == "Deployment":
                generation = int(dig(applied, "metadata", "generation") or 0)
                pending.append((doc, ns, generation, previous))
        if not (wait or rollback):
            return
        for doc, ns, generation, previous in pending:
            self._wait_or_roll_back(doc, ns, generation, previous, timeout, rollback=rollback)

    def _check_admission(self, doc: Manifest, namespace: str) -> None:
        name = doc["metadata"]["name"]
        template = dig(doc, "spec", "template") or {}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {**(template.get("metadata") or {}), "generateName": f"{name}-"},
            "spec": template.get("spec") or {},
        }
        refusal = self.cluster.pod_admission_refusal(pod, namespace)
        if refusal:
            msg = f"namespace {namespace} does not admit the pods of Deployment/{name}"
            raise DeployError(
                msg,
                details=[refusal],
                fix=(
                    "nothing was applied; restore the securityContext nb2svc renders "
                    "(or deploy to a namespace whose Pod Security level allows it)"
                ),
            )

    def _carry_last_good(self, doc: Manifest, namespace: str) -> str | None:
        """Keep the live last-good annotation in what we apply (SSA would drop it otherwise)."""
        live = self.cluster.get("apps/v1", "Deployment", doc["metadata"]["name"], namespace)
        previous = dig(live, "metadata", "annotations", s.ANN_LAST_GOOD)
        if isinstance(previous, str):
            doc["metadata"].setdefault("annotations", {})[s.ANN_LAST_GOOD] = previous
            return previous
        return None

    def _wait_or_roll_back(
        self,
        doc: Manifest,
        namespace: str,
        generation: int,
        previous: str | None,
        timeout: float | None,
        *,
        rollback: bool,
    ) -> None:
        name = doc["metadata"]["name"]
        try:
            self.wait_for_rollout(name, namespace, min_generation=generation, timeout=timeout)
        except DeployError as exc:
            if not rollback:
                raise
            if previous is None:
                exc.details += (
                    "nothing to roll back to: no rollout of this Deployment succeeded yet",
                )
                raise
            self.log(f"rollout of Deployment/{name} failed; rolling back to the last good manifest")
            try:
                self.rollback(name, namespace, timeout=timeout)
            except DeployError as again:
                again.details = (f"the rollback was attempted after: {exc.message}", *again.details)
                raise again from exc
            exc.details += ("rolled back to the last manifest that rolled out",)
            raise
        self.record_good(doc, namespace)

    def record_good(self, doc: Mapping[str, Any], namespace: str) -> None:
        """Store `doc` (without the annotation itself) as the Deployment's last good manifest.

        Only `metadata.annotations` changes, so the Deployment's generation stays the same
        and no new rollout starts.
        """
        record = copy.deepcopy(dict(doc))
        record["metadata"].setdefault("annotations", {})[s.ANN_LAST_GOOD] = lastgood.record(doc)
        self.cluster.apply(record, namespace, force=self.force)

    def rollback(self, name: str, namespace: str, *, timeout: float | None = None) -> None:
        """Re-apply the last Deployment manifest that rolled out, and wait for it.

        Only this Deployment is restored, validated first (nb2svc.k8s.lastgood).
        """
        live = self.cluster.get("apps/v1", "Deployment", name, namespace)
        previous = dig(live, "metadata", "annotations", s.ANN_LAST_GOOD)
        if not isinstance(previous, str):
            msg = f"Deployment/{name} has no last good manifest to roll back to"
            raise DeployError(msg, fix="deploy with --wait once; a successful rollout is recorded")
        doc = lastgood.restorable(previous, live or {}, name, namespace)
        applied = self.cluster.apply(doc, namespace, force=self.force)
        generation = int(dig(applied, "metadata", "generation") or 0)
        self.wait_for_rollout(name, namespace, min_generation=generation, timeout=timeout)
        self.log(f"rolled back Deployment/{name} to image {_image(doc)}")

    def wait_for_rollout(
        self, name: str, namespace: str, *, min_generation: int = 0, timeout: float | None = None
    ) -> None:
        """Poll until kubectl would call the rollout done; DeployError on deadline or timeout."""
        started = self.clock()
        limit: float | None = timeout
        while True:
            live = self.cluster.get("apps/v1", "Deployment", name, namespace)
            if live is None:
                msg = f"Deployment/{name} disappeared from namespace {namespace} during the rollout"
                raise DeployError(msg)
            if limit is None:
                limit = float(dig(live, "spec", "progressDeadlineSeconds") or 600) + 60
            state = rollout_state(live, min_generation)
            if state.done:
                self.log(state.message)
                return
            if state.failed:
                raise DeployError(state.message, details=self._pod_details(live, namespace))
            if self.clock() - started >= limit:
                msg = f"Deployment/{name} did not roll out within {limit:.0f} s: {state.message}"
                raise DeployError(msg, details=self._pod_details(live, namespace))
            self.log(state.message)
            self.sleep(self.poll_seconds)

    def _pod_details(self, live: Mapping[str, Any], namespace: str) -> list[str]:
        labels = dig(live, "spec", "selector", "matchLabels") or {}
        reason = pod_failure_reason(self.cluster.list_pods(namespace, labels))
        return [reason] if reason else []


def _image(doc: Mapping[str, Any]) -> str:
    found = dig(doc, "spec", "template", "spec", "containers")
    return str(found[0].get("image")) if isinstance(found, list) and found else "?"
