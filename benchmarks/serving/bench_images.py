"""The images the serving benchmark measures: nb2svc's, built by `nb2svc build`, and the
hand-written baselines, built FROM them here and removed again whatever happens.

nb2svc's images are kept under localhost/nb2svc-bench/MODEL:MODE, the record of their last
build in ~/.cache/nb2svc-bench/MODEL-MODE (so an unchanged one is reused in seconds, and
`--reuse` skips even that); the baselines are temporary (their tags carry this process's id) and
`Baselines.remove` deletes every one that was built.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from nb2svc.engine.buildah import Buildah
from nb2svc.engine.errors import BuildahError

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NB2SVC = REPO / ".venv" / "bin" / "nb2svc"
TAG_ROOT = "localhost/nb2svc-bench"
BUILD_TIMEOUT_S = 1800
TAIL_LINES = 12
BASELINES = {
    "bentoml-hand": HERE / "baseline" / "Containerfile",
    "bare": HERE / "baseline" / "Containerfile.bare",
}
"""Baseline kind -> its Containerfile (context: baseline/)."""


class ImageUnavailable(Exception):
    """An image could not be built; its target is skipped, saying this (str) as the reason."""


def build_environment() -> dict[str, str]:
    """podman/buildah need this repository's containers.conf on the reference host (runc,
    lower ulimits); uv trusts the system's CA store. Both only when not set already."""
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "containers" / "containers.conf"))
    env.setdefault("UV_SYSTEM_CERTS", "1")
    return env


def nb2svc_tag(model: str, mode: str) -> str:
    """Where nb2svc's image of `model` served as `mode` (compiled | native | bentoml) lives."""
    return f"{TAG_ROOT}/{model}:{mode}"


def build_outdir(model: str, mode: str) -> Path:
    """The same `-o` folder for every build of one image: nb2svc keeps the record of the
    last build there, and with it an unchanged notebook and nb2svc reuse the whole image
    (seconds instead of half a minute of runtime stage and verification per image)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "nb2svc-bench" / f"{model}-{mode}"


def build_arguments(sample: Path, tag: str, mode: str, outdir: Path) -> list[str]:
    """`nb2svc build` for one mode; the bentoml runtime only serves the native model."""
    argv = [str(NB2SVC), "build", str(sample), "-t", tag, "-o", str(outdir)]
    if mode == "bentoml":
        return [*argv, "--runtime", "bentoml", "--inference", "native"]
    return [*argv, "--inference", mode]


def failure_reason(output: str, returncode: int) -> str:
    """What nb2svc's output says went wrong: its own last `error [stage]: ...` line (the
    cause it found), else its last line; buildah's "Error: building at STEP" is only where."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    said = next((line for line in reversed(lines) if line.startswith("error [")), None)
    said = said or (lines[-1] if lines else "no output")
    return f"nb2svc build exited {returncode}: {said[:300]}"


def build_nb2svc(buildah: Buildah, sample: Path, model: str, mode: str, *, reuse: bool) -> str:
    """The tag of nb2svc's `mode` image of `model`, built now unless `reuse` finds it.

    A failed build raises `ImageUnavailable` (with the end of its output on stderr), so
    one mode that does not build yet does not stop the others from being measured.
    """
    tag = nb2svc_tag(model, mode)
    if reuse and buildah.image_exists(tag):
        print(f"bench: reusing {tag}", file=sys.stderr)
        return tag
    print(f"bench: building {tag} (nb2svc build, {mode})", file=sys.stderr)
    argv = build_arguments(sample, tag, mode, build_outdir(model, mode))
    done = subprocess.run(
        argv,
        env=build_environment(),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
        cwd=REPO,
    )
    if done.returncode != 0:
        output = done.stdout + "\n" + done.stderr
        tail = "\n".join(output.strip().splitlines()[-TAIL_LINES:])
        print(f"bench: {tag} did not build; the end of its output:\n{tail}", file=sys.stderr)
        raise ImageUnavailable(failure_reason(output, done.returncode))
    return tag


@dataclass
class Baselines:
    """The temporary baseline images of one run; `remove` deletes all that were built."""

    buildah: Buildah
    built: list[str] = field(default_factory=list)

    def build(self, kind: str, model: str, base: str) -> str:
        """The `kind` baseline of `model` FROM `base`, in one layer (layers=False: no
        intermediate image is left for `remove` to miss)."""
        tag = f"{TAG_ROOT}/{model}-{kind}:tmp-{os.getpid()}"
        print(f"bench: building {tag} FROM {base}", file=sys.stderr)
        self.built.append(tag)  # before the build: an interrupted one may still tag it
        try:
            self.buildah.build(
                BASELINES[kind],
                HERE / "baseline",
                tag=tag,
                build_args={"BASE": base},
                layers=False,
                quiet=True,
            )
        except BuildahError as exc:
            raise ImageUnavailable(f"the {kind} baseline did not build: {exc}") from exc
        return tag

    def remove(self) -> None:
        """`rmi --force` of every baseline this run built (ones never tagged are skipped)."""
        for tag in self.built:
            if self.buildah.image_exists(tag):
                self.buildah.rmi(tag, force=True)
        self.built.clear()
