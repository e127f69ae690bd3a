"""Lists a page at a time: the page number asked for (``?page=``), the page fetched from a
store that searches and counts in SQL (``fetch(limit, offset) -> (rows, total)``), and the
pager that ``templates/pager.html`` shows, its links keeping the list's filters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode

from aiohttp import web

PAGE = 50  # rows a page
MAX_PAGE_DIGITS = 6  # page 999999 at most: anything longer is no page number

T = TypeVar("T")


def page_number(raw: str) -> int:
    """A page number as typed: a positive whole number, or page 1 for anything else ("0",
    "-1", "x", "²", 10**30)."""
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= MAX_PAGE_DIGITS):
        return 1
    return max(1, int(raw))


def search_of(request: web.Request, name: str = "q") -> str:
    """What was typed into a list's search field, its spaces tidied, at most 100 characters."""
    return " ".join(request.query.get(name, "").split())[:100]


@dataclass(frozen=True, slots=True)
class Pager:
    """Where a list stands: page ``page`` of ``pages``, ``total`` rows in all, and the links to
    the pages before and after (None at either end)."""

    page: int
    pages: int
    total: int
    previous: str | None
    next: str | None


def fetch_page(
    fetch: Callable[[int, int], tuple[Sequence[T], int]], page: int, size: int = PAGE
) -> tuple[list[T], int, int]:
    """The rows of ``page``, the total, and the page they are of: a page past the end shows
    the last one (the list may have shrunk since its link was made)."""
    rows, total = fetch(size, (page - 1) * size)
    last = max(1, -(-total // size))
    if page > last:
        page = last
        rows, total = fetch(size, (page - 1) * size)
    return list(rows), total, page


def pager(path: str, filters: Mapping[str, str], page: int, total: int, size: int = PAGE) -> Pager:
    """The pager of a list at ``path`` whose links keep ``filters`` (empty ones left out)."""
    pages = max(1, -(-total // size))

    def link(n: int) -> str:
        params = {k: v for k, v in filters.items() if v}
        if n > 1:
            params["page"] = str(n)
        return f"{path}?{urlencode(params)}" if params else path

    return Pager(
        page=page,
        pages=pages,
        total=total,
        previous=link(page - 1) if page > 1 else None,
        next=link(page + 1) if page < pages else None,
    )
