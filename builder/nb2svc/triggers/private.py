"""Files and folders of the trigger state, readable by their owner only, whatever the umask.

Build logs and the history hold commit IDs, image names, error text and build output: the
state folder and its sub-folders are 0700, the files in it 0600 (docs/triggers.md,
"Persistent history"). SQLite creates `-wal` and `-shm` with the database file's mode.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Make `path` and its missing parents 0700 (existing parents are left as they are)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        folder.chmod(DIR_MODE)
    path.chmod(DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` if missing and set it to 0600 (its folder is made private too)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def append_private(path: Path) -> TextIO:
    """`path` opened for appending text, created 0600."""
    return private_file(path).open("a")
