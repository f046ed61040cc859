"""CLI entry points of the triggers: `nb2svc hook install|run|worker|builds`, `nb2svc webhook
serve|builds`.

`register(sub)` adds the subcommands to the main parser; each handler takes the parsed
`argparse.Namespace` and returns an exit code, raising `TriggerError` (exit 9) for the CLI to
render. `python -m nb2svc.triggers ...` offers the same commands (the installed hook uses it).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb2svc.errors import TriggerError, UsageError
from nb2svc.triggers import hook
from nb2svc.triggers.history import History, render_builds

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(sub: SubParsers) -> None:
    """Add `hook` and `webhook` to the `nb2svc` subcommands."""
    _add_hook(sub)
    _add_webhook(sub)


def _add_hook(sub: SubParsers) -> None:
    group = sub.add_parser("hook", help="build on git push (post-receive hook of a bare repo)")
    hooks = group.add_subparsers(metavar="ACTION")
    p = hooks.add_parser("install", help="install the post-receive hook into a bare repository")
    p.add_argument("bare_repo", type=Path, metavar="BARE_REPO")
    p.add_argument(
        "--branch",
        action="append",
        default=[],
        dest="branches",
        help="branch to build (repeatable; default: the repository's HEAD branch)",
    )
    p.add_argument("-n", "--notebook", action="append", default=[], dest="notebooks")
    p.add_argument("--image", help="image name without tag (default localhost/<repo name>)")
    p.add_argument("--wait", action="store_true", help="the push waits for the build")
    p.add_argument("--deploy", action="store_true", help="nb2svc deploy after a good build")
    p.add_argument(
        "--push",
        action="store_true",
        help="push each verified build to the registry --image names (needed by --deploy "
        "of a registry image)",
    )
    p.add_argument("--authfile", type=Path, help="containers-auth.json for --push")
    p.add_argument("--no-tls-verify", action="store_true", help="for --push: skip TLS checks")
    p.add_argument("--cert-dir", type=Path, help="for --push: a private registry's CA folder")
    p.add_argument("--namespace", help="namespace for --deploy")
    p.add_argument("--context", dest="kube_context", help="kube context for --deploy")
    p.add_argument("--state-dir", type=Path, help="history, logs, locks (default BARE/nb2svc)")
    p.add_argument("--build-command", help="argv prefix instead of `nb2svc build` (shlex-split)")
    p.add_argument("--timeout", type=float, help="seconds before a build is killed")
    p.add_argument("--force", action="store_true", help="replace a foreign post-receive hook")
    p.set_defaults(handler=hook_install_command)
    for name, handler, text in (
        ("run", hook_run_command, "what the installed hook runs (reads the pushed refs)"),
        ("worker", hook_worker_command, "drain the build queue of a repository"),
        ("builds", hook_builds_command, "list the latest builds of the repository"),
    ):
        q = hooks.add_parser(name, help=text)
        q.add_argument("--config", type=Path, required=True, help="the hook's hook.json")
        q.set_defaults(handler=handler)  # fmt: skip
        if name == "builds":
            _add_listing_options(q)


def _add_webhook(sub: SubParsers) -> None:
    group = sub.add_parser("webhook", help="build on forge webhooks (GitHub, GitLab, Gitea)")
    actions = group.add_subparsers(metavar="ACTION")
    p = actions.add_parser("serve", help="serve webhooks and the build history")
    p.add_argument("--config", type=Path, required=True, help="webhook config (TOML)")
    p.add_argument("--bind", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default from the config, else 8808)")
    p.set_defaults(handler=webhook_serve_command)
    q = actions.add_parser("builds", help="list the latest builds (what GET /builds serves)")
    q.add_argument("--config", type=Path, required=True, help="webhook config (TOML)")
    _add_listing_options(q)
    q.set_defaults(handler=webhook_builds_command)


def _add_listing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    parser.add_argument("--json", action="store_true", help="JSON, as GET /builds gives it")


def hook_install_command(args: argparse.Namespace) -> int:
    bare = args.bare_repo.resolve()
    if args.deploy is False and (args.namespace or args.kube_context):
        raise UsageError("--namespace and --context only apply with --deploy")
    if not args.push and (args.authfile or args.no_tls_verify or args.cert_dir):
        raise UsageError("--authfile, --no-tls-verify and --cert-dir only apply with --push")
    deploy: dict[str, Any] | None = None
    if args.deploy:
        deploy = {"namespace": args.namespace, "context": args.kube_context}
    hook.git_path(bare, "hooks")  # fails early on a non-bare path
    config = hook.HookConfig(
        repo=str(bare),
        branches=args.branches or [hook.default_branch(bare)],
        image=args.image or hook.image_name(bare),
        state_dir=str((args.state_dir or bare / "nb2svc").resolve()),
        notebooks=args.notebooks,
        wait=args.wait,
        deploy=deploy,
        build_command=shlex.split(args.build_command) if args.build_command else None,
        timeout=args.timeout,
        push=args.push,
        authfile=str(args.authfile.resolve()) if args.authfile else None,
        tls_verify=not args.no_tls_verify,
        cert_dir=str(args.cert_dir.resolve()) if args.cert_dir else None,
    )
    path = hook.install(config, force=args.force)
    print(f"installed {path}: builds {', '.join(config.branches)} as {config.image}:<sha12>")
    return 0


def hook_run_command(args: argparse.Namespace) -> int:
    return hook.run(args.config, sys.stdin, sys.stdout)


def hook_worker_command(args: argparse.Namespace) -> int:
    return hook.worker(args.config)


def hook_builds_command(args: argparse.Namespace) -> int:
    config = hook.HookConfig.load(args.config)
    return _list(History(Path(config.state_dir) / "history.sqlite"), args)


def webhook_builds_command(args: argparse.Namespace) -> int:
    from nb2svc.triggers.config import load_config

    config = load_config(args.config, secrets=False)
    return _list(History(config.state_dir / "history.sqlite"), args)


def _list(history: History, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 1000:
        raise UsageError("--limit must be from 1 to 1000")
    builds = history.recent(limit=args.limit)
    if args.json:
        print(json.dumps({"builds": [b.to_json() for b in builds]}, indent=1))
    else:
        print(render_builds(builds))
    return 0


def webhook_serve_command(args: argparse.Namespace) -> int:
    from nb2svc.triggers.config import load_config
    from nb2svc.triggers.webhook import serve

    config = load_config(args.config)
    if args.bind:
        config = config.with_listen(args.bind, config.port)
    if args.port is not None:
        config = config.with_listen(config.bind, args.port)
    return serve(config)


def main(argv: list[str] | None = None) -> int:
    """`python -m nb2svc.triggers`: the trigger subcommands without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="nb2svc")
    register(parser.add_subparsers(metavar="COMMAND"))
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args))
    except TriggerError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except UsageError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code


__all__ = ["hook_install_command", "register", "webhook_serve_command"]
