"""The base images nb2svc builds on, made offline from Debian packages when no registry answers.

Both come from one Debian image (minbase + python3, libgomp1, ca-certificates, tini, upgraded;
removed once they are made): `localhost/nb2svc/python:X.Y-build` adds compilers, Python
headers, git and uv for the deps and train stages; `localhost/nb2svc/python:X.Y`, the slim
runtime base, drops what a model server never runs, apt included (base-runtime-slim.sh,
docs/architecture.md, "Base images"). Both are rebuilt only when their recipe changes
(label `io.nb2svc.base.recipe`) or when forced. While they are made, one line per phase is
shown (`PhaseDisplay`) and their full output goes to a log in the state directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from nb2svc import __version__
from nb2svc.engine.buildah import Buildah
from nb2svc.engine.debootstrap import (
    DEFAULT_MIRROR,
    Debootstrap,
    debootstrap_phase,
    remove_rootfs,
    suite_available,
)
from nb2svc.engine.progress import PhaseDisplay, step_phase
from nb2svc.errors import BuildError, Nb2svcError
from nb2svc.image.suites import REPOSITORY

# re-exported: the suites' names belong to nb2svc.image.suites, and callers may name them here
from nb2svc.image.suites import SUITES as SUITES
from nb2svc.image.suites import refs_for as refs_for
from nb2svc.image.suites import suite_for as suite_for
from nb2svc.state import StateDir

RUNTIME_PACKAGES = ("python3", "libgomp1", "ca-certificates", "tini")
# What one suite's runtime base needs beyond those: bullseye's Python 3.9 keeps most of
# distutils in python3-distutils, without which uv refuses the interpreter of the serving
# venv (the build base had it through python3-dev, the slimmed runtime base not).
SUITE_RUNTIME_PACKAGES = {"bullseye": ("python3-distutils",)}


def runtime_packages(suite: str) -> tuple[str, ...]:
    return RUNTIME_PACKAGES + SUITE_RUNTIME_PACKAGES.get(suite, ())


BUILD_PACKAGES = ("gcc", "g++", "libc6-dev", "make", "python3-dev", "git")
RECIPE_VERSION = "2"
LABEL_RECIPE = "io.nb2svc.base.recipe"
WORK_DIR = Path("/var/tmp")
# Paths removed from the debootstrap tree before it becomes a layer.
_TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/man", "usr/share/info")
# The files that make the images (nb2svc/resources); their text is part of the recipe.
RECIPE_FILES = (
    "base-debian.Containerfile",
    "base-runtime.Containerfile",
    "base-runtime-slim.sh",
    "base-build.Containerfile",
    "base-rootfs-dpkg-slim.cfg",
)


@dataclass(frozen=True)
class BaseImages:
    """The pair of base images a build uses: `runtime` (final stage) and `build` (deps, train)."""

    runtime: str
    build: str
    python_version: str
    source: str  # "debian" (made here), "registry" or "user" (--base-image)
    suite: str | None = None
    built: bool = False


def recipe_hash(suite: str, mirror: str = DEFAULT_MIRROR) -> str:
    """A hash of everything that decides the images' content except time (security updates)."""
    digest = hashlib.sha256()
    for part in (RECIPE_VERSION, suite, mirror, *runtime_packages(suite), "|", *BUILD_PACKAGES):
        digest.update(part.encode() + b"\0")
    for name in RECIPE_FILES:
        digest.update(_resource(name).encode())
    return digest.hexdigest()[:16]


def _resource(name: str) -> str:
    return resources.files("nb2svc.resources").joinpath(name).read_text()


def ensure_base_image(
    python_version: str,
    buildah: Buildah,
    *,
    force: bool = False,
    mirror: str = DEFAULT_MIRROR,
    debootstrap: Debootstrap | None = None,
) -> BaseImages:
    """Make `localhost/nb2svc/python:X.Y` and `:X.Y-build` unless both are already current.

    Holds a per-version file lock, so parallel callers (test sessions, CI jobs) build once.
    """
    suite = suite_for(python_version)
    runtime_ref, build_ref = refs_for(python_version)
    recipe = recipe_hash(suite, mirror)
    with _lock(python_version):
        current = not force and all(
            _is_current(buildah, r, recipe) for r in refs_for(python_version)
        )
        if not current:
            with _display(python_version, suite, buildah) as display:
                deboot = debootstrap or Debootstrap(stream=buildah.stream)
                debian = _build_debian(python_version, suite, mirror, buildah, deboot, display)
                try:
                    for variant in ("runtime", "build"):
                        _build_variant(variant, debian, python_version, suite, mirror, recipe,
                                       buildah, display)  # fmt: skip
                finally:
                    buildah.rmi(debian)
    return BaseImages(runtime_ref, build_ref, python_version, "debian", suite, not current)


