"""Calendar feeds (iCalendar) of the timetable, free of HTTP: the secret in a feed's URL, a
group's or a teacher's classes as events that follow the timetable (a moved class keeps its UID
with a higher SEQUENCE, a cancelled one stays as CANCELLED), and the academy's non-working days
as all-day events. Words come in already in the reader's language."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar, Event

from .models import ClassFormat, ClassKind, ClassStatus, LiveClass, TimetableAction, TimetableChange

PAST = timedelta(days=62)  # how far back a feed reaches
AHEAD = timedelta(days=400)


def feed_token(secret: bytes, kind: str, ident: int) -> str:
    """The secret part of a feed's URL: derived from the server's key, 128 bits."""
    mac = hmac.new(secret, f"ical:{kind}:{ident}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def _calendar(prodid: str, name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", prodid)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    return cal


def classes_ics(
    name: str,
    zone: str,
    classes: Sequence[LiveClass],
    *,
    now: datetime,
    base: str,
    changes: Callable[[int], Sequence[TimetableChange]],
    group_name: Callable[[int], str],
    teachers: Mapping[int, str],
    kinds: Mapping[ClassKind, str],
    formats: Mapping[ClassFormat, str],
) -> bytes:
    """The feed: one VEVENT per class, UTC times, the class page under ``base`` as its URL
    (``changes``: a class's log, newest first; ``teachers``: names by id)."""
    cal = _calendar("-//Sabaq//Timetable//EN", name)
    cal.add("x-wr-timezone", zone)
    for c in classes:
        log = changes(c.id)
        event = Event()
        event.add("uid", f"class-{c.id}@sabaq")
        event.add("dtstamp", now)
        event.add("dtstart", c.starts_at)
        event.add("dtend", c.ends_at)
        event.add("summary", c.title)
        # Each move, cancellation or switch is a new version of the event for calendar apps.
        event.add("sequence", sum(ch.action is not TimetableAction.PLANNED for ch in log))
        if log:
            event.add("last-modified", datetime.fromtimestamp(log[0].at, UTC))
        groups = ", ".join(group_name(g) for g in c.group_ids)
        teacher = teachers.get(c.teacher_id, "")
        event.add(
            "description",
            f"{kinds[c.kind]} · {formats[c.format]} · {teacher} · {groups}",
        )
        if c.format is ClassFormat.LIVE_ONLINE:
            event.add("url", f"{base}/classes/{c.id}")
            event.add("location", f"{base}/classes/{c.id}")
        else:
            event.add("location", formats[c.format])
        event.add("status", "CANCELLED" if c.status is ClassStatus.CANCELLED else "CONFIRMED")
        cal.add_component(event)
    return bytes(cal.to_ical())


def days_off_ics(name: str, days: Iterable[tuple[date, str]], now: datetime) -> bytes:
    """The non-working ``days`` (each with its name) as all-day events."""
    cal = _calendar("-//Sabaq//Academy calendar//EN", name)
    for day, day_name in days:
        event = Event()
        event.add("uid", f"day-off-{day:%Y%m%d}@sabaq")
        event.add("dtstamp", now)
        event.add("dtstart", day)
        event.add("dtend", day + timedelta(days=1))
        event.add("summary", day_name)
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    return bytes(cal.to_ical())
