"""Writing a message in its reader's language: callers (notices, a guest's invite, the HR
services' mail) mark their subject and body with ``N_`` and have them rendered here from the
application's catalogues, then queue them in the outbox (``keys.MAIL``).

The notices kept for people are mailed here too (``NoticeMailer``): each new notice to an
active account with an address, in that person's language, queued once under its id."""

from __future__ import annotations

import gettext
import time
from collections.abc import Callable
from dataclasses import dataclass

from access.errors import UserNotFound
from access.models import User
from access.sqlite_store import SqliteAccounts
from admission.notices import Notice
from control.mail import Mailbox
from control.notices import Notices

from .i18n import LANGUAGES, N_
from .notices import render as render_notice

NOTICE_LINK = N_("Open it in Sabaq: {link}")
NOTICE_NO_LINK = N_("You find it among your notices in Sabaq.")
# A notice found older than this is not mailed (mail switched on after a while off, a sender
# that was down for days): a stale "class moved" mail helps nobody; the notice stays in Sabaq.
MAX_NOTICE_AGE = 86400.0
CURSOR = "notices"


@dataclass(frozen=True, slots=True)
class Rendered:
    language: str
    subject: str
    body: str


def language_of(user: User, default: str) -> str:
    """The language a person reads their mail in: the one they chose on their profile, or
    the academy's default."""
    return user.language if user.language in LANGUAGES else default


def translate(
    catalogues: dict[str, gettext.NullTranslations], language: str, message: str,
    **values: object,
) -> str:  # fmt: skip
    """``message`` in ``language`` with its ``{name}`` placeholders filled (the English text
    when the language has no catalogue)."""
    catalogue = catalogues.get(language) or gettext.NullTranslations()
    text = catalogue.gettext(message)
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def render(
    catalogues: dict[str, gettext.NullTranslations], language: str, subject: str, body: str,
    **values: object,
) -> Rendered:  # fmt: skip
    """A message's subject and body (both marked with ``N_``) in ``language``."""
    return Rendered(
        language,
        translate(catalogues, language, subject, **values),
        translate(catalogues, language, body, **values),
    )


class NoticeMailer:
    """Follows the notices (``Notices.after``) with a cursor kept in the outbox's database and
    queues each one for its recipient: an active account with an e-mail address, in the
    language they chose (``default`` if none). The key is the notice's id, so a notice is
    queued once even if the cursor's move was lost in a crash. ``base_url`` (the address people
    open Sabaq at) makes the notice's link absolute; without it the mail says where to look."""

    def __init__(
        self, notices: Notices, accounts: SqliteAccounts, box: Mailbox,
        catalogues: dict[str, gettext.NullTranslations], default: str, base_url: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._notices = notices
        self._accounts = accounts
        self._box = box
        self._catalogues = catalogues
        self._default = default
        self._base = base_url.rstrip("/")
        self._clock = clock

    def run_once(self) -> int:
        """Queue what was noticed since the last run; returns how many mails were queued."""
        if not self._box.enabled:
            return 0
        queued = 0
        position = self._box.cursor(CURSOR)
        while batch := self._notices.after(position):
            now = self._clock()
            for notice in batch:
                if now - notice.created_at <= MAX_NOTICE_AGE:
                    queued += self._queue(notice)
            position = batch[-1].id
            self._box.move_cursor(CURSOR, position)
        return queued

    def _queue(self, notice: Notice) -> bool:
        try:
            user = self._accounts.get(notice.recipient_id)
        except UserNotFound:
            return False
        if not user.active or not user.email:
            return False
        language = language_of(user, self._default)
        catalogue = self._catalogues.get(language) or gettext.NullTranslations()
        title, body, link = render_notice(notice, catalogue.gettext)
        footer = (
            translate(self._catalogues, language, NOTICE_LINK, link=self._base + link)
            if self._base
            else translate(self._catalogues, language, NOTICE_NO_LINK)
        )
        return self._box.enqueue(
            f"notice:{notice.id}", user.email, language, title, f"{body}\n\n{footer}"
        )