@contextmanager
def _display(python_version: str, suite: str, buildah: Buildah) -> Iterator[PhaseDisplay]:
    """The display of making the base images (silent if `buildah.progress` is off); their
    full output goes to a new log, which an error raised meanwhile names in its details."""
    path = StateDir.default().new_log(f"base-{python_version}")
    stream = (buildah.stream or sys.stderr) if buildah.progress else None
    title = f"making the base images {REPOSITORY}:{python_version} (Debian {suite})"
    try:
        with (
            path.open("a", encoding="utf-8", buffering=1) as log,
            PhaseDisplay(stream, log, title=title, log_path=path) as display,
        ):
            yield display
    except Nb2svcError as err:
        err.details = (*err.details, f"full log: {path}")
        raise


def _is_current(buildah: Buildah, ref: str, recipe: str) -> bool:
    return buildah.image_exists(ref) and buildah.image_labels(ref).get(LABEL_RECIPE) == recipe


@contextmanager
def _lock(python_version: str) -> Iterator[None]:
    path = WORK_DIR / f"nb2svc-base-{python_version}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _labels(
    python_version: str, suite: str, mirror: str, recipe: str, variant: str
) -> dict[str, str]:
    packages = runtime_packages(suite) + (BUILD_PACKAGES if variant == "build" else ())
    return {
        "org.opencontainers.image.title": f"nb2svc python {python_version} {variant} base",
        "org.opencontainers.image.description": f"Debian {suite} minbase + {', '.join(packages)}",
        "org.opencontainers.image.created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "org.opencontainers.image.version": python_version,
        "io.nb2svc.base.python": python_version,
        "io.nb2svc.base.suite": suite,
        "io.nb2svc.base.mirror": mirror,
        "io.nb2svc.base.packages": ",".join(packages),
        "io.nb2svc.base.variant": variant,
        LABEL_RECIPE: recipe,
        "io.nb2svc.version": __version__,
    }


def _build_debian(
    python_version: str,
    suite: str,
    mirror: str,
    buildah: Buildah,
    deboot: Debootstrap,
    display: PhaseDisplay,
) -> str:
    """The upgraded Debian image both bases are made from; returns its image ID."""
    deboot.check()
    if not suite_available(suite, mirror):
        raise BuildError(
            f"{mirror} does not publish Debian {suite}", fix="check the mirror URL and network"
        )
    work = Path(tempfile.mkdtemp(prefix="nb2svc-base-", dir=WORK_DIR))
    try:
        rootfs = work / "rootfs"
        phases = display.hook(f"debootstrap {suite}:", debootstrap_phase)
        deboot.create(suite, rootfs, include=runtime_packages(suite), mirror=mirror, on_line=phases)
        display.phase("root filesystem: trimming and packing")
        prepare_rootfs(rootfs, python_version, suite, mirror)
        context = work / "context"
        context.mkdir()
        deboot.pack(rootfs, context / "rootfs.tar")
        remove_rootfs(rootfs)
        (context / "Containerfile").write_text(_resource("base-debian.Containerfile"))
        result = buildah.build(
            context / "Containerfile",
            context,
            layers=False,
            on_line=display.hook("debian image", step_phase),
            quiet=True,
        )
        return result.image_id
    finally:
        remove_rootfs(work / "rootfs")
        shutil.rmtree(work, ignore_errors=True)


def _build_variant(
    variant: str,
    debian: str,
    python_version: str,
    suite: str,
    mirror: str,
    recipe: str,
    buildah: Buildah,
    display: PhaseDisplay,
) -> None:
    """The runtime or build base from the Debian image, tagged with its reference."""
    runtime_ref, build_ref = refs_for(python_version)
    with tempfile.TemporaryDirectory(prefix=f"nb2svc-base-{variant}-", dir=WORK_DIR) as tmp:
        context = Path(tmp)
        if variant == "build":
            shutil.copy2(find_uv(), context / "uv")
        else:
            (context / "base-runtime-slim.sh").write_text(_resource("base-runtime-slim.sh"))
        (context / "Containerfile").write_text(_resource(f"base-{variant}.Containerfile"))
        result = buildah.build(
            context / "Containerfile",
            context,
            build_args={"NB2SVC_DEBIAN": debian},
            labels=_labels(python_version, suite, mirror, recipe, variant),
            layers=False,
            on_line=display.hook(f"{variant} image", step_phase),
            quiet=True,
        )
    buildah.tag(result.image_id, runtime_ref if variant == "runtime" else build_ref)


