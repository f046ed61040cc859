"""The Pythons the offline base images offer, and their names (pure: no tool runs here).

nb2svc.image.base makes the images; the settings (nb2svc.options) and S2I only need to
know which Pythons exist, without importing the tools that make them.
"""

from __future__ import annotations

from nb2svc.errors import UsageError

REPOSITORY = "localhost/nb2svc/python"
SUITES = {"3.9": "bullseye", "3.11": "bookworm", "3.13": "trixie"}


def suite_for(python_version: str) -> str:
    """The Debian suite whose python3 is `python_version`, or a UsageError saying what to do."""
    suite = SUITES.get(python_version)
    if suite is None:
        offered = "/".join(SUITES)
        msg = f"Debian provides Python {offered} offline; the notebook asks for {python_version}"
        newer = nearest_newer(python_version) or "3.11"
        fix = f"pass --python {newer} to try a newer one or --base-image REF for a registry image"
        raise UsageError(msg, fix=fix)
    return suite


def nearest_newer(python_version: str) -> str | None:
    """The oldest offered Python at least as new as `python_version`, or None."""
    return next((v for v in SUITES if version_key(v) >= version_key(python_version)), None)


def version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def refs_for(python_version: str) -> tuple[str, str]:
    return f"{REPOSITORY}:{python_version}", f"{REPOSITORY}:{python_version}-build"
