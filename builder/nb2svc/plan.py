"""The immutable build plan: everything the image build needs, decided before it starts.

`make_plan(analysis, lock, options, source, host)` is pure: what it needs of the source
(`SourceFacts`) and of the machine (`HostFacts`) is read before, by the caller. Both
`nb2svc build` (nb2svc.pipeline, rendering a Containerfile) and S2I's assemble (running the
steps in the builder image) act on the plan it returns, so the two cannot drift
(docs/architecture.md, "Plan"). `--dry-run` prints `plan.to_json()` and the Containerfile
rendered from it. Secrets appear here only as ids and host paths, never contents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb2svc import __version__, labels
from nb2svc.analyze import Analysis
from nb2svc.datapaths import DataLink, analysis_links, check_offline, write_folders
from nb2svc.lock import Lock
from nb2svc.options import CA_SECRET_ID as CA_SECRET_ID  # re-exported for the renderers
from nb2svc.options import BuildOptions, check_image_ref
from nb2svc.options import Secret as Secret
from nb2svc.redact import redact_url

RUNTIME_UID = 1001
PORT = 8080
MODEL_DIR = "/opt/nb2svc/model"
SRC_DIR = "/opt/nb2svc/src"
LIB_DIR = "/opt/nb2svc/lib"
VENV = "/opt/venv"


@dataclass(frozen=True)
class NotebookRef:
    path: str  # relative to the source root
    sha256: str


@dataclass(frozen=True)
class BuildPlan:
    name: str
    image: str
    python_version: str
    base_image: str
    build_base_image: str
    runtime: str
    notebooks: tuple[NotebookRef, ...]
    lock: Lock
    runtime_requirements: str
    train_script: str
    model_variable: str | None
    source_files: tuple[str, ...]
    secrets: tuple[Secret, ...]
    ca_bundle: Path | None
    labels: Mapping[str, str]
    port: int = PORT
    uid: int = RUNTIME_UID
    parameters: Mapping[str, object] = field(default_factory=dict)
    data_links: tuple[DataLink, ...] = ()
    write_folders: tuple[str, ...] = ()  # created in the train stage (datapaths.write_folders)
    """Links the train stage makes so the notebook finds its data (see nb2svc.datapaths)."""
    allow_network: bool = False
    train_timeout: float | None = None
    wheels: tuple[Path, ...] = ()
    """Local wheels the lock installs (bind-mounted from the context's wheels/ folder)."""
    inference: str = "native"
    """auto | compiled: the compile stage runs (docs/architecture.md, "Compiled inference");
    native: it does not."""

    @property
    def compiles(self) -> bool:
        return self.inference != "native"

    @property
    def all_secrets(self) -> tuple[Secret, ...]:
        ca = (Secret(CA_SECRET_ID, self.ca_bundle),) if self.ca_bundle else ()
        return ca + self.secrets

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image": self.image,
            "python_version": self.python_version,
            "base_image": self.base_image,
            "build_base_image": self.build_base_image,
            "runtime": self.runtime,
            "port": self.port,
            "uid": self.uid,
            "notebooks": [{"path": n.path, "sha256": n.sha256} for n in self.notebooks],
            "model_variable": self.model_variable,
            "parameters": {k: repr(v) for k, v in self.parameters.items()},
            "lock": {
                "tool": self.lock.tool,
                "sha256": self.lock.sha256,
                "packages": dict(self.lock.packages),
                "reused": self.lock.reused,
                "exclude_newer": self.lock.exclude_newer,
                "notes": list(self.lock.notes),
            },
            "data_links": [link.to_json() for link in self.data_links],
            "write_folders": list(self.write_folders),
            "allow_network": self.allow_network,
            "train_timeout": self.train_timeout,
            "wheels": [str(w) for w in self.wheels],
            "source_files": list(self.source_files),
            "secrets": [{"id": s.id, "src": str(s.src)} for s in self.all_secrets],
            "labels": dict(self.labels),
            "inference": self.inference,
            "stages": [
                "deps",
                "train",
                *(["compile"] if self.compiles else []),
                "serve-deps",
                "runtime",
            ],
        }


@dataclass(frozen=True)
class SourceFacts:
    """What the build read of its source: notebooks (relative to the root, with their hash),
    the files it carries, where it came from (without credentials) and its date."""

    notebooks: tuple[NotebookRef, ...]
    files: tuple[str, ...]
    url: str | None
    revision: str | None
    created: str


