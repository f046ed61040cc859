"""nb2svc as an S2I builder image: `assemble`, `save-artifacts` and their helpers.

The builder image (`s2i/Containerfile`) runs `python -m nb2svc.s2i.assemble` from its
`assemble` script. Paths inside the builder image are fixed here, in one place.
"""

from __future__ import annotations

SCRIPTS_DIR = "/usr/libexec/s2i"
SCRIPTS_URL = f"image://{SCRIPTS_DIR}"
DESTINATION = "/tmp"  # io.openshift.s2i.destination: s2i unpacks src/ and artifacts/ here
ASSEMBLE_USER = "1001"
TOOL_VENV = "/opt/nb2svc/tool"  # nb2svc itself (the builder); never on the served path
CACHE_DIR = "/opt/nb2svc/cache"  # uv cache and resolved locks: what save-artifacts saves
BUILD_DIR = "/opt/nb2svc/build"  # requirements.lock and train.py of the build
BUILDER_IMAGE = "localhost/nb2svc/s2i-python:3.11"
