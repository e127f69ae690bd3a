"""The agencies' HR services' monthly mail (clauses 18, 19): for each agency with HR addresses
and learners in groups, the coming month's timetable of its employees' groups and the past
month's attendance of its employees (the agency report's rows), each an XLSX file attached to
one mail to all its addresses, in the academy's language (``SABAQ_DEFAULT_LANGUAGE``, Russian
by default).

``HrMailer.run_once`` is the background job (``web.core.contexts.hr_mail``): at each kind's
moment of the schedule (``attendance.hr_dispatch``) it queues the month's mail for every agency
that has none yet, under the key ``hr:<agency>:<kind>:<month>``, and logs it; a restart or a
second run queues nothing again (the outbox keeps the key; the log skips it). ``HrMailer.send``
is staff's "Send now" and "Send again": a new mail under a key of its own, logged with who
asked.

The attendance table is the agency report's and the classes' words are the pages' (both in the
language of a gettext passed in): ports that ``web.core.hr_mail`` wires in, as control imports
nothing of ``web``."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from access.audit import Actor
from access.models import User
from access.sqlite_store import SqliteAccounts
from attendance.export import Cell, Table, to_xlsx
from attendance.hr_dispatch import (
    Dispatch,
    DispatchKind,
    DispatchReason,
    again_key,
    due_month,
    scheduled_key,
)
from attendance.sqlite_hr_dispatch import SqliteHrDispatch
from scheduler import calendar
from scheduler.labels import class_status_labels, format_labels, kind_labels, month_name
from scheduler.models import (
    DEFAULT_TIMEZONE,
    ClassFormat,
    ClassKind,
    ClassStatus,
    Group,
    LiveClass,
)
from scheduler.sqlite_agencies import SqliteAgencies
from scheduler.sqlite_store import SqliteTimetable
from scheduler.structure import Agency

from .mail import Attachment, Mail, Mailbox, MailState
from .words import N_, Catalogues, Gettext, gettext_in, translate

TIMETABLE_HEADER = (
    N_("Group"), N_("Day"), N_("Starts"), N_("Ends"), N_("Time zone"), N_("Class"),
    N_("Kind of class"), N_("Format"), N_("Teacher"), N_("Status"),
)  # fmt: skip
log = logging.getLogger("sabaq.web.hr_mail")  # the name its log lines always had
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SUBJECTS = {
    DispatchKind.TIMETABLE: N_("Timetable of classes for {month}: {agency}"),
    DispatchKind.ATTENDANCE: N_("Attendance of classes for {month}: {agency}"),
}
BODIES = {
    DispatchKind.TIMETABLE: N_(
        "Hello,\n\nAttached is the timetable of the classes for {month} of the Academy's groups"
        " in which the employees of {agency} study (clause 18 of the rules of distance"
        " learning). Each time is given in its group's time zone.\n\nThis message was sent"
        " by Sabaq."
    ),
    DispatchKind.ATTENDANCE: N_(
        "Hello,\n\nAttached is the attendance of the employees of {agency} at the Academy's"
        " classes for {month} (clause 19 of the rules of distance learning): for each"
        " learner, the classes, their marks and the minutes present.\n\nThis message was sent"
        " by Sabaq."
    ),
}
FILES = {
    DispatchKind.TIMETABLE: N_("Timetable {month}.xlsx"),
    DispatchKind.ATTENDANCE: N_("Attendance {month}.xlsx"),
}


class HrMailRefused(Exception):
    """A mail by hand that cannot be made; ``code``: ``mail_off`` (no mail server set up),
    ``no_contacts`` (the agency has no HR address), ``no_employees`` (none of its learners is
    in a group)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class AgencyTable(Protocol):
    """The agency report's table: the attendance of ``learners`` in ``classes`` of ``month``,
    in the language of ``_`` (``language``), at ``now``, titled for the agency ``only``."""

    def __call__(
        self, _: Gettext, month: calendar.Month, learners: Sequence[User],
        classes: Sequence[LiveClass], now: float, only: str, *, language: str,
    ) -> Table: ...  # fmt: skip


@dataclass(frozen=True, slots=True)
class ClassWords:
    """A class's kind, format and status in words, in one language."""

    kinds: Mapping[ClassKind, str]
    formats: Mapping[ClassFormat, str]
    statuses: Mapping[ClassStatus, str]


@dataclass(frozen=True, slots=True)
class HrStores:
    """What the HR services' mail reads and writes."""

    box: Mailbox
    logbook: SqliteHrDispatch
    accounts: SqliteAccounts
    timetable: SqliteTimetable
    agencies: SqliteAgencies


