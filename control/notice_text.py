"""A notice in words: its title, its text and where it leads, in the reader's language (the
notices page, and the e-mail sent of it). Moments are shown in the zone of the class's group."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from admission.notices import Notice, NoticeKind, Param
from scheduler.labels import zone_aside
from scheduler.models import DEFAULT_TIMEZONE


def _zone(name: Param) -> ZoneInfo:
    try:
        return ZoneInfo(str(name or DEFAULT_TIMEZONE))
    except (ValueError, KeyError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def _moment(value: Param, zone: ZoneInfo) -> datetime | None:
    if not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC).astimezone(zone)
    except (ValueError, OverflowError, OSError):  # not a moment a page can show
        return None


def when(_: Callable[[str], str], params: Mapping[str, Param], start: str = "starts_at") -> str:
    """A class's time as "07.12.2026 10:00–11:30 (Almaty time, UTC+5)", in its group's zone
    (named in the language of ``_``)."""
    zone = _zone(params.get("zone"))
    starts, ends = _moment(params.get(start), zone), _moment(params.get("ends_at"), zone)
    if starts is None:
        return ""
    span = f"{starts:%d.%m.%Y %H:%M}"
    if ends is not None and start == "starts_at":
        span += f"–{ends:%H:%M}"
    return f"{span} {zone_aside(_, zone.key, starts)}"


def _day(value: Param) -> str:
    try:
        return f"{date.fromisoformat(str(value)):%d.%m.%Y}"
    except ValueError:
        return str(value or "")


def render(notice: Notice, gettext: Callable[[str], str]) -> tuple[str, str, str]:
    """(title, body, link) of a notice; ``gettext`` is the reader's catalogue's."""
    _ = gettext
    p = dict(notice.params)
    k = notice.kind
    text = {
        "{title}": str(p.get("title") or ""),
        "{when}": when(_, p),
        "{was}": when(_, p, "was_starts_at"),
        "{guest}": str(p.get("guest") or ""),
        "{learner}": str(p.get("learner") or ""),
        "{group}": str(p.get("group") or ""),
        "{first}": _day(p.get("first_day")),
        "{last}": _day(p.get("last_day")),
    }
    words = str(p.get("reason" if k in _CLASS_KINDS else "comment") or "")
    if k is NoticeKind.CLASS_MOVED:
        title = _("Class moved: {title}")
        body = (
            _("The class of {group} now takes place on {when} (it was on {was}).")
            if text["{was}"]
            else _("The class of {group} now takes place on {when}.")
        )
    elif k is NoticeKind.CLASS_CANCELLED:
        title = _("Class cancelled: {title}")
        body = _("The class of {group} on {when} is cancelled.")
    elif k is NoticeKind.CLASS_SWITCHED_ONLINE:
        title = _("Class switched to live online: {title}")
        body = _("The class of {group} on {when} is held live online in Sabaq.")
    elif k is NoticeKind.GUEST_APPROVED:
        title = _("Guest lecturer approved: {guest}")
        body = _('The director approved the guest for the class "{title}" on {when}.')
    elif k is NoticeKind.GUEST_REFUSED:
        title = _("Guest lecturer refused: {guest}")
        body = _('The director refused the guest for the class "{title}" on {when}.')
    elif k is NoticeKind.GUEST_REVOKED:
        title = _("Guest lecturer's approval revoked: {guest}")
        body = _('The director revoked the approval for the class "{title}" on {when}.')
    elif k is NoticeKind.GUEST_WAITING:
        title = _("A guest request awaits your decision")
        body = _('{guest}, for the class "{title}" on {when}.')
        words = ""
    elif k is NoticeKind.EXCUSE_APPROVED:
        title = _("Your excuse request is approved")
        body = _("The days from {first} to {last} are excused.")
    elif k is NoticeKind.EXCUSE_REJECTED:
        title = _("Your excuse request is rejected")
        body = _("The request for the days from {first} to {last} is rejected.")
    else:  # NoticeKind.EXCUSE_WAITING
        title = _("An excuse request awaits your decision")
        body = _("{learner}, the days from {first} to {last}.")
        words = ""
    for key, value in text.items():
        title, body = title.replace(key, value), body.replace(key, value)
    if words:
        body += " " + (
            _("Reason: {reason}") if k in _CLASS_KINDS else _("Comment: {comment}")
        ).replace("{reason}", words).replace("{comment}", words)
    return title, body, link(notice)


_CLASS_KINDS = frozenset(
    {NoticeKind.CLASS_MOVED, NoticeKind.CLASS_CANCELLED, NoticeKind.CLASS_SWITCHED_ONLINE}
)


def link(notice: Notice) -> str:
    """Where the notice leads: the class, the guest request or the excuse request."""
    p = notice.params
    if notice.kind in _CLASS_KINDS:
        return f"/classes/{p.get('class_id')}"
    if notice.kind.value.startswith("guest_"):
        return f"/guests/{p.get('request_id')}"
    return f"/excuses/{p.get('request_id')}"
