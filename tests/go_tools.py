"""The real peers that are Go programs, built from the Go module proxy and cached by version.

Each `GoTool` names a binary, the version it is built at, and the command that builds it. The
binary lands in `$NB2SVC_TOOLS_CACHE/<name>-<key>/<name>` (default `~/.cache/nb2svc/tools`),
where the key is the version, or the hash of the files a tool in `tools/` is built from; a
second run finds it there and builds nothing. Nothing is downloaded from anywhere but the Go
module proxy, and no binary is committed.

- `binary(tool)` returns the binary, building it first when it is not cached. A file lock per
  tool keeps two processes (a background prefetch and a fixture) from building it at once;
  the build writes to a scratch folder that is renamed into place, so a killed build leaves
  nothing that looks finished. `build.json` beside the binary records how long it took.
- `start_builds(tools)` builds the missing ones, one after another, in a background process
  at nice 19 (tests/conftest.py starts it when the tests are collected, so the compiles
  overlap the image builds that run first).

Run `python tests/go_tools.py build NAME...` to build some by hand, or `list` to see them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools"


def cache_root() -> Path:
    """Where the tests' peers are cached: `$NB2SVC_TOOLS_CACHE`, else ~/.cache/nb2svc/tools."""
    root = os.environ.get("NB2SVC_TOOLS_CACHE") or str(Path.home() / ".cache/nb2svc/tools")
    return Path(root)


@dataclass(frozen=True)
class GoTool:
    """A Go program the tests run: `command(folder)` builds it into `folder/<name>`."""

    name: str
    version: str
    key: str
    command: Callable[[Path], list[str]]
    about: str

    def folder(self) -> Path:
        return cache_root() / f"{self.name}-{self.key}"

    def cached(self) -> Path | None:
        path = self.folder() / self.name
        return path if path.is_file() else None

    def build_record(self) -> dict[str, float] | None:
        """`{"seconds": ..., "finished": <epoch>}` of the build that made the cached binary."""
        record = self.folder() / "build.json"
        if not record.is_file():
            return None
        data: dict[str, float] = json.loads(record.read_text())
        return data


