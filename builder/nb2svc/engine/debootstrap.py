"""`Debootstrap`: runs `debootstrap` and `tar` for the offline base image (image/base.py).

debootstrap prints a few hundred `I:` lines (one per package and step); `debootstrap_phase`
tells which of them start a phase a person wants to see.

A root filesystem made by debootstrap may still have /proc or /sys mounted inside it when
debootstrap is killed; `remove_rootfs` unmounts those before deleting anything.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from nb2svc.engine import preflight
from nb2svc.engine.errors import DebootstrapError
from nb2svc.engine.process import echo, run_captured, run_streaming
from nb2svc.engine.progress import Phase
from nb2svc.errors import BuildError

DEFAULT_MIRROR = "http://deb.debian.org/debian"
# The phase of debootstrap's `I:` lines, first match wins (see `debootstrap_phase`).
_PHASES = tuple(
    (re.compile(pattern), phase)
    for pattern, phase in (
        (r"I: (?:Retrieving|Validating) \S+ \S+$", "downloading packages"),
        (r"I: (?:Retrieving|Validating) \S+$", "reading the package index"),
        (r"I: (?:Checking|Valid) Release signature", "reading the package index"),
        (r"I: Resolving dependencies ", "resolving packages"),
        (r"I: (?:Found additional|Checking component) ", "resolving packages"),
        (r"I: (?:Chosen extractor|Extracting) ", "extracting packages"),
        (r"I: Installing core packages", "installing core packages"),
        (r"I: Base system installed successfully", "done"),
    )
)
# The two rounds of dpkg: their per-package `Unpacking x...` lines are detail.
_ROUND = re.compile(r"I: ((?:Unpacking|Configuring) (?:required packages|the base system))\.\.\.$")


class Debootstrap:
    """Makes a Debian root filesystem from packages (needs root and the network to a mirror).

    It shows nothing itself: `create` hands each output line to its `on_line`.
    """

    def __init__(
        self, binary: str = "debootstrap", *, stream: TextIO | None = None, verbose: bool = False
    ) -> None:
        self.binary = binary
        self.stream = stream
        self.verbose = verbose
        self.env = dict(os.environ)

    def check(self) -> str:
        found = preflight.find_binary(self.binary, self.env)
        if found is None:
            raise BuildError(
                f"`{self.binary}` was not found on PATH (needed to make the local base image)",
                fix="apt-get install debootstrap, or pass --base-image REF",
            )
        if os.geteuid() != 0:
            raise BuildError(
                "debootstrap needs root to make the local base image",
                fix="run `sudo nb2svc base` once, or pass --base-image REF",
            )
        if preflight.find_binary("tar", self.env) is None:
            raise BuildError("`tar` was not found on PATH", fix="apt-get install tar")
        return found

    def create(
        self,
        suite: str,
        target: Path,
        *,
        include: Sequence[str],
        mirror: str = DEFAULT_MIRROR,
        variant: str = "minbase",
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        """`debootstrap --variant=VARIANT --include=... SUITE TARGET MIRROR`."""
        argv = [self.check(), f"--variant={variant}", f"--include={','.join(include)}"]
        argv += [suite, str(target), mirror]
        if self.verbose:
            echo(argv, self.stream)
        result = run_streaming(argv, on_line or (lambda _: None), env=self.env)
        if result.returncode != 0:
            tail = [*result.tail, *_debootstrap_log_tail(target)]
            raise DebootstrapError(argv, result.returncode, tail, fix=f"is {mirror} reachable?")

    def pack(self, rootfs: Path, tarball: Path) -> None:
        """Archive a root filesystem with numeric owners, xattrs and ACLs kept."""
        argv = ["tar", "--numeric-owner", "--xattrs", "--acls", "-C", str(rootfs)]
        argv += ["-cf", str(tarball), "."]
        result = run_captured(argv, timeout=600)
        if result.returncode != 0:
            raise DebootstrapError(argv, result.returncode, result.tail(), message="tar failed")


def debootstrap_phase(line: str) -> Phase | None:
    """The phase a debootstrap output line starts; warnings and errors as notices; None
    for detail (a package retrieved, unpacked or configured, other `I:` lines)."""
    text = line.strip()
    if text.startswith(("W: ", "E: ")):
        return Phase(text, notice=True)
    dpkg_round = _ROUND.match(text)
    if dpkg_round is not None:
        return Phase(dpkg_round[1].lower())
    return next((Phase(phase) for pattern, phase in _PHASES if pattern.match(text)), None)


def suite_available(suite: str, mirror: str = DEFAULT_MIRROR, timeout: float = 5.0) -> bool:
    """Whether the mirror publishes `dists/SUITE/Release` (a cheap HEAD request)."""
    request = urllib.request.Request(f"{mirror.rstrip('/')}/dists/{suite}/Release", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, TimeoutError, OSError):
        return False


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below `root`, deepest first (from /proc/self/mounts)."""
    root = root.resolve()
    found: list[Path] = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        point = Path(fields[1].encode().decode("unicode_escape"))
        if point == root or root in point.parents:
            found.append(point)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def remove_rootfs(root: Path) -> None:
    """Delete a debootstrap target, unmounting anything still mounted inside it first."""
    if not root.exists():
        return
    for point in mounts_under(root):
        run_captured(["umount", "--lazy", str(point)], timeout=60)
    left = mounts_under(root)
    if left:
        msg = f"cannot remove {root}: still mounted: {', '.join(map(str, left))}"
        raise BuildError(msg, fix=f"umount them, then rm -rf {root}")
    shutil.rmtree(root, ignore_errors=True)


def _debootstrap_log_tail(target: Path, lines: int = 15) -> list[str]:
    log = target / "debootstrap" / "debootstrap.log"
    if not log.is_file():
        return []
    return ["debootstrap.log:", *log.read_text(errors="replace").splitlines()[-lines:]]
