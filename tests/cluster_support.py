"""A real Kubernetes control plane for the tests, on 127.0.0.1 only.

kube-apiserver, kube-controller-manager and kube-scheduler 1.37, etcd 3.7 and kwok 0.8, all
from the one binary tools/kube builds (`tools/kube/build.sh`). kwok stands in for nodes and
kubelets: one fake node, every scheduled pod Running and Ready, except a pod whose template
carries the annotation `nb2svc.test/kwok-fail: <Reason>`, which kwok leaves waiting with that
reason (ImagePullBackOff, CrashLoopBackOff, ...) and not Ready.

- The binary is cached by the hash of what it is built from (tests/go_tools.py, `KUBE`); the
  first build takes about 15 min on 2 cores, so a test session starts it early
  (tests/conftest.py).
- Certificates (a CA, the API server's serving cert, a client cert per component) and the
  service-account key are made with openssl in the cluster's folder, valid for two days.
- `running_cluster` stops every process it started, by pid, and checks that none is left.
"""

from __future__ import annotations

import contextlib
import json
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import go_tools
import yaml
from registry_support import free_port, listening

FAIL_ANNOTATION = "nb2svc.test/kwok-fail"
NODE_NAME = "kwok-node-0"
START_TIMEOUT = 90.0


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(folder: Path) -> None:
    """CA, serving cert, one client cert per identity, and the service-account key pair."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=nb2svc-test-cluster-ca", cwd=folder)  # fmt: skip
    leaves = {
        "apiserver": ("/CN=kube-apiserver", "serverAuth", True),
        "admin": ("/O=system:masters/CN=nb2svc-test-admin", "clientAuth", False),
        "controller-manager": ("/CN=system:kube-controller-manager", "clientAuth", False),
        "scheduler": ("/CN=system:kube-scheduler", "clientAuth", False),
        "kwok": ("/O=system:masters/CN=kwok", "clientAuth", False),
    }
    for name, (subject, usage, serving) in leaves.items():
        ext = folder / f"{name}.ext"
        lines = ["basicConstraints=CA:FALSE", "keyUsage=digitalSignature,keyEncipherment",
                 f"extendedKeyUsage={usage}"]  # fmt: skip
        if serving:
            lines.append(
                "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
                "DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1"
            )
        ext.write_text("\n".join(lines) + "\n")
        openssl("req", "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", subject, cwd=folder)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", ext.name, "-out", f"{name}.crt",
                cwd=folder)  # fmt: skip
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
            "-out", "sa.key", cwd=folder)  # fmt: skip
    openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=folder)


def write_kubeconfig(path: Path, server: str, folder: Path, user: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "nb2svc-test",
                "cluster": {"server": server, "certificate-authority": str(folder / "ca.crt")},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": str(folder / f"{user}.crt"),
                    "client-key": str(folder / f"{user}.key"),
                },
            }
        ],
        "contexts": [{"name": "nb2svc-test", "context": {"cluster": "nb2svc-test", "user": user}}],
        "current-context": "nb2svc-test",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def kwok_config(path: Path) -> Path:
    """kwok's pod stages: Ready at once, or waiting with the annotated reason; deleted pods
    go away. (kwok's own node stages stay: given no Node stage, it uses its defaults.)"""
    containers = (
        "containerStatuses:\n"
        "{{ range .spec.containers }}\n"
        "- image: {{ .image | Quote }}\n"
        "  name: {{ .name | Quote }}\n"
        "  ready: %(ready)s\n"
        "  restartCount: 0\n"
        "  state:\n"
        "%(state)s"
        "{{ end }}\n"
    )
    running = containers % {
        "ready": "true",
        "state": "    running:\n      startedAt: {{ $now | Quote }}\n",
    }
    waiting = containers % {
        "ready": "false",
        "state": (
            "    waiting:\n"
            f'      reason: {{{{ index $.metadata.annotations "{FAIL_ANNOTATION}" | Quote }}}}\n'
            '      message: "set by the test\'s kwok stage"\n'
        ),
    }

    def conditions(ready: str) -> str:
        return "".join(
            f'- lastTransitionTime: {{{{ $now | Quote }}}}\n  status: "{status}"\n  type: {kind}\n'
            for kind, status in (
                ("Initialized", "True"),
                ("Ready", ready),
                ("ContainersReady", ready),
                ("PodScheduled", "True"),
            )
        )

    def stage(name: str, annotated: str, status: str) -> dict[str, object]:
        return {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "Stage",
            "metadata": {"name": name},
            "spec": {
                "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                "selector": {
                    "matchExpressions": [
                        {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                        {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
                        {"key": ".spec.nodeName", "operator": "Exists"},
                        {
                            "key": f'.metadata.annotations["{FAIL_ANNOTATION}"]',
                            "operator": annotated,
                        },
                    ]
                },
                "next": {"statusTemplate": status},
            },
        }

    ready_status = (
        "{{ $now := Now }}\nconditions:\n" + conditions("True") + running
        + "phase: Running\nstartTime: {{ $now | Quote }}\n"
        + "hostIP: 127.0.0.1\n"
    )  # fmt: skip
    failing_status = (
        "{{ $now := Now }}\nconditions:\n" + conditions("False") + waiting
        + "phase: Running\nstartTime: {{ $now | Quote }}\nhostIP: 127.0.0.1\n"
    )  # fmt: skip
    delete = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": "pod-delete"},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {
                "matchExpressions": [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}]
            },
            "next": {"delete": True},
        },
    }
    node_ready = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": "node-ready"},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Node"},
            "selector": {
                "matchExpressions": [
                    {
                        "key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
                        "operator": "NotIn",
                        "values": ["True"],
                    }
                ]
            },
            "next": {
                "statusTemplate": (
                    "{{ $now := Now }}\nconditions:\n"
                    + "".join(
                        f"- lastHeartbeatTime: {{{{ $now | Quote }}}}\n"
                        f"  lastTransitionTime: {{{{ $now | Quote }}}}\n"
                        f'  status: "{status}"\n  type: {kind}\n  reason: {reason}\n'
                        for kind, status, reason in (
                            ("Ready", "True", "KubeletReady"),
                            ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                            ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                            ("PIDPressure", "False", "KubeletHasSufficientPID"),
                        )
                    )
                    + "addresses:\n- address: 127.0.0.1\n  type: InternalIP\n"
                    + "daemonEndpoints:\n  kubeletEndpoint:\n    Port: 10250\n"
                    + "nodeInfo:\n  architecture: amd64\n  operatingSystem: linux\n"
                    + "  kubeletVersion: kwok\n  kubeProxyVersion: kwok\n"
                    + "phase: Running\n"
                )
            },
        },
    }
    docs = [
        node_ready,
        stage("pod-ready", "DoesNotExist", ready_status),
        stage("pod-fail", "Exists", failing_status),
        delete,
    ]
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


