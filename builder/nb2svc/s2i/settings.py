"""What `assemble` is told through the environment (`NB2SVC_*`, set with `s2i build -e`,
a BuildConfig's `env`, or `.s2i/environment`): the same settings as `nb2svc build`'s flags,
read by nb2svc.options (`ENV_FIELDS`), with this builder image's defaults.

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
- `NB2SVC_ALLOW_NETWORK=1` training may use the network (`--allow-network`)
- `NB2SVC_TRAIN_TIMEOUT` seconds training may take (`--train-timeout`)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from nb2svc.errors import UsageError
from nb2svc.options import BuildOptions, from_sources
from nb2svc.plan import CA_SECRET_ID

RUNTIMES = ("default",)  # what this builder image carries
MOUNTED_CA = Path("/run/secrets") / CA_SECRET_ID


def s2i_options(env: Mapping[str, str], *, mounted_ca: Path = MOUNTED_CA) -> BuildOptions:
    """The build's settings from `env`, one precedence with `nb2svc build` (nb2svc.options);
    the CA bundle defaults to what the build mounted, never to a host path."""
    options = from_sources({}, env)
    runtime = options.runtime or "default"
    if runtime not in RUNTIMES:
        raise UsageError(
            f"NB2SVC_RUNTIME={runtime!r} is not available in this builder image",
            fix=f"use one of {', '.join(RUNTIMES)}, or `nb2svc build --runtime {runtime}`",
        )
    explicit = options.ca_bundle if env.get("NB2SVC_CA_FILE", "").strip() else None
    return replace(options, runtime=runtime, ca_bundle=explicit or _mounted_ca(env, mounted_ca))


def _mounted_ca(env: Mapping[str, str], mounted: Path) -> Path | None:
    """The CA bundle to trust for the index: a path only; its content is never read here."""
    for candidate in (env.get("SSL_CERT_FILE", "").strip(), str(mounted)):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None