def _source_hash(folder: Path, names: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    return digest.hexdigest()[:16]


def go_install(package: str, version: str, *, tags: str = "", ldflags: str = "-s -w") -> GoTool:
    """A tool built by `go install PACKAGE@VERSION` (module mode, no go.mod of ours)."""
    name = package.rsplit("/", 1)[-1]

    def command(folder: Path) -> list[str]:
        flags = ["-trimpath", f"-ldflags={ldflags}"] + ([f"-tags={tags}"] if tags else [])
        script = 'GOBIN="$1" exec go install "${@:2}"'
        return ["bash", "-c", script, "go-install", str(folder), *flags, f"{package}@{version}"]

    return GoTool(name, version, version, command, f"{package}@{version}")


def local_module(name: str, files: Sequence[str], version: str, about: str) -> GoTool:
    """A tool built by `tools/<name>/build.sh OUT` from a Go module in this repository."""
    source = TOOLS / name

    def command(folder: Path) -> list[str]:
        return ["bash", str(source / "build.sh"), str(folder / name)]

    return GoTool(name, version, _source_hash(source, files), command, about)


def _module_version(go_mod: Path, module: str) -> str:
    for line in go_mod.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == module and parts[1].startswith("v"):
            return parts[1]
    return "unknown"


KUBE = local_module(
    "kube",
    ("go.mod", "go.sum", "main.go", "build.sh"),
    _module_version(TOOLS / "kube" / "go.mod", "k8s.io/kubernetes"),
    "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok (tools/kube)",
)

S2I_VERSION = "v1.6.3"
_S2I_INSTALL = go_install(
    "github.com/openshift/source-to-image/cmd/s2i",
    S2I_VERSION,
    tags="exclude_graphdriver_btrfs",  # as upstream's Makefile builds it
    ldflags="-s -w "
    + " ".join(
        f"-X github.com/openshift/source-to-image/pkg/version.{key}={value}"
        for key, value in (
            ("versionFromGit", S2I_VERSION),
            ("majorFromGit", "1"),
            ("minorFromGit", "6"),
        )
    ),
)


def _s2i_command(folder: Path) -> list[str]:
    """`go install` as above, with a one-line file:// proxy in front of the configured one.

    `go install PKG@VERSION` reads the module's version list to check for a deprecation
    notice; the module proxy reachable here answers that list with 403 ("This module
    version is not available") while it serves v1.6.3 itself. The file:// proxy answers
    the list with v1.6.3 only; everything else misses there and comes from the proxy.
    The module is downloaded first (`go mod download`, which reads no list): with a module
    cache that lacks it, `go install` asked the real proxy for the list despite the file://
    one (seen on a fresh machine, 2026-12-04)."""
    module = "github.com/openshift/source-to-image"
    listing = folder / "proxy" / module / "@v/list"
    script = (
        'go mod download "$4@$2" >/dev/null && mkdir -p "${1%/*}" && echo "$2" > "$1" && '
        'GOPROXY="file://$3,$(go env GOPROXY)" exec "${@:5}"'
    )
    return ["bash", "-c", script, "s2i-proxy", str(listing), S2I_VERSION,
            str(folder / "proxy"), module, *_S2I_INSTALL.command(folder)]  # fmt: skip


S2I = GoTool("s2i", S2I_VERSION, S2I_VERSION, _s2i_command, _S2I_INSTALL.about)

ACTIONLINT = go_install("github.com/rhysd/actionlint/cmd/actionlint", "v1.7.12")

ACT = go_install("github.com/nektos/act", "v0.2.89")

TEKTON_CHECK = local_module(
    "tekton-check",
    ("go.mod", "go.sum", "main.go", "build.sh"),
    _module_version(TOOLS / "tekton-check" / "go.mod", "github.com/tektoncd/pipeline"),
    "Tekton Pipelines' v1 decoding, SetDefaults, Validate and cross-checks (tools/tekton-check)",
)

ALL: dict[str, GoTool] = {tool.name: tool for tool in (KUBE, S2I, ACTIONLINT, ACT, TEKTON_CHECK)}


def binary(tool: GoTool, log: Path | None = None) -> tuple[Path, float | None]:
    """The tool's binary, and how long building it took (None when it was cached)."""
    folder = tool.folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / tool.name
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return path, None
        if shutil.which("go") is None:
            msg = f"building {tool.name} ({tool.about}) needs Go: the `go` command is not on PATH"
            raise RuntimeError(msg)
        started = time.monotonic()
        scratch = folder / f"partial-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        log_path = log or folder / "build.log"
        with log_path.open("w") as out:
            done = subprocess.run(tool.command(scratch), stdout=out, stderr=out, check=False)
        built = scratch / tool.name
        if done.returncode != 0 or not built.is_file():
            shutil.rmtree(scratch, ignore_errors=True)
            tail = log_path.read_text(errors="replace")[-3000:]
            msg = f"building {tool.name} ({tool.about}) failed (exit {done.returncode}):\n{tail}"
            raise RuntimeError(msg)
        seconds = time.monotonic() - started
        record = {"seconds": round(seconds, 1), "finished": time.time()}
        (folder / "build.json").write_text(json.dumps(record))
        built.replace(path)
        shutil.rmtree(scratch, ignore_errors=True)
        return path, seconds


def start_builds(tools: Iterable[GoTool]) -> subprocess.Popen[bytes] | None:
    """Build the missing tools, in order, in one background process at nice 19."""
    missing = [tool.name for tool in tools if tool.cached() is None]
    if not missing or shutil.which("go") is None:
        return None
    return subprocess.Popen(
        ["nice", "-n", "19", sys.executable, str(Path(__file__)), "build", *missing],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["list"]:
        for tool in ALL.values():
            state = "cached" if tool.cached() else "not built"
            print(f"{tool.name:12} {tool.version:10} {state:10} {tool.about}")
        return 0
    if argv[:1] != ["build"] or not all(name in ALL for name in argv[1:]):
        print(f"usage: go_tools.py list | build [{'|'.join(ALL)}]...", file=sys.stderr)
        return 2
    failed = 0
    for name in argv[1:] or list(ALL):  # one failure does not keep the others from building
        try:
            path, seconds = binary(ALL[name])
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: {path} ({'cached' if seconds is None else f'built in {seconds:.0f} s'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