FAKE_NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": NODE_NAME,
        "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        "labels": {
            "kubernetes.io/hostname": NODE_NAME,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "type": "kwok",
        },
    },
    "spec": {},
    "status": {
        "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
        "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
    },
}


@dataclass
class KubeCluster:
    """A running control plane: `kubectl`, the admin kubeconfig, and the processes."""

    folder: Path
    binary: Path
    server: str
    kubeconfig: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)
    started_seconds: float = 0.0
    built_seconds: float | None = None

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(self.binary), "kubectl", f"--kubeconfig={self.kubeconfig}", *args]
        done = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, check=False, timeout=timeout
        )
        if check and done.returncode != 0:
            msg = f"kubectl {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}"
            raise AssertionError(msg)
        return done

    def apply(self, doc: Mapping[str, object]) -> None:
        self.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(doc))

    def namespace(self, name: str, *, restricted: bool = True) -> str:
        """Create `name` (enforcing Pod Security `restricted` unless told not to) and wait
        for its default service account, as a pod's admission needs it."""
        labels = (
            {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            }
            if restricted
            else {}
        )
        self.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        )
        deadline = time.monotonic() + 30
        while self.kubectl("get", "sa", "default", "-n", name, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"namespace {name}: no default service account in 30 s")
            time.sleep(0.1)
        return name

    def alive(self) -> list[str]:
        return [name for name, proc in self.processes.items() if proc.poll() is None]

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to every part, newest first (kwok before the API server before etcd),
        SIGKILL for whatever is still alive after `grace`."""
        for proc in reversed(list(self.processes.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in reversed(list(self.processes.values())):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def _log_tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def _wait_ready(cluster: KubeCluster, part: str, check: object, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    proc = cluster.processes[part]
    log = cluster.folder / "logs" / f"{part}.log"
    while True:
        if proc.poll() is not None:
            msg = f"{part} exited {proc.returncode} while starting:\n{_log_tail(log)}"
            raise RuntimeError(msg)
        with contextlib.suppress(OSError, ValueError):
            if callable(check) and check():
                return
        if time.monotonic() > deadline:
            msg = f"{part}: {what} not within {START_TIMEOUT:.0f} s:\n{_log_tail(log)}"
            raise RuntimeError(msg)
        time.sleep(0.1)


def _start(cluster: KubeCluster, part: str, *args: str) -> None:
    logs = cluster.folder / "logs"
    logs.mkdir(exist_ok=True)
    out = (logs / f"{part}.log").open("wb")
    with out:
        cluster.processes[part] = subprocess.Popen(
            [str(cluster.binary), part, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


@contextlib.contextmanager
def running_cluster(folder: Path) -> Iterator[KubeCluster]:
    """Start etcd, the API server, the controller manager, the scheduler and kwok; stop
    them all at the end and fail if any of them, or any port, is left."""
    binary, built = go_tools.binary(go_tools.KUBE, folder / "kube-build.log")
    started = time.monotonic()
    pki = folder / "pki"
    pki.mkdir(parents=True)
    make_certificates(pki)
    etcd_port, peer_port, api_port, cm_port, sched_port = (free_port() for _ in range(5))
    server = f"https://127.0.0.1:{api_port}"
    cluster = KubeCluster(
        folder=folder,
        binary=binary,
        server=server,
        kubeconfig=write_kubeconfig(folder / "kubeconfig", server, pki, "admin"),
        ports=[etcd_port, peer_port, api_port, cm_port, sched_port],
        built_seconds=built,
    )
    try:
        _start(
            cluster, "etcd",
            "--name=nb2svc-test", f"--data-dir={folder / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=nb2svc-test=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync", "--log-level=warn",
        )  # fmt: skip
        _wait_ready(cluster, "etcd", lambda: _etcd_healthy(etcd_port), "/health")
        _start(
            cluster, "apiserver",
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={api_port}", f"--cert-dir={pki / 'generated'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=Node,RBAC",
            "--endpoint-reconciler-type=none",  # 127.0.0.1 may not be an endpoint
            "--profiling=false",
        )  # fmt: skip
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        _wait_ready(cluster, "apiserver", lambda: _https_ok(f"{server}/readyz", context), "/readyz")
        for part, port in (("controller-manager", cm_port), ("scheduler", sched_port)):
            config = write_kubeconfig(folder / f"{part}.kubeconfig", server, pki, part)
            extra = (
                [
                    f"--service-account-private-key-file={pki / 'sa.key'}",
                    f"--root-ca-file={pki / 'ca.crt'}",
                    "--use-service-account-credentials=true",  # one identity per controller
                    "--controllers=*",
                ]
                if part == "controller-manager"
                else []
            )
            _start(
                cluster, part, f"--kubeconfig={config}",
                f"--authentication-kubeconfig={config}", f"--authorization-kubeconfig={config}",
                "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={port}",
                *extra,
            )  # fmt: skip
        kwok = write_kubeconfig(folder / "kwok.kubeconfig", server, pki, "kwok")
        _start(
            cluster, "kwok", f"--kubeconfig={kwok}",
            f"--config={kwok_config(folder / 'kwok.yaml')}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-ip=127.0.0.1", "--node-lease-duration-seconds=40",
        )  # fmt: skip
        cluster.apply(FAKE_NODE)
        _wait_ready(cluster, "kwok", lambda: _node_ready(cluster), f"node {NODE_NAME} Ready")
        _wait_ready(
            cluster,
            "controller-manager",
            lambda: cluster.kubectl("get", "sa", "default", check=False).returncode == 0,
            "the default service account",
        )
        cluster.started_seconds = time.monotonic() - started
        yield cluster
    finally:
        cluster.stop()
        left = cluster.alive()
        busy = [port for port in cluster.ports if listening(port)]
        if left or busy:
            msg = f"cluster parts left running: {left}, ports still listening: {busy}"
            raise AssertionError(msg)


def _etcd_healthy(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
        return bool(json.loads(answer.read()).get("health") == "true")


def _https_ok(url: str, context: ssl.SSLContext) -> bool:
    with urllib.request.urlopen(url, timeout=2, context=context) as answer:
        return int(answer.status) == 200


def _node_ready(cluster: KubeCluster) -> bool:
    done = cluster.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
    if done.returncode != 0:
        return False
    conditions = json.loads(done.stdout).get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def main() -> int:
    """`make cluster`: start the control plane, print how to reach it, stop on Ctrl-C."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="nb2svc-cluster-"))
    print(f"starting the control plane in {folder} (a first run builds tools/kube: ~15 min)")
    with running_cluster(folder) as cluster:
        print(f"up in {cluster.started_seconds:.1f} s: {cluster.server}")
        print(f"export KUBECONFIG={cluster.kubeconfig}")
        print(f"kubectl: {cluster.binary} kubectl   (Ctrl-C stops everything)")
        try:
            signal.pause()
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop
    print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