def find_uv() -> Path:
    """The uv binary to copy into the build base: this environment's, else the one on PATH."""
    candidates = [Path(sys.prefix) / "bin" / "uv", Path(sys.executable).parent / "uv"]
    which = shutil.which("uv")
    candidates += [Path(which)] if which else []
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise BuildError("uv was not found (needed in the build base image)", fix="pip install uv")


def prepare_rootfs(rootfs: Path, python_version: str, suite: str, mirror: str) -> None:
    """Check the Python version and trim a fresh debootstrap tree before it becomes a layer."""
    if not (rootfs / "usr" / "bin" / f"python{python_version}").exists():
        found = sorted(p.name for p in (rootfs / "usr" / "bin").glob("python3.*"))
        msg = f"Debian {suite} did not install python{python_version} (found: {', '.join(found)})"
        raise BuildError(msg, fix="this is a bug in nb2svc's suite table; pass --base-image REF")
    security = "http://deb.debian.org/debian-security"
    (rootfs / "etc/apt/sources.list").write_text(
        f"deb {mirror} {suite} main\ndeb {mirror} {suite}-updates main\n"
        f"deb {security} {suite}-security main\n"
    )
    (rootfs / "etc/dpkg/dpkg.cfg.d/nb2svc-slim").write_text(_resource("base-rootfs-dpkg-slim.cfg"))
    (rootfs / "etc/apt/apt.conf.d/90nb2svc").write_text(
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
    )
    for rel in (*_TRIM, "dev"):
        _empty_dir(rootfs / rel)
    for doc in (rootfs / "usr/share/doc").glob("*/*"):
        if doc.name != "copyright":
            _remove(doc)
    for locale in (rootfs / "usr/share/locale").glob("*"):
        if locale.name != "locale.alias":
            _remove(locale)
    (rootfs / "etc/resolv.conf").unlink(missing_ok=True)
    (rootfs / "etc/hostname").write_text("localhost\n")


def _empty_dir(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            _remove(child)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def registry_for(ref: str) -> str | None:
    """The registry host a reference pulls from (Docker Hub for short names); None for local."""
    first, sep, _ = ref.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        return "registry-1.docker.io"
    if first in ("docker.io", "index.docker.io"):
        return "registry-1.docker.io"
    return None if first == "localhost" else first


def registry_reachable(ref: str, timeout: float = 2.0) -> bool:
    """Whether the registry of `ref` answers its `/v2/` endpoint within `timeout` seconds.

    Any HTTP answer counts (401 is normal without credentials); DNS failure, refusal or a
    timeout mean no. Costs one HTTPS round trip, not a pull.
    """
    host = registry_for(ref)
    if host is None:
        return False
    try:
        with urllib.request.urlopen(f"https://{host}/v2/", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, TimeoutError, OSError):
        return False


def select_base_images(
    python_version: str,
    buildah: Buildah,
    *,
    base_image: str | None = None,
    registry_timeout: float = 2.0,
) -> BaseImages:
    """`--base-image` if given; else `python:X.Y-slim` if a registry answers; else local Debian."""
    if base_image:
        return BaseImages(base_image, base_image, python_version, "user")
    slim = f"docker.io/library/python:{python_version}-slim"
    if registry_reachable(slim, registry_timeout):
        full = f"docker.io/library/python:{python_version}"
        return BaseImages(slim, full, python_version, "registry")
    return ensure_base_image(python_version, buildah)


def make_base(
    python_version: str = "3.11", *, force: bool = False, mirror: str = DEFAULT_MIRROR
) -> BaseImages:
    """`nb2svc base`: make the local base images and print what was made."""
    suite_for(python_version)
    buildah = Buildah()
    buildah.check()
    start = time.monotonic()
    images = ensure_base_image(python_version, buildah, force=force, mirror=mirror)
    verb = "built" if images.built else "up to date"
    took = f" in {time.monotonic() - start:.0f}s" if images.built else ""
    for ref in (images.runtime, images.build):
        size = buildah.image_size(ref)
        print(f"{ref}: {verb}{took} ({size / 1e6:.0f} MB, Debian {images.suite})", file=sys.stderr)
    return images
