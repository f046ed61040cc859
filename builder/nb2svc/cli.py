"""The `nb2svc` command line. Parses arguments, calls one stage function, maps errors
to exit codes. No logic of its own: tracebacks only with --debug or for real bugs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb2svc import __version__
from nb2svc.config import RUNTIMES
from nb2svc.errors import EXIT_USAGE, Nb2svcError, UsageError
from nb2svc.triggers.commands import register as register_triggers

if TYPE_CHECKING:
    from nb2svc.options import BuildOptions

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args)
    except Nb2svcError as exc:
        if args.debug:
            raise
        if getattr(args, "json", False):
            print(json.dumps({"error": exc.to_json()}, indent=2))
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("nb2svc: interrupted; nothing was tagged", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `nb2svc analyze --json | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nb2svc", description="Build a Jupyter training notebook into a served model image."
    )
    parser.add_argument("--version", action="version", version=f"nb2svc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(metavar="COMMAND")
    _add_analyze(sub)
    _add_build(sub)
    _add_push(sub)
    _add_lock(sub)
    _add_base(sub)
    _add_run(sub)
    _add_manifests(sub)
    _add_deploy(sub)
    register_triggers(sub)
    return parser


def _add_analyze(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("analyze", help="what the build would do (no build)")
    p.add_argument("notebook", type=Path)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--root", type=Path, help="the repository root (default: the notebook's folder)")
    p.add_argument(
        "-p", "--param", action="append", default=[], dest="parameters", metavar="KEY=VALUE"
    )
    p.add_argument(
        "--no-lock", action="store_true", help="skip resolving versions (no index access)"
    )
    p.set_defaults(handler=_analyze)


def _add_build(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("build", help="build, train, verify and tag the image")
    p.add_argument("source", nargs="?", default=".", help="directory or git URL[#REF]")
    p.add_argument("-n", "--notebook", action="append", default=[], dest="notebooks")
    p.add_argument("-t", "--tag", dest="image", help="image reference (default localhost/NAME)")
    p.add_argument("-o", "--outdir", type=Path, default=Path("nb2svc-out"))
    p.add_argument(
        "--runtime", choices=RUNTIMES, help="model server (default: the config's, else default)"
    )
    p.add_argument(
        "--inference",
        choices=("auto", "compiled", "native"),
        help="serve a compiled form of the model proven equal at build time (compiled), the "
        "notebook's own (native), or compiled when proven, else native (auto, the default)",
    )
    p.add_argument("--base-image", help="runtime base image (default: local Debian-built base)")
    p.add_argument(
        "--build-base-image", help="base of the deps/train stages (needs uv; default: --base-image)"
    )
    p.add_argument("--python", help="Python X.Y for the image (default: the notebook's)")
    p.add_argument(
        "-p", "--param", action="append", default=[], dest="parameters", metavar="KEY=VALUE"
    )
    p.add_argument(
        "--secret", action="append", default=[], dest="secrets", metavar="id=ID,src=PATH"
    )
    p.add_argument(
        "--ca-bundle",
        type=Path,
        help="CA bundle for package downloads, mounted as a build secret (never stored; "
        "default: the host's /etc/ssl/certs/ca-certificates.crt)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan and the Containerfile and write the build context to "
        "OUT/context (for another OCI builder: Tekton, Actions); build nothing",
    )
    p.add_argument(
        "--train-only",
        action="store_true",
        help="stop once the notebook has trained in the image (no runtime image, no tag)",
    )
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--refresh-lock", action="store_true", help="re-resolve dependency versions")
    p.add_argument(
        "--allow-network",
        action="store_true",
        help="let training download (cells that use the network fail the build otherwise)",
    )
    p.add_argument(
        "--train-timeout", type=float, metavar="SECONDS", help="stop training after this long"
    )
    p.add_argument(
        "--find-links",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="local wheels (e.g. a CPU build of torch); a package found there is pinned to it",
    )
    p.add_argument(
        "--exclude-newer",
        metavar="DATE|none",
        help="resolve versions as of DATE (default for unpinned notebooks: their last commit "
        "date); `none` for today's versions",
    )
    p.add_argument(
        "--push",
        action="store_true",
        help="after verification, push the image to the registry -t names; the manifests "
        "then run it by digest (repo@sha256:...)",
    )
    _add_registry_options(p)
    p.set_defaults(handler=_build)


def _add_registry_options(p: argparse.ArgumentParser) -> None:
    """How `build --push` and `push` reach the registry (nb2svc.engine.registry)."""
    p.add_argument(
        "--authfile",
        type=Path,
        help="containers-auth.json with the registry's credentials, as `buildah login` writes "
        "it (default: $REGISTRY_AUTH_FILE, else buildah's own default)",
    )
    p.add_argument(
        "--tls-verify",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="verify the registry's TLS certificate (default: yes)",
    )
    p.add_argument(
        "--cert-dir", type=Path, metavar="DIR", help="folder with a private registry's CA (ca.crt)"
    )


def _add_push(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "push", help="push a build's verified image; pin its manifests to the pushed digest"
    )
    p.add_argument("--report", type=Path, required=True, help="report.json of a build")
    _add_registry_options(p)
    p.set_defaults(handler=_push)


def _add_lock(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "lock", help="write nb2svc.lock next to the notebook: the versions every build installs"
    )
    p.add_argument("source", nargs="?", default=".", help="the notebook repository's folder")
    p.add_argument("-n", "--notebook", action="append", default=[], dest="notebooks")
    p.add_argument("--python", help="Python X.Y for the image (default: the notebook's)")
    p.add_argument(
        "--refresh",
        action="store_true",
        dest="refresh_lock",
        help="resolve anew even if it is current",
    )
    p.add_argument("--exclude-newer", metavar="DATE|none", help="as for `nb2svc build`")
    p.add_argument("--find-links", action="append", default=[], type=Path, metavar="DIR")
    p.add_argument(
        "--check", action="store_true", help="only say whether it is current (exit 4 if not)"
    )
    p.set_defaults(handler=_lock)


def _add_base(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("base", help="build the local base images from Debian packages")
    p.add_argument("--python", default="3.11")
    p.add_argument("--force", action="store_true", help="rebuild even if present")
    p.set_defaults(handler=_base)


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="serve an image locally (podman kube play), print the URL")
    p.add_argument("image", nargs="?")
    p.add_argument("--report", type=Path, help="report.json of a build")
    p.add_argument("--port", type=int, help="host port (default: the container's, 8080)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for readiness")
    p.set_defaults(handler=_run)


def _add_manifests(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("manifests", help="check Kubernetes manifests (schema + nb2svc rules)")
    p.add_argument("--check", type=Path, required=True, metavar="FILE")
    p.add_argument("--k8s-version", action="append", dest="versions", metavar="X.Y")
    p.set_defaults(handler=_manifests)


def _add_deploy(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("deploy", help="apply the manifests (server-side apply) and wait")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--report", type=Path, help="report.json of a build")
    source.add_argument("-f", dest="manifests", type=Path, help="a manifests YAML file")
    p.add_argument("--namespace")
    p.add_argument("--context")
    p.add_argument("--kubeconfig", type=Path)
    p.add_argument("--wait", action="store_true", help="wait for the rollout")
    p.add_argument("--rollback", action="store_true", help="on a failed rollout, roll back")
    p.add_argument("--local", action="store_true", help="play it with podman instead")
    p.add_argument("--timeout", type=float)
    p.add_argument(
        "--force-conflicts",
        action="store_true",
        help="take over fields another field manager owns (default: refuse, naming them)",
    )
    p.add_argument(
        "--hpa",
        metavar="MIN:MAX[:CPU%]",
        help="add a HorizontalPodAutoscaler (the Deployment then has no replicas)",
    )
    p.add_argument("--pdb", action="store_true", help="add a PodDisruptionBudget")
    p.set_defaults(handler=_deploy)


def _analyze(args: argparse.Namespace) -> int:
    from nb2svc.analyze import analyze
    from nb2svc.config import load_config
    from nb2svc.lockfile import locked_analysis_json
    from nb2svc.render import render_analysis
    from nb2svc.state import StateDir

    root = (args.root or args.notebook.resolve().parent).resolve()
    analysis = analyze(
        [args.notebook], root=root, config=load_config(root), overrides=args.parameters
    )
    data = locked_analysis_json(analysis, StateDir.default().locks, resolve=not args.no_lock)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(render_analysis(data))
    return 0


def _build_options(args: argparse.Namespace) -> BuildOptions:
    """The BuildOptions a command's arguments give, over the `NB2SVC_*` environment: each
    option's `dest` is the field it sets (repeatable options become tuples); an option not
    given (None, unset switch, nothing repeated) leaves the environment's value or the
    default (nb2svc.options, one precedence for every way a build starts)."""
    from nb2svc.options import BuildOptions, from_sources, unknown_variables

    given: dict[str, Any] = {}
    for name in (f.name for f in fields(BuildOptions) if hasattr(args, f.name)):
        value = getattr(args, name)
        switch_unset = value is False and name not in _YES_NO_OPTIONS
        if value is None or switch_unset or value == []:
            continue
        given[name] = tuple(value) if isinstance(value, list) else value
    options = from_sources(given, os.environ)
    for warning in unknown_variables(os.environ):
        print(f"nb2svc: warning: {warning}", file=sys.stderr)
    _check_writable(options.outdir)
    return options


_YES_NO_OPTIONS = frozenset({"tls_verify"})  # --x/--no-x: None when not given, False is a choice


def _check_writable(folder: Path) -> None:
    """Make `folder` (and missing parents), write a file in it, then remove what was made:
    a folder the build cannot write fails now, not after the lock and the base image."""
    missing: list[Path] = []
    here = folder.absolute()
    while not here.exists() and here != here.parent:
        missing.append(here)
        here = here.parent
    made: list[Path] = []
    try:
        for path in reversed(missing):
            path.mkdir()
            made.append(path)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(
            f"cannot write the output folder {folder}: {exc.strerror or exc}",
            fix="pass -o a folder you can write to",
        ) from None
    finally:
        for path in reversed(made):
            path.rmdir()


def _build(args: argparse.Namespace) -> int:
    from nb2svc.pipeline import build

    report = build(_build_options(args))
    if report:
        keys: tuple[str, ...] = ("image", "image_id", "manifests")
        if args.train_only:
            keys = ("train_image_id", "model")
        elif args.push:
            keys = ("image", "image_id", "image_digest", "image_pushed", "manifests")
        print(json.dumps({k: report[k] for k in keys}, indent=2))
    return 0


def _push(args: argparse.Namespace) -> int:
    from nb2svc.engine.buildah import Buildah
    from nb2svc.engine.registry import RegistryAccess
    from nb2svc.push import push_report

    tls_verify = args.tls_verify is not False
    access = RegistryAccess.given(args.authfile, tls_verify, args.cert_dir)
    report = push_report(args.report, access, Buildah(stream=sys.stderr))
    keys = ("image", "image_id", "image_digest", "image_pushed", "manifests")
    print(json.dumps({k: report.get(k) for k in keys}, indent=2))
    return 0


def _lock(args: argparse.Namespace) -> int:
    from nb2svc.pipeline import lock_source

    print(lock_source(_build_options(args), check=args.check))
    return 0


def _base(args: argparse.Namespace) -> int:
    from nb2svc.image.base import make_base

    bases = make_base(args.python, force=args.force)
    print(f"{bases.runtime}\n{bases.build}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from nb2svc.k8s.commands import run_command

    return run_command(args.image, report=args.report, port=args.port, timeout=args.timeout)


def _manifests(args: argparse.Namespace) -> int:
    from nb2svc.k8s.commands import manifests_check_command

    return manifests_check_command(args.check, versions=args.versions)


def _deploy(args: argparse.Namespace) -> int:
    from nb2svc.k8s.commands import deploy_command, parse_hpa

    return deploy_command(
        report=args.report,
        manifests=args.manifests,
        namespace=args.namespace,
        context=args.context,
        kubeconfig=args.kubeconfig,
        wait=args.wait,
        rollback=args.rollback,
        local=args.local,
        timeout=args.timeout,
        force_conflicts=args.force_conflicts,
        hpa=parse_hpa(args.hpa) if args.hpa else None,
        pdb=args.pdb,
    )


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