@dataclass(frozen=True, slots=True)
class Composed:
    recipients: tuple[str, ...]
    language: str
    subject: str
    body: str
    attachment: Attachment


class HrMailer:
    """The HR services' mail over ``stores``, in the academy's ``language`` from
    ``catalogues``; the agency report's table and the classes' words are ports."""

    def __init__(
        self, stores: HrStores, catalogues: Catalogues, language: str,
        clock: Callable[[], float], agency_table: AgencyTable,
        class_words: Callable[[Gettext], ClassWords], zone: str = DEFAULT_TIMEZONE,
    ) -> None:  # fmt: skip
        self._stores = stores
        self._catalogues = catalogues
        self._language = language
        self._clock = clock
        self._agency_table = agency_table
        self._class_words = class_words
        self._zone = zone

    # -- the job ---------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Queue the mails due now that are not queued yet; how many were queued."""
        box, logbook = self._stores.box, self._stores.logbook
        if not box.enabled:
            return 0
        now = datetime.fromtimestamp(self._clock(), UTC)
        due = [
            (rule.kind, month)
            for rule in logbook.schedule().values()
            if (month := due_month(rule, now, self._zone)) is not None
        ]
        if not due:
            return 0
        learners = self._stores.accounts.learners_with_agency()
        queued = 0
        for agency in self._stores.agencies.agencies(archived=False):
            for kind, month in due:
                key = scheduled_key(agency.id, kind, month)
                if logbook.logged(key):
                    continue
                try:
                    queued += self._queue(agency, kind, month, key, learners)
                except Exception:  # one agency's trouble keeps no other from its mail
                    log.exception("HR mail %s for agency %s could not be queued", key, agency.id)
        return queued

    def _queue(
        self, agency: Agency, kind: DispatchKind, month: str, key: str, learners: Sequence[User]
    ) -> int:
        mail = self.compose(agency, kind, month, learners)
        if mail is None:
            return 0
        # False when a run cut short after queuing it: logged now, never queued twice.
        self._stores.box.enqueue(
            key, mail.recipients, mail.language, mail.subject, mail.body, [mail.attachment]
        )
        made = self._stores.logbook.log(
            agency.id, kind, month, mail.recipients, key, DispatchReason.SCHEDULED,
            agency_name=agency.name,
        )  # fmt: skip
        return int(made is not None)

    # -- by hand ---------------------------------------------------------------------------------
    def send(
        self, agency: Agency, kind: DispatchKind, month: str, actor: Actor,
        reason: DispatchReason = DispatchReason.MANUAL,
    ) -> Dispatch:  # fmt: skip
        """Queue the mail of ``kind`` for ``month`` now, and log it with ``actor``. "Send now"
        for a month whose scheduled mail is not queued yet takes the scheduled key (the
        schedule then sends nothing more); every other mail by hand has a key of its own."""
        box, logbook = self._stores.box, self._stores.logbook
        if not box.enabled:
            raise HrMailRefused("mail_off")
        if not agency.contacts:
            raise HrMailRefused("no_contacts")
        mail = self.compose(agency, kind, month, self._stores.accounts.learners_with_agency())
        if mail is None:
            raise HrMailRefused("no_employees")
        key = scheduled_key(agency.id, kind, month)
        if reason is not DispatchReason.MANUAL or logbook.logged(key) or box.get(key) is not None:
            key = again_key(agency.id, kind, month, secrets.token_hex(6))
        box.enqueue(key, mail.recipients, mail.language, mail.subject, mail.body, [mail.attachment])
        made = logbook.log(agency.id, kind, month, mail.recipients, key, reason, actor, agency.name)
        assert made is not None  # a new key
        return made

    # -- the mail --------------------------------------------------------------------------------
    def compose(
        self, agency: Agency, kind: DispatchKind, month: str, learners: Sequence[User]
    ) -> Composed | None:
        """The mail of ``kind`` for ``month`` to ``agency``'s HR service, or None when it has
        no address or none of its learners is in a group."""
        if not agency.contacts:
            return None
        tt = self._stores.timetable
        own = [u for u in learners if u.agency and u.agency.casefold() == agency.name.casefold()]
        groups: dict[int, Group] = {}
        for u in own:
            groups.update((g.id, g) for g in tt.groups_of_member(u.id))
        if not groups:
            return None
        language = self._language
        _ = gettext_in(self._catalogues, language)
        bounds = calendar.month(month, self._zone)
        if kind is DispatchKind.TIMETABLE:
            table = self._timetable(_, agency, bounds, own, groups)
        else:
            # Only its groups' classes: the others hold none of its learners (and the register of
            # each is read once per agency, not the whole academy's month).
            classes = [
                c
                for c in tt.classes_between(bounds.start, bounds.end)
                if groups.keys() & set(c.group_ids)
            ]
            table = self._agency_table(
                _, bounds, own, classes, self._clock(), agency.name, language=language
            )
        catalogues = self._catalogues
        values = {"month": month_name(month, language), "agency": agency.name}
        return Composed(
            agency.contacts,
            language,
            translate(catalogues, language, SUBJECTS[kind], **values),
            translate(catalogues, language, BODIES[kind], **values),
            Attachment(
                translate(catalogues, language, FILES[kind], month=month),
                XLSX,
                to_xlsx(table, _("Timetable") if kind is DispatchKind.TIMETABLE else "Attendance"),
            ),
        )

    def _timetable(
        self,
        _: Gettext,
        agency: Agency,
        bounds: calendar.Month,
        own: Sequence[User],
        groups: dict[int, Group],
    ) -> Table:
        """The classes of ``groups`` in the month (not those cancelled; a make-up class only if
        it is one of ``own``'s), one row per class and group, each at its group's time."""
        tt = self._stores.timetable
        ids = {u.id for u in own}
        found: dict[int, LiveClass] = {}
        for gid in groups:
            for c in tt.classes_of_group(gid, bounds.start, bounds.end):
                if c.status is ClassStatus.CANCELLED:
                    continue
                if c.learner_ids and not ids.intersection(c.learner_ids):
                    continue
                found[c.id] = c
        teachers = self._stores.accounts.many(c.teacher_id for c in found.values())
        words = self._class_words(_)
        kinds, formats, statuses = words.kinds, words.formats, words.statuses
        rows: list[tuple[float, str, list[Cell]]] = []
        for c in found.values():
            for gid in c.group_ids:
                if (g := groups.get(gid)) is None:
                    continue
                tz = ZoneInfo(g.timezone)
                start, end = c.starts_at.astimezone(tz), c.ends_at.astimezone(tz)
                rows.append((c.starts_at.timestamp(), g.name, [
                    g.name, start.strftime("%Y-%m-%d"), start.strftime("%H:%M"),
                    end.strftime("%H:%M"), g.timezone, c.title, kinds[c.kind],
                    formats[c.format], teachers[c.teacher_id].full_name, statuses[c.status],
                ]))  # fmt: skip
        rows.sort(key=lambda r: (r[0], r[1].casefold()))
        return Table(
            title=_("Timetable of classes for {month}: {agency}")
            .replace("{month}", bounds.text)
            .replace("{agency}", agency.name),
            notes=(_("Times are in each group's time zone."),),
            header=[_(h) for h in TIMETABLE_HEADER],
            rows=[r[2] for r in rows],
            heads_title="",
        )


