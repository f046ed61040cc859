"""Parse `pip install` / `conda install` command lines found in notebook cells.

These are the strongest evidence: the author said which distribution (and often which
version) to install. Parsing uses `packaging.requirements`; flags that take a value are
skipped with their value; `-r FILE` is returned for the caller to read; VCS/URL installs
are reported (they cannot be pinned by a resolver) and `-e .` is a local project.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement

from nb2svc.deps.mapping import canonical, load_import_map

InstallKind = Literal["pip", "conda"]

PIP_VALUE_FLAGS = frozenset(
    {
        "-c", "--constraint", "-i", "--index-url", "--extra-index-url", "-f", "--find-links",
        "-t", "--target", "--prefix", "--root", "--trusted-host", "--platform",
        "--python-version", "--implementation", "--abi", "--src", "--no-binary",
        "--only-binary", "--progress-bar", "--log", "--cache-dir", "--upgrade-strategy",
        "--proxy", "--timeout", "--retries", "--cert", "--client-cert", "--report",
        "--config-settings", "-C", "--global-option", "--python",
    }
)  # fmt: skip
CONDA_VALUE_FLAGS = frozenset(
    {"-c", "--channel", "-n", "--name", "-p", "--prefix", "--file", "--override-channels-x"}
)
PIP_PREFIX = re.compile(
    r"^(?:sudo\s+)?(?:(?:\S*/)?python[\d.]*\s+-m\s+)?(?:\S*/)?pip[\d.]*\s+(?P<rest>.*)$"
)
CONDA_PREFIX = re.compile(r"^(?:sudo\s+)?(?:\S*/)?(?:conda|mamba|micromamba)\s+(?P<rest>.*)$")
VCS = re.compile(r"^(?:git|hg|svn|bzr)\+|^https?://|^file:")
EGG = re.compile(r"[#&]egg=([A-Za-z0-9_.\-]+)")
NOT_INSTALLED = frozenset({"pip", "setuptools", "wheel"})


@dataclass(frozen=True)
class InstallSpec:
    """One distribution a notebook installs explicitly."""

    name: str  # canonical
    specifier: str = ""
    extras: tuple[str, ...] = ()
    url: str | None = None
    raw: str = ""
    tool: InstallKind = "pip"

    @property
    def version(self) -> str | None:
        match = re.fullmatch(r"===?([^,;\s*]+)", self.specifier)
        return match[1] if match else None


@dataclass(frozen=True)
class ParsedInstall:
    specs: tuple[InstallSpec, ...] = ()
    requirement_files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # human-readable, become warnings


def split_commands(text: str) -> list[str]:
    """`pip install a && pip install b; ls` -> each command separately."""
    return [c.strip() for c in re.split(r"&&|\|\||;|\|", text) if c.strip()]


def parse_install_line(text: str, kind: InstallKind = "pip") -> ParsedInstall:
    """Parse one shell/magic line (`pip install -q x==1.0`, `conda install -c c y`)."""
    specs: list[InstallSpec] = []
    files: list[str] = []
    notes: list[str] = []
    for command in split_commands(text):
        pip = PIP_PREFIX.match(command)
        conda = CONDA_PREFIX.match(command)
        if pip:
            _parse_pip(pip["rest"], specs, files, notes)
        elif conda:
            _parse_conda(conda["rest"], specs, notes)
        elif kind == "pip" and command.startswith("install "):
            _parse_pip(command, specs, files, notes)
    return ParsedInstall(tuple(specs), tuple(files), tuple(notes))


def _tokens(rest: str, notes: list[str]) -> list[str]:
    try:
        return shlex.split(rest, comments=True)
    except ValueError:
        notes.append(f"could not split `{rest}` into arguments; read it word by word")
        return rest.split()


def _parse_pip(rest: str, specs: list[InstallSpec], files: list[str], notes: list[str]) -> None:
    words = _tokens(rest, notes)
    if not words or words[0] != "install":
        return
    args = iter(words[1:])
    for word in args:
        if word in ("-r", "--requirement"):
            files.append(next(args, ""))
        elif word.startswith(("-r", "--requirement=")) and not word.startswith("--"):
            files.append(word[2:])
        elif word.startswith("--requirement="):
            files.append(word.split("=", 1)[1])
        elif word in ("-e", "--editable"):
            _editable(next(args, ""), specs, notes)
        elif word in PIP_VALUE_FLAGS:
            next(args, None)
        elif word.startswith("-") or word.startswith("$") or word.startswith("{"):
            if word.startswith(("$", "{")):
                notes.append(f"`pip install {word}` uses a variable; it cannot be read")
        else:
            spec = parse_requirement(word, notes)
            if spec is not None:
                specs.append(spec)


def _editable(target: str, specs: list[InstallSpec], notes: list[str]) -> None:
    if VCS.match(target):
        spec = parse_requirement(target, notes)
        if spec is not None:
            specs.append(spec)
        return
    notes.append(
        f"`pip install -e {target}` installs a local project; its packages are treated "
        "as local modules (declare its dependencies in requirements.txt)"
    )


def parse_requirement(word: str, notes: list[str]) -> InstallSpec | None:
    """One requirement word: `pkg[extra]==1.0`, `git+https://...#egg=x`, `pkg @ url`."""
    word = word.strip().strip("'\"")
    if not word or (word.endswith((".txt", ".whl", ".tar.gz", ".zip")) and not VCS.match(word)):
        if word:
            notes.append(f"`{word}` is a file, not a distribution name; not used")
        return None
    if VCS.match(word):
        return _url_spec(word, notes)
    try:
        req = Requirement(word)
    except InvalidRequirement:
        notes.append(f"`{word}` is not a valid requirement; ignored")
        return None
    name = canonical(req.name)
    if name in NOT_INSTALLED:
        return None
    if req.url:
        notes.append(f"`{word}` installs from a URL; nb2svc cannot pin it")
    return InstallSpec(name, str(req.specifier), tuple(sorted(req.extras)), req.url, raw=word)


def _url_spec(url: str, notes: list[str]) -> InstallSpec | None:
    egg = EGG.search(url)
    if egg:
        name = egg[1]
    else:
        tail = url.split("#")[0].split("@")[0].rstrip("/").rsplit("/", 1)[-1]
        name = tail.removesuffix(".git")
    notes.append(
        f"`{url}` installs from a URL; nb2svc cannot pin it (the version is whatever the URL "
        "holds at build time)"
    )
    return InstallSpec(canonical(name), "", (), url, raw=url) if name else None


def _parse_conda(rest: str, specs: list[InstallSpec], notes: list[str]) -> None:
    words = _tokens(rest, notes)
    if not words or words[0] not in ("install", "create"):
        return
    table = load_import_map()
    args = iter(words[1:])
    for word in args:
        if word in CONDA_VALUE_FLAGS:
            next(args, None)
            continue
        if word.startswith("-"):
            continue
        match = re.fullmatch(r"(?:[\w.-]+::)?([A-Za-z0-9_.\-]+)\s*(?:(==|=|>=|<=|<|>)(\S+))?", word)
        if not match:
            notes.append(f"conda spec `{word}` not understood; ignored")
            continue
        pypi = table.from_conda(match[1])
        if pypi is None:
            continue
        specifier = _conda_specifier(match[2], match[3])
        specs.append(InstallSpec(pypi, specifier, raw=word, tool="conda"))


def _conda_specifier(op: str | None, version: str | None) -> str:
    if not op or not version:
        return ""
    if op == "=":  # conda `=1.2` means 1.2.*; `=1.2.3` is as good as a pin for our purpose
        return f"=={version}" if version.count(".") >= 2 else f"=={version}.*"
    return f"{op}{version}"
