"""`python -m nb2svc_runtime [serve|usage|check]`: run the model server (see USAGE.md)."""

from __future__ import annotations

import sys
from pathlib import Path

USAGE_FILE = Path(__file__).with_name("USAGE.md")


def _settings() -> object:
    from .serve.config import ConfigError, Settings

    try:
        return Settings.from_env()
    except ConfigError as exc:
        print(f"nb2svc-runtime: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    if command in ("usage", "-h", "--help", "help"):
        print(USAGE_FILE.read_text(encoding="utf-8"))
        return 0
    if command not in ("serve", "_worker", "check"):
        print(f"nb2svc-runtime: unknown command {command!r}; try `usage`", file=sys.stderr)
        return 2
    from .serve.config import Settings
    from .serve.jsonlog import setup_logging

    settings = _settings()
    assert isinstance(settings, Settings)
    setup_logging(settings.log_level)
    if command == "check":
        return _check(settings)
    from .serve.process import serve, worker_from_env

    return worker_from_env(settings) if command == "_worker" else serve(settings)


def _check(settings: object) -> int:
    """Load the artifact's serving backend and predict the sample once; exit 0 when the
    outputs match."""
    from .artifact.format import ArtifactError, read_metadata
    from .serve.config import Settings
    from .serve.schema import validator_for
    from .serve.service import load_backend

    assert isinstance(settings, Settings)
    try:
        signature, sample = read_metadata(settings.model_dir)
        adapter, backend = load_backend(settings.model_dir, signature)
    except (ArtifactError, OSError, ValueError) as exc:
        print(f"nb2svc-runtime: {exc}", file=sys.stderr)
        return 3
    columns = validator_for(signature, 10**6).columns(sample.get("inputs") or [])
    got, _ = adapter.predict_both(adapter.make_input(columns), False)
    ok = got == sample.get("predictions")
    print(f"nb2svc-runtime: {backend}: sample predictions {'match' if ok else 'DIFFER'}: {got}")
    return 0 if ok else 1


def serve_entry() -> None:
    """Console-script entry point (`nb2svc-serve`)."""
    raise SystemExit(main(["serve", *sys.argv[1:]]))


if __name__ == "__main__":
    raise SystemExit(main())
