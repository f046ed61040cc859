"""The options of a build: what the user asked for, checked, with the project config applied.

Precedence: nb2svc's defaults < the project config (`[tool.nb2svc]` / `nb2svc.toml`) < the
command line. `configured` applies the config once the analysis has read it; later stages
read only the result (docs/architecture.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from nb2svc.analyze import Analysis
from nb2svc.errors import UsageError
from nb2svc.image.base import SUITES, suite_for
from nb2svc.image.values import secret_id_problem
from nb2svc.plan import CA_SECRET_ID, Secret

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class BuildOptions:
    source: str = "."
    notebooks: tuple[str, ...] = ()
    image: str | None = None
    outdir: Path = Path("nb2svc-out")
    runtime: str | None = None  # None: the project config's, else "default" (with_config)
    base_image: str | None = None
    build_base_image: str | None = None
    python: str | None = None
    parameters: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    dry_run: bool = False
    no_cache: bool = False
    refresh_lock: bool = False
    ca_bundle: Path | None = HOST_CA_BUNDLE
    allow_network: bool = False
    train_timeout: float | None = None
    exclude_newer: str | None = None
    """Era cut-off: None = the notebook's last commit date (when unpinned), a date, or "none"."""
    find_links: tuple[Path, ...] = ()
    """Directories of local wheels (nb2svc.wheelhouse)."""
    train_only: bool = False
    """Stop after the train stage: the notebook trained in the image, nothing served."""


def configured(options: BuildOptions, analysis: Analysis) -> BuildOptions:
    """Options with the project config's runtime and base image where no flag gave one."""
    config = analysis.config
    return replace(
        options,
        runtime=options.runtime or config.runtime or "default",
        base_image=options.base_image or config.base_image,
    )


def choose_python(analysis: Analysis, options: BuildOptions, out: TextIO) -> str:
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
    out.write(
        f"nb2svc: warning: the notebook asks for Python {wanted}; the offline base offers "
        f"{'/'.join(SUITES)}, so the image uses {chosen}. Pass --python X.Y to choose, or "
        f"--base-image REF for an image with Python {wanted}.\n"
    )
    return chosen


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


_IMAGE_REF = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?"  # registry host[:port]/
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)


def check_image_ref(ref: str) -> str:
    """Refuse a malformed `-t` before anything is built (buildah would only say so at the end)."""
    if not _IMAGE_REF.match(ref):
        raise UsageError(
            f"{ref!r} is not a valid image reference",
            fix="use lower-case letters, digits and . _ - in names, e.g. "
            "localhost/churn:v1 or registry.example.com/team/churn:2024-05",
        )
    return ref


def parse_secret(spec: str) -> Secret:
    """`id=ID,src=PATH`; the id is rendered into the Containerfile (nb2svc.image.values)."""
    fields = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    if "id" not in fields or "src" not in fields:
        raise UsageError(
            f"--secret {spec!r} is not of the form id=ID,src=PATH",
            fix="e.g. --secret id=kaggle,src=$HOME/.kaggle/kaggle.json",
        )
    problem = secret_id_problem(fields["id"])
    if problem or fields["id"] == CA_SECRET_ID:
        raise UsageError(
            f"--secret id {fields['id']!r}: {problem or 'the CA bundle has that id'}",
            fix="e.g. --secret id=kaggle,src=$HOME/.kaggle/kaggle.json; the notebook reads "
            "it at /run/secrets/<id>",
        )
    src = Path(fields["src"]).expanduser()
    if not src.is_file():
        raise UsageError(f"--secret {fields['id']}: file {src} not found")
    return Secret(fields["id"], src)
