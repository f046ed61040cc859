"""Build the S2I builder image with buildah: `python -m nb2svc.s2i.image [--tag REF]`.

The context is staged in a temporary folder from this checkout: `s2i/Containerfile`,
`s2i/bin/*`, the `nb2svc` and `nb2svc_runtime` packages (the server's requirements in it), and
the subset of nb2svc's dependencies that assemble imports (`tool-requirements.txt`,
taken from pyproject.toml so versions never drift).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

from packaging.requirements import Requirement

from nb2svc import __version__, labels
from nb2svc.engine.buildah import Buildah, BuildResult
from nb2svc.errors import Nb2svcError, UsageError
from nb2svc.plan import CA_SECRET_ID
from nb2svc.s2i import BUILDER_IMAGE

TOOL_DEPENDENCIES = ("nbformat", "ipython", "packaging", "pyyaml")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def repo_root() -> Path:
    """The checkout this package runs from (builder/nb2svc/s2i -> repository root)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "s2i" / "Containerfile").is_file():
        raise UsageError("the S2I builder is built from a source checkout of nb2svc")
    return root


def tool_requirements(pyproject: Path) -> str:
    """nb2svc's own requirement lines for the packages assemble needs."""
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    keep = [d for d in deps if Requirement(d).name.lower() in TOOL_DEPENDENCIES]
    return "\n".join(keep) + "\n"


def stage_context(root: Path, context: Path) -> Path:
    """Copy what the builder image needs into `context`; return the Containerfile."""
    shutil.copy2(root / "s2i" / "Containerfile", context / "Containerfile")
    shutil.copytree(root / "s2i" / "bin", context / "bin")
    shutil.copytree(root / "builder" / "nb2svc", context / "nb2svc", ignore=_IGNORE)
    shutil.copytree(
        root / "runtimes" / "nb2svc_runtime", context / "nb2svc_runtime", ignore=_IGNORE
    )
    (context / "tool-requirements.txt").write_text(tool_requirements(root / "pyproject.toml"))
    return context / "Containerfile"


def build_builder_image(
    buildah: Buildah,
    tag: str = BUILDER_IMAGE,
    *,
    ca_bundle: Path | None = HOST_CA_BUNDLE,
    base: str | None = None,
) -> BuildResult:
    root = repo_root()
    secrets = [(CA_SECRET_ID, ca_bundle)] if ca_bundle and ca_bundle.is_file() else []
    with tempfile.TemporaryDirectory(prefix="nb2svc-s2i-") as tmp:
        containerfile = stage_context(root, Path(tmp))
        return buildah.build(
            containerfile,
            Path(tmp),
            tag=tag,
            secrets=secrets,
            build_args={"NB2SVC_BUILD_BASE": base} if base else None,
            labels={labels.NB2SVC_VERSION: __version__, labels.OCI_VERSION: __version__},
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nb2svc.s2i.image")
    parser.add_argument("--tag", default=BUILDER_IMAGE)
    parser.add_argument("--base", help="build base (default localhost/nb2svc/python:3.11-build)")
    args = parser.parse_args(argv)
    buildah = Buildah(stream=sys.stderr)
    try:
        buildah.check()
        result = build_builder_image(buildah, args.tag, base=args.base)
    except Nb2svcError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    print(f"built {args.tag} ({result.image_id[:12]}) in {result.seconds:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
