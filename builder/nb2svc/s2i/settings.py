"""What `assemble` is told through the environment (`NB2SVC_*`, set with `s2i build -e`,
a BuildConfig's `env`, or `.s2i/environment`).

- `NB2SVC_NOTEBOOKS`   notebooks to run in order, separated by commas or white space
                        (default: `[tool.nb2svc] notebooks`, else the only notebook)
- `NB2SVC_PARAMETERS`  `name=value` overrides separated by `;` or new lines, and/or
  `NB2SVC_PARAM_<name>=value`, one variable per parameter (s2i warns about commas in `-e`)
- `NB2SVC_RUNTIME`     the model server; this builder image ships `default`
- `NB2SVC_EXCLUDE_NEWER` resolve versions as of this date (`YYYY-MM-DD`, or `none`) when
                        the source has no committed `nb2svc.lock`; `SOURCE_DATE_EPOCH` (the
                        commit time, for a source without its git history) is the fallback
- `NB2SVC_CA_FILE`     a CA bundle for the package index (a mounted file; default
                        `$SSL_CERT_FILE`, else `/run/secrets/nb2svc-ca` when mounted)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nb2svc.errors import UsageError
from nb2svc.plan import CA_SECRET_ID

RUNTIMES = ("default",)
PARAM_PREFIX = "NB2SVC_PARAM_"
MOUNTED_CA = Path("/run/secrets") / CA_SECRET_ID


@dataclass(frozen=True)
class Settings:
    notebooks: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    runtime: str = "default"
    ca_file: Path | None = None
    exclude_newer: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, mounted_ca: Path = MOUNTED_CA) -> Settings:
        runtime = env.get("NB2SVC_RUNTIME", "").strip() or "default"
        if runtime not in RUNTIMES:
            raise UsageError(
                f"NB2SVC_RUNTIME={runtime!r} is not available in this builder image",
                fix=f"use one of {', '.join(RUNTIMES)}, or `nb2svc build --runtime {runtime}`",
            )
        return cls(
            notebooks=tuple(n for n in re.split(r"[,\s]+", env.get("NB2SVC_NOTEBOOKS", "")) if n),
            parameters=_parameters(env),
            runtime=runtime,
            ca_file=_ca_file(env, mounted_ca),
            exclude_newer=env.get("NB2SVC_EXCLUDE_NEWER", "").strip() or None,
        )


def _parameters(env: Mapping[str, str]) -> tuple[str, ...]:
    found = [p.strip() for p in re.split(r"[;\n]", env.get("NB2SVC_PARAMETERS", ""))]
    for key in sorted(env):
        if key.startswith(PARAM_PREFIX) and len(key) > len(PARAM_PREFIX):
            found.append(f"{key[len(PARAM_PREFIX) :]}={env[key]}")
    for item in found:
        if item and "=" not in item:
            raise UsageError(
                f"parameter override {item!r} is not name=value",
                fix="NB2SVC_PARAMETERS='n_estimators=200;max_depth=8' or "
                "NB2SVC_PARAM_n_estimators=200",
            )
    return tuple(p for p in found if p)


def _ca_file(env: Mapping[str, str], mounted: Path) -> Path | None:
    """The CA bundle to trust for the index: a path only; its content is never read here."""
    explicit = env.get("NB2SVC_CA_FILE", "").strip()
    if explicit:
        if not Path(explicit).is_file():
            raise UsageError(
                "NB2SVC_CA_FILE names a file that is not mounted in the build",
                fix="mount the CA bundle (buildah -v, s2i -v, or a build secret) at that path",
            )
        return Path(explicit)
    for candidate in (env.get("SSL_CERT_FILE", "").strip(), str(mounted)):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None
