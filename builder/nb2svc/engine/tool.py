"""`Tool`: what `Buildah` and `Podman` share. Each finds its binary on PATH (a missing one is
the subclass's own error, with how to install it), echoes every command line `set -x` style
when verbose, and runs short commands to completion with their output captured."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, TextIO, TypedDict

from nb2svc.engine import preflight
from nb2svc.engine.process import Captured, echo, engine_env, run_captured
from nb2svc.errors import Nb2svcError


class ToolOptions(TypedDict, total=False):
    """The keywords every `Tool` takes (a subclass adds its own)."""

    env: Mapping[str, str] | None
    stream: TextIO | None
    verbose: bool
    timeout: float | None


class Tool:
    """One container tool's command line. `env` is added to the caller's environment
    (`engine_env`); `timeout` bounds each short command unless the call gives its own."""

    binary_name: ClassVar[str]
    default_timeout: ClassVar[float]
    install_hint: ClassVar[str]
    missing_error: ClassVar[type[Nb2svcError]]

    def __init__(
        self,
        binary: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        stream: TextIO | None = None,
        verbose: bool = False,
        timeout: float | None = None,
    ) -> None:
        self.binary = binary or self.binary_name
        self.env = engine_env(env)
        self.stream = stream
        self.verbose = verbose
        self.timeout = timeout or self.default_timeout

    def executable(self) -> str:
        found = preflight.find_binary(self.binary, self.env)
        if found is None:
            msg = f"`{self.binary}` was not found on PATH"
            raise self.missing_error(msg, fix=self.install_hint)
        return found

    def _argv(self, *args: str) -> list[str]:
        """The whole command line for `args` (echoed now when verbose)."""
        argv = [self.executable(), *args]
        if self.verbose:
            echo(argv, self.stream)
        return argv

    def _call(self, *args: str, timeout: float | None = None) -> Captured:
        return run_captured(self._argv(*args), env=self.env, timeout=timeout or self.timeout)
