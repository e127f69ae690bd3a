"""The notices kept for people, mailed (``NoticeMailer``): each new notice to an active account
with an address, in that person's language (``control.words``), queued once under its id in
the outbox (``control.mail``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from access.errors import UserNotFound
from access.sqlite_store import SqliteAccounts
from admission.notices import Notice

from .mail import Mailbox
from .notice_text import render as render_notice
from .notices import Notices
from .words import N_, Catalogues, gettext_in, language_of, translate

NOTICE_LINK = N_("Open it in Sabaq: {link}")
NOTICE_NO_LINK = N_("You find it among your notices in Sabaq.")
# A notice found older than this is not mailed (mail switched on after a while off, a sender
# that was down for days): a stale "class moved" mail helps nobody; the notice stays in Sabaq.
MAX_NOTICE_AGE = 86400.0
CURSOR = "notices"


class NoticeMailer:
    """Follows the notices (``Notices.after``) with a cursor kept in the outbox's database and
    queues each one for its recipient: an active account with an e-mail address, in the
    language they chose (``default`` if none). The key is the notice's id, so a notice is
    queued once even if the cursor's move was lost in a crash. ``base_url`` (the address people
    open Sabaq at) makes the notice's link absolute; without it the mail says where to look."""

    def __init__(
        self, notices: Notices, accounts: SqliteAccounts, box: Mailbox,
        catalogues: Catalogues, default: str, base_url: str = "",
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
        title, body, link = render_notice(notice, gettext_in(self._catalogues, language))
        footer = (
            translate(self._catalogues, language, NOTICE_LINK, link=self._base + link)
            if self._base
            else translate(self._catalogues, language, NOTICE_NO_LINK)
        )
        return self._box.enqueue(
            f"notice:{notice.id}", user.email, language, title, f"{body}\n\n{footer}"
        )
