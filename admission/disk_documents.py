"""The excuse requests' documents as files in one folder of the data directory, under random
names (the name a learner gave is kept in the database, never used on disk). Calls block:
callers on the event loop run them in an executor."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


class DiskDocuments:
    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def keep(self, data: bytes) -> str:
        """Write a document; its stored name (random, 32 hex digits)."""
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = secrets.token_hex(16)
        path = self._folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return name

    def path(self, stored_as: str) -> Path:
        if len(stored_as) != 32 or not all(c in "0123456789abcdef" for c in stored_as):
            raise ValueError(f"Not a stored document's name: {stored_as!r}")
        return self._folder / stored_as

    def remove(self, stored_as: str) -> None:
        with contextlib.suppress(ValueError):
            self.path(stored_as).unlink(missing_ok=True)