@dataclass(frozen=True)
class HostFacts:
    """What the build read of the machine: bases and Python, the server's requirements,
    secrets and CA bundle (files that exist), local wheels, and where the image keeps the
    source and the model (the same in `nb2svc build`'s image and S2I's builder)."""

    python: str
    base_image: str
    build_base_image: str
    runtime_requirements: str
    secrets: tuple[Secret, ...] = ()
    ca_bundle: Path | None = None
    wheels: tuple[Path, ...] = ()
    src_dir: str = SRC_DIR
    model_dir: str = MODEL_DIR


def check_buildable(analysis: Analysis, options: BuildOptions) -> None:
    """What fails a build before anything is resolved or built, naming the cell: analysis
    errors, then network use (unless allowed) and ambiguous or missing data files."""
    analysis.raise_for_build()
    check_offline(analysis, allow_network=options.allow_network)


def make_plan(
    analysis: Analysis,
    lock: Lock,
    options: BuildOptions,
    source: SourceFacts,
    host: HostFacts,
) -> BuildPlan:
    """The plan of a build (pure). Raises what `check_buildable` raises."""
    check_buildable(analysis, options)
    name = analysis.model_name
    runtime = options.runtime or "default"
    script = analysis.training_script(artifact_dir=host.model_dir).text
    return BuildPlan(
        name=name,
        image=check_image_ref(options.image or f"localhost/{name}:latest"),
        python_version=host.python,
        base_image=host.base_image,
        build_base_image=host.build_base_image,
        runtime=runtime,
        notebooks=source.notebooks,
        lock=lock,
        runtime_requirements=host.runtime_requirements,
        train_script=script,
        model_variable=analysis.model_variable,
        source_files=source.files,
        secrets=host.secrets,
        ca_bundle=host.ca_bundle,
        labels=make_labels(
            name=name,
            notebooks=source.notebooks,
            lock=lock,
            runtime=runtime,
            python_version=host.python,
            source=source.url,
            revision=source.revision,
            created=source.created,
        ),
        parameters=analysis.overrides,
        data_links=analysis_links(analysis, src_dir=host.src_dir, source_files=source.files),
        write_folders=write_folders(analysis, src_dir=host.src_dir, source_files=source.files),
        allow_network=options.allow_network,
        train_timeout=options.train_timeout,
        wheels=host.wheels,
        # the bentoml runtime loads the notebook's model itself (nb2svc_bentoml)
        inference=options.inference if runtime == "default" else "native",
    )


def make_labels(
    *,
    name: str,
    notebooks: tuple[NotebookRef, ...],
    lock: Lock,
    runtime: str,
    python_version: str,
    source: str | None,
    revision: str | None,
    created: str,
) -> dict[str, str]:
    """Provenance labels. `created` must be reproducible (source date), or caching breaks.

    `source` is recorded without credentials (nb2svc.redact), and left out when empty.
    """
    values = {
        labels.OCI_TITLE: name,
        labels.OCI_DESCRIPTION: f"Model '{name}' trained from {notebooks[-1].path} by nb2svc",
        labels.OCI_CREATED: created,
        labels.OCI_VERSION: notebooks[-1].sha256[:12],
        labels.NB2SVC_VERSION: __version__,
        labels.NB2SVC_NOTEBOOK: ",".join(n.path for n in notebooks),
        labels.NB2SVC_NOTEBOOK_SHA256: ",".join(n.sha256 for n in notebooks),
        labels.NB2SVC_LOCK_SHA256: lock.sha256,
        labels.NB2SVC_LOCK_TOOL: lock.tool,
        labels.NB2SVC_RUNTIME: runtime,
        labels.NB2SVC_MODEL_NAME: name,
        labels.NB2SVC_PYTHON: python_version,
        labels.OPENSHIFT_EXPOSE_SERVICES: f"{PORT}:http",
        labels.K8S_DISPLAY_NAME: f"{name} model server",
        labels.K8S_DESCRIPTION: f"REST model server for '{name}' (KServe v1, MLflow, OIP v2)",
        labels.OPENSHIFT_TAGS: "nb2svc,model-server,python",
    }
    if source:
        values[labels.OCI_SOURCE] = redact_url(source)
    if revision:
        values[labels.OCI_REVISION] = revision
    return values
