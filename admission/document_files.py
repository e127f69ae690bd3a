"""An excuse request's documents between the form and the disk: read and checked, kept, and
removed again, each file's blocking work in an executor so that the event loop never waits on
it (``DiskDocuments`` writes them; ``documents`` says which are taken)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import IO

from .disk_documents import DiskDocuments
from .documents import (
    Checked,
    DocumentProblem,
    DocumentRefused,
    ExcuseDocument,
    Limits,
    Upload,
    check_documents,
)


def _read(f: IO[bytes], size: int) -> bytes:
    f.seek(0)
    return f.read(size)


async def uploads_of(files: Sequence[tuple[str, IO[bytes]]], limits: Limits) -> list[Checked]:
    """The files of a form, (name, file) each, read and checked off the event loop
    (``DocumentRefused``)."""
    loop = asyncio.get_running_loop()
    if len(files) > limits.files:  # before reading any of them
        raise DocumentRefused(DocumentProblem.TOO_MANY)
    uploads = []
    for name, f in files:
        data = await loop.run_in_executor(None, _read, f, limits.file_bytes + 1)
        uploads.append(Upload(name, data))
    return await loop.run_in_executor(None, lambda: check_documents(uploads, limits, needed=False))


async def keep(disk: DiskDocuments, checked: Sequence[Checked]) -> list[ExcuseDocument]:
    """Write the documents to disk (in an executor); on a failure none is left behind."""
    loop = asyncio.get_running_loop()
    kept: list[ExcuseDocument] = []
    try:
        for n, c in enumerate(checked, 1):
            name = await loop.run_in_executor(None, disk.keep, c.data)
            kept.append(ExcuseDocument(0, n, c.name, c.kind, c.size, c.sha256, name))
    except BaseException:
        await forget(disk, kept)
        raise
    return kept


async def forget(disk: DiskDocuments, kept: Sequence[ExcuseDocument]) -> None:
    loop = asyncio.get_running_loop()
    for d in kept:
        await loop.run_in_executor(None, disk.remove, d.stored_as)
