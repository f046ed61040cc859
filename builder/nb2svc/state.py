"""nb2svc's own state on the host: cached locks, verified images, last locks per tag, logs.

Lives in `$NB2SVC_STATE_DIR`, else `$XDG_CACHE_HOME/nb2svc`, else `~/.cache/nb2svc`.
Everything here is a cache: deleting it costs time, never correctness.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nb2svc.image.verify import Verification


class StateDir:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def default(cls) -> StateDir:
        explicit = os.environ.get("NB2SVC_STATE_DIR")
        if explicit:
            return cls(Path(explicit))
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return cls(Path(cache) / "nb2svc")

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def new_log(self, stem: str, now: datetime | None = None) -> Path:
        """The log `logs/STEM-YYYYmmddTHHMMSSZ.log` of a job starting now, created with mode
        0600 in a 0700 directory. Jobs of one stem started within a second share it (append).
        """
        self.logs.mkdir(parents=True, exist_ok=True)
        self.logs.chmod(0o700)
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        path = self.logs / f"{stem}-{stamp}.log"
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        return path

    def verified(self, image_id: str) -> Verification | None:
        """The verification of an image ID done earlier (an unchanged rebuild), if any."""
        from nb2svc.image.verify import Verification

        path = self.root / "verified" / f"{image_id}.json"
        if not path.exists():
            return None
        try:
            return Verification(**json.loads(path.read_text()))
        except (TypeError, ValueError):
            return None

    def remember_verified(self, image_id: str, verification: Verification) -> None:
        self._write(self.root / "verified" / f"{image_id}.json", json.dumps(asdict(verification)))

    def built(self, key: str) -> str | None:
        """The image ID an identical build context (same key) produced before, if any."""
        path = self.root / "built" / key
        return path.read_text().strip() if path.exists() else None

    def remember_built(self, key: str, image_id: str) -> None:
        self._write(self.root / "built" / key, image_id)

    def previous_lock(self, image: str) -> str | None:
        path = self._tag_lock(image)
        return path.read_text() if path.exists() else None

    def remember_lock(self, image: str, text: str) -> None:
        self._write(self._tag_lock(image), text)

    def _tag_lock(self, image: str) -> Path:
        return self.root / "tags" / (hashlib.sha256(image.encode()).hexdigest()[:24] + ".lock")

    @staticmethod
    def _write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
