"""The one settings model of a build, whatever starts it (`nb2svc build`, S2I, a trigger).

Precedence: nb2svc's defaults < the project config (`[tool.nb2svc]` / `nb2svc.toml`) < the
environment (`NB2SVC_*`, S2I's way of passing settings; `ENV_FIELDS`) < the command line.
`from_sources` applies the environment and the flags; `configured` applies the config once
the analysis has read it, only to fields neither gave. Later stages read only the result
(docs/architecture.md, "Settings").
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TextIO

from nb2svc_runtime.contract import ALLOW_NETWORK_ENV, TRAIN_TIMEOUT_ENV

from nb2svc.analyze import Analysis
from nb2svc.config import RUNTIMES
from nb2svc.errors import UsageError
from nb2svc.image.suites import SUITES, nearest_newer, suite_for
from nb2svc.image.values import image_ref_problem, secret_id_problem

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_SECRET_ID = "nb2svc-ca"


@dataclass(frozen=True)
class Secret:
    """A build secret: mounted for RUN steps under /run/secrets/<id>, never copied."""

    id: str
    src: Path


@dataclass(frozen=True)
class BuildOptions:
    source: str = "."
    notebooks: tuple[str, ...] = ()
    image: str | None = None
    outdir: Path = Path("nb2svc-out")
    runtime: str | None = None  # None: the project config's, else "default" (configured)
    inference: str = "auto"
    """auto | compiled | native: which form of the model serves (docs/architecture.md,
    "Compiled inference")."""
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
    push: bool = False
    """Push the verified image to the registry `image` names (nb2svc.push)."""
    authfile: Path | None = None
    """containers-auth.json for the push (None: REGISTRY_AUTH_FILE, else buildah's default)."""
    tls_verify: bool = True
    cert_dir: Path | None = None
    """A folder with the CA certificate (ca.crt) of a private registry."""


INFERENCE_MODES = ("auto", "compiled", "native")
PARAM_PREFIX = "NB2SVC_PARAM_"
ENV_FIELDS = {
    "NB2SVC_NOTEBOOKS": "notebooks",  # separated by commas or white space
    "NB2SVC_PARAMETERS": "parameters",  # name=value, separated by ; or new lines
    "NB2SVC_RUNTIME": "runtime",
    "NB2SVC_INFERENCE": "inference",  # auto | compiled | native
    "NB2SVC_EXCLUDE_NEWER": "exclude_newer",  # YYYY-MM-DD or none
    "NB2SVC_CA_FILE": "ca_bundle",  # a mounted file; its content is never read here
    ALLOW_NETWORK_ENV: "allow_network",  # 1/true/yes
    TRAIN_TIMEOUT_ENV: "train_timeout",  # seconds
}
"""The environment variables that are settings, and the field each sets (plus
`NB2SVC_PARAM_<name>=value`, one parameter each: s2i warns about commas in `-e`)."""
TRUE = ("1", "true", "yes", "on")
OTHER_VARIABLES = frozenset(
    {"NB2SVC_RUNTIME_BASE", "NB2SVC_BUILD_BASE", "NB2SVC_STATE_DIR", "NB2SVC_S2I_DESTINATION",
     "NB2SVC_SOURCE_DIR", "NB2SVC_VERSION"}
)  # fmt: skip
"""`NB2SVC_*` variables that are not build settings (paths, the builder image's own)."""


def from_sources(flags: Mapping[str, Any], env: Mapping[str, str]) -> BuildOptions:
    """Defaults < environment < flags (`flags`: field -> value, only the ones given),
    each value checked once (`check_values`)."""
    given = {**settings_from_env(env), **{k: v for k, v in flags.items() if v is not None}}
    check_values(given)
    return BuildOptions(**given)


def settings_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The fields the `NB2SVC_*` variables of `env` set (empty values set nothing)."""
    found: dict[str, Any] = {}
    for name, field_name in ENV_FIELDS.items():
        value = env.get(name, "").strip()
        if value:
            found[field_name] = _env_value(name, field_name, value)
    parameters = list(found.get("parameters", ()))
    parameters += [
        f"{key[len(PARAM_PREFIX) :]}={env[key]}"
        for key in sorted(env)
        if key.startswith(PARAM_PREFIX) and len(key) > len(PARAM_PREFIX)
    ]
    if parameters:
        found["parameters"] = tuple(parameters)
    return found


def _env_value(name: str, field_name: str, value: str) -> Any:
    if field_name == "notebooks":
        return tuple(n for n in re.split(r"[,\s]+", value) if n)
    if field_name == "parameters":
        items = tuple(p.strip() for p in re.split(r"[;\n]", value) if p.strip())
        bad = next((p for p in items if "=" not in p), None)
        if bad is not None:
            raise UsageError(
                f"{name}: parameter override {bad!r} is not name=value",
                fix=f"{name}='n_estimators=200;max_depth=8' or {PARAM_PREFIX}n_estimators=200",
            )
        return items
    if field_name == "ca_bundle":
        if not Path(value).is_file():
            raise UsageError(
                f"{name} names a file that is not there",
                fix="mount the CA bundle (buildah -v, s2i -v, or a build secret) at that path",
            )
        return Path(value)
    if field_name == "allow_network":
        return value.lower() in TRUE
    if field_name == "train_timeout":
        try:
            return float(value)
        except ValueError:
            raise UsageError(
                f"{name}={value!r} is not a number of seconds", fix=f"e.g. {name}=3600"
            ) from None
    return value


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """`NB2SVC_*` names that look like a misspelt setting ("did you mean"), for a warning."""
    known = list(ENV_FIELDS)
    found = []
    for name in sorted(env):
        if not name.startswith("NB2SVC_") or name in known or name in OTHER_VARIABLES:
            continue
        if name.startswith(PARAM_PREFIX):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
        if close:
            found.append(f"{name} is not a setting; did you mean {close[0]}?")
    return found


def check_values(given: Mapping[str, Any]) -> None:
    """Values that would otherwise fail late or deep: refused now, saying what to pass."""
    for flag, key in (("--base-image", "base_image"), ("--build-base-image", "build_base_image")):
        problem = image_ref_problem(str(given[key])) if given.get(key) else None
        if problem:
            raise UsageError(
                f"{flag} {given[key]!r}: {problem}",
                fix="pass an image reference such as localhost/nb2svc/python:3.11",
            )
    if given.get("python"):
        suite_for(str(given["python"]))  # a UsageError naming the Pythons offered
    timeout = given.get("train_timeout")
    if timeout is not None and not (0 < timeout < math.inf):
        raise UsageError(
            f"--train-timeout {timeout:g} is not a positive number of seconds "
            f"(or {TRAIN_TIMEOUT_ENV})",
            fix="pass the longest training may take, e.g. --train-timeout 3600",
        )
    runtime = given.get("runtime")
    if runtime is not None and runtime not in RUNTIMES:
        raise UsageError(
            f"runtime {runtime!r} is not one of nb2svc's model servers",
            fix=f"use one of {', '.join(RUNTIMES)}",
        )
    inference = given.get("inference")
    if inference is not None and inference not in INFERENCE_MODES:
        raise UsageError(
            f"--inference {inference!r} is not one of {', '.join(INFERENCE_MODES)}",
            fix="use auto (compiled when proven equal, else native), compiled or native",
        )
    if inference == "compiled" and runtime == "bentoml":
        raise UsageError(
            "--inference compiled: the bentoml runtime serves the notebook's native model",
            fix="leave out --runtime bentoml, or use --inference auto or native",
        )
    if given.get("push") and (given.get("train_only") or given.get("dry_run")):
        made = (
            "--train-only tags no runtime image"
            if given.get("train_only")
            else "--dry-run builds nothing"
        )
        raise UsageError(
            f"--push pushes the verified image, and {made}", fix="leave out one of the two"
        )
    unknown = set(given) - {f.name for f in fields(BuildOptions)}
    if unknown:
        raise UsageError(f"unknown build settings: {', '.join(sorted(unknown))}")


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
    chosen = nearest_newer(wanted)
    if chosen is None:
        suite_for(wanted)  # raises the UsageError that says what to pass
        raise AssertionError(wanted)
    out.write(
        f"nb2svc: warning: the notebook asks for Python {wanted}; the offline base offers "
        f"{'/'.join(SUITES)}, so the image uses {chosen}. Pass --python X.Y to choose, or "
        f"--base-image REF for an image with Python {wanted}.\n"
    )
    return chosen


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
