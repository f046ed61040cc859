"""Put on PYTHONPATH of a server under test: the modules named in NB2SVC_TEST_FORBID
(comma-separated) cannot be imported, as in a compiled image's venv that lacks them."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

FORBIDDEN = frozenset(n for n in os.environ.get("NB2SVC_TEST_FORBID", "").split(",") if n)


class Forbid(MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.split(".")[0] in FORBIDDEN:
            raise ModuleNotFoundError(f"{fullname} is not installed here (NB2SVC_TEST_FORBID)")
        return None


if FORBIDDEN:
    sys.meta_path.insert(0, Forbid())
