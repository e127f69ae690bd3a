"""Chain heads published as files, for a copy held elsewhere (another server, the archive, the
agencies' HR services): whoever rewrites the database afterwards cannot make the ledger agree
with what was published. ``sabaq verify --report FILE`` checks any of these files.

- ``class-ended-YYYY-MM.csv``: one row per class as it ended (appended and synced at once);
- ``digest-YYYY-MM-DD.csv``: once a day, the head of every chain that changed that day (UTC).

Rows carrying a head read ``sabaq-chain-head, class id, number of events, hash of the last``,
as in reports.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from .export import CHAIN_MARK, ChainHead, csv_row


def _append_synced(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _row(*cells: object) -> str:
    return csv_row(cells)


class HeadsFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def class_ended(self, head: ChainHead, at: float) -> Path:
        """Publish a class's head as it ends."""
        self.folder.mkdir(parents=True, exist_ok=True)
        moment = datetime.fromtimestamp(at, UTC)
        path = self.folder / f"class-ended-{moment:%Y-%m}.csv"
        _append_synced(
            path,
            _row(CHAIN_MARK, head.class_id, head.count, head.hash, moment.isoformat()),
        )
        return path

    def digest_path(self, day: date) -> Path:
        return self.folder / f"digest-{day.isoformat()}.csv"

    def write_digest(self, day: date, heads: Sequence[ChainHead]) -> Path | None:
        """The day's digest, unless it was written already (a digest is never rewritten)."""
        path = self.digest_path(day)
        if path.exists():
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        text = _row(f"Sabaq attendance ledger: chains that changed on {day.isoformat()} (UTC)")
        text += "".join(_row(CHAIN_MARK, h.class_id, h.count, h.hash) for h in heads)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        _append_synced(tmp, text)
        os.replace(tmp, path)
        return path
