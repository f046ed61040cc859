"""Every image label key nb2svc writes, in one place."""

from __future__ import annotations

# OCI annotations (https://github.com/opencontainers/image-spec/blob/main/annotations.md)
OCI_SOURCE = "org.opencontainers.image.source"
OCI_REVISION = "org.opencontainers.image.revision"
OCI_CREATED = "org.opencontainers.image.created"
OCI_VERSION = "org.opencontainers.image.version"
OCI_TITLE = "org.opencontainers.image.title"
OCI_DESCRIPTION = "org.opencontainers.image.description"

# nb2svc provenance
NB2SVC_VERSION = "io.nb2svc.version"
NB2SVC_NOTEBOOK = "io.nb2svc.notebook"  # comma-separated paths relative to the source root
NB2SVC_NOTEBOOK_SHA256 = "io.nb2svc.notebook.sha256"  # comma-separated, same order
NB2SVC_LOCK_SHA256 = "io.nb2svc.lock.sha256"
NB2SVC_LOCK_TOOL = "io.nb2svc.lock.tool"
NB2SVC_RUNTIME = "io.nb2svc.runtime"
NB2SVC_MODEL_NAME = "io.nb2svc.model.name"
NB2SVC_PYTHON = "io.nb2svc.python"

# OpenShift / Kubernetes conventions (what `oc new-app` reads)
OPENSHIFT_EXPOSE_SERVICES = "io.openshift.expose-services"
K8S_DESCRIPTION = "io.k8s.description"
K8S_DISPLAY_NAME = "io.k8s.display-name"
OPENSHIFT_TAGS = "io.openshift.tags"