def class_words(_: Gettext) -> ClassWords:
    """The classes' kinds, formats and statuses as the pages word them."""
    return ClassWords(kind_labels(_), format_labels(_), class_status_labels(_))


# -- the mail on the pages, in the language of a gettext passed in -------------------------------
def kind_words(_: Gettext) -> dict[DispatchKind, str]:
    return {
        DispatchKind.TIMETABLE: _("Timetable of the coming month"),
        DispatchKind.ATTENDANCE: _("Attendance of the past month"),
    }


def refusal_words(_: Gettext, code: str) -> str:
    """Why a mail was not sent (``HrMailRefused.code``)."""
    return {
        "mail_off": _("E-mail is not set up: nothing is sent. Set SABAQ_SMTP_HOST and"
                      " SABAQ_SMTP_FROM (see the README)."),
        "no_contacts": _("The agency has no HR service's address: add one first."),
        "no_employees": _("None of the agency's learners is in a group: there is nothing to"
                          " send."),
    }[code]  # fmt: skip


def _at(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC)


def dispatch_rows(
    _: Gettext, dispatches: Sequence[Dispatch], mail_of: Callable[[str], Mail | None]
) -> list[dict[str, object]]:
    """An agency's mail log: each mail, when it was queued, where it stands in the outbox."""
    labels = kind_words(_)
    states = {MailState.PENDING: _("Waiting"), MailState.SENT: _("Sent"),
              MailState.FAILED: _("Not delivered")}  # fmt: skip
    rows: list[dict[str, object]] = []
    for d in dispatches:
        mail = mail_of(d.mail_key)
        rows.append({
            "d": d,
            "what": labels[d.kind],
            "queued": _at(d.at),
            "state": mail.state.value if mail else "",
            "status": states[mail.state] if mail else _("Not in the mail queue"),
            "done": _at(mail.sent_at or mail.failed_at) if mail else None,
            "error": mail.last_error if mail else "",
            "by": d.by_name or _("the schedule"),
        })  # fmt: skip
    return rows
