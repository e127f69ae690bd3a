"""The documents a learner attaches to an excuse request (clause 12: "on a request ... with the
supporting documents"): which files are taken, and what is kept of each. Free of storage and I/O.

A file is taken for what its first bytes say it is (PDF, JPEG or PNG), never for its name or
the type the browser sent; its name is kept only to be shown and offered on download.
"""

from __future__ import annotations

import enum
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

MAX_NAME = 120  # characters of a kept file name


class DocumentKind(enum.StrEnum):
    PDF = "pdf"
    JPEG = "jpeg"
    PNG = "png"

    @property
    def media_type(self) -> str:
        return {"pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png"}[self.value]

    @property
    def suffix(self) -> str:
        return {"pdf": ".pdf", "jpeg": ".jpg", "png": ".png"}[self.value]

    @property
    def suffixes(self) -> frozenset[str]:
        """The endings a name of such a file may have."""
        return {
            "pdf": frozenset({".pdf"}),
            "jpeg": frozenset({".jpg", ".jpeg", ".jpe", ".jfif"}),
            "png": frozenset({".png"}),
        }[self.value]


class DocumentProblem(enum.StrEnum):
    NONE = "none"  # a learner's request carries at least one document
    TOO_MANY = "too_many"
    TOO_LARGE = "too_large"  # one file
    TOTAL_TOO_LARGE = "total_too_large"
    EMPTY = "empty"
    WRONG_TYPE = "wrong_type"  # its bytes are not a PDF, a JPEG or a PNG
    BAD_NAME = "bad_name"  # not UTF-8, or nothing left of it


class DocumentRefused(ValueError):
    """The documents cannot be taken; ``problem`` says why, ``name`` of which file ('' for the
    whole set)."""

    def __init__(self, problem: DocumentProblem, name: str = "") -> None:
        super().__init__(f"{problem.value}: {name!r}" if name else problem.value)
        self.problem = problem
        self.name = name


@dataclass(frozen=True, slots=True)
class Limits:
    files: int = 5
    file_bytes: int = 5 * 1024 * 1024
    total_bytes: int = 15 * 1024 * 1024

    def __post_init__(self) -> None:
        if not (self.files >= 1 and 0 < self.file_bytes <= self.total_bytes):
            raise ValueError("Limits: at least one file; a file no larger than the total")


@dataclass(frozen=True, slots=True)
class Upload:
    """A file as it arrived: the name the browser gave (raw: it may not be text) and its bytes
    (at most one byte over the limit: enough to know it is over)."""

    name: bytes | str
    data: bytes


@dataclass(frozen=True, slots=True)
class Checked:
    """A file that may be kept: its clean name, what it is, its size and SHA-256."""

    name: str
    kind: DocumentKind
    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class ExcuseDocument:
    """A kept document of a request: ``n`` counts from 1 within the request; ``stored_as`` is the
    random name of its file in the documents' folder."""

    request_id: int
    n: int
    name: str
    kind: DocumentKind
    size: int
    sha256: str
    stored_as: str


def kind_of(head: bytes) -> DocumentKind | None:
    """What a file's first bytes say it is (its magic number)."""
    if head.startswith(b"%PDF-"):
        return DocumentKind.PDF
    if head.startswith(b"\xff\xd8\xff"):
        return DocumentKind.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return DocumentKind.PNG
    return None


def clean_name(raw: bytes | str, kind: DocumentKind) -> str:
    """A file name safe to show and to offer: UTF-8, no folders, no control or format
    characters, at most ``MAX_NAME`` characters, ending in the suffix of what it is.
    ``DocumentRefused(BAD_NAME)`` when it is not text."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DocumentRefused(
                DocumentProblem.BAD_NAME, raw.decode("utf-8", "replace")
            ) from None
    else:
        text = raw
    if re.search(r"%[0-9A-Fa-f]{2}", text):  # escaped by the client (quotes, line breaks, all)
        try:
            text = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise DocumentRefused(DocumentProblem.BAD_NAME, text) from None
    if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in text):  # undecodable bytes, escaped
        raise DocumentRefused(
            DocumentProblem.BAD_NAME,
            text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
        )
    name = unicodedata.normalize("NFC", text).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in ("C", "Z") or ch == " ")
    name = " ".join(name.split()).strip(" .")
    stem = name[: -len(suffix_of(name))] if suffix_of(name) else name
    stem = stem[: MAX_NAME - len(kind.suffix)].strip(" .")
    return f"{stem or 'document'}{kind.suffix}"


def shown_name(raw: bytes | str) -> str:
    """A name as text to name the file in a message, whatever it is."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return unquote(text, errors="replace")[:MAX_NAME]


def suffix_of(name: str) -> str:
    """A name's ending if it looks like a file type (".pdf", ".JPG"): letters after the last dot;
    '' otherwise (a date like "12.05.2024" is not a type)."""
    _, dot, ext = name.rpartition(".")
    return (
        f".{ext.lower()}" if dot and 1 <= len(ext) <= 5 and ext.isascii() and ext.isalpha() else ""
    )


def lies(name: str, kind: DocumentKind) -> bool:
    """Whether a name says the file is of another type than its bytes do."""
    suffix = suffix_of(name)
    return bool(suffix) and suffix not in kind.suffixes


def check_documents(uploads: Sequence[Upload], limits: Limits, *, needed: bool) -> list[Checked]:
    """The files that may be kept, or ``DocumentRefused`` naming the first that may not: each
    at most ``file_bytes``, a PDF, a JPEG or a PNG by its bytes, with a name that is text; at
    most ``files`` of them, ``total_bytes`` in all; at least one when ``needed``."""
    if needed and not uploads:
        raise DocumentRefused(DocumentProblem.NONE)
    if len(uploads) > limits.files:
        raise DocumentRefused(DocumentProblem.TOO_MANY)
    out: list[Checked] = []
    for u in uploads:
        shown = shown_name(u.name)
        if not u.data:
            raise DocumentRefused(DocumentProblem.EMPTY, shown)
        if len(u.data) > limits.file_bytes:
            raise DocumentRefused(DocumentProblem.TOO_LARGE, shown)
        kind = kind_of(u.data[:16])
        if kind is None or lies(shown, kind):
            raise DocumentRefused(DocumentProblem.WRONG_TYPE, shown)
        out.append(Checked(clean_name(u.name, kind), kind, u.data, _sha256(u.data)))
    if sum(c.size for c in out) > limits.total_bytes:
        raise DocumentRefused(DocumentProblem.TOTAL_TOO_LARGE)
    return out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
