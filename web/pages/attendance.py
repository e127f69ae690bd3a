"""Who is in a class right now, pushed to the teacher's and staff's attendance page as the
ledger changes (Server-Sent Events: one-way, and the browser reconnects by itself)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from access.models import Role, User
from attendance import tables
from attendance.breakout import breakouts
from attendance.export import ChainHead, Table
from attendance.mark_forms import (
    MAX_REASON,
    MarkProblem,
    MarkRefused,
    correction_event,
    correction_of,
)
from attendance.marks import LearnerMark, Mark, MarkRules
from attendance.models import counts
from attendance.questions import answer_text, answers_of, option_label, questions
from attendance.register import class_register
from scheduler.models import LiveClass

from ..core import clock, keys, policy
from ..core.http import LANG_KEY, PageError, download, gettext_of, redirect, render, require_session
from ..core.i18n import format_time
from ..core.offload import in_worker
from .classes import class_view, class_zone

log = logging.getLogger("sabaq.web.views")
routes = web.RouteTableDef()


def _snapshot(request: web.Request, class_id: int) -> str:
    c = request.app[keys.TIMETABLE].get_class(class_id)
    now = attendance_now(request, c, mark_rules(request, c))
    lang = request.get(LANG_KEY, "en")
    zone = class_zone(request, c)

    def when(moment: datetime | None) -> str:
        return format_time(moment, zone, lang, "medium") if moment else ""

    doc = {
        "here_now": now["here_now"],
        "here_text": now["here_text"],
        "counts": {value: n for value, _label, n in now["counts"]},
        "rows": [
            {
                "user_id": r["user_id"],
                "mark": r["mark"],
                "mark_label": r["mark_label"],
                "here": r["still_here"],
                "joined": when(r["joined"]),
                "left": when(r["left"]),
                "minutes": r["minutes"],
                "answers": [f"{n}. {text} ({when(at)})" for n, text, at in r["answers"]],
                "moves": [f"{when(at)} {where}" for where, at in r["moves"]],
            }
            for r in now["rows"]
        ],
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


@routes.get("/classes/{class_id:\\d{1,18}}/attendance/live")
async def attendance_live(request: web.Request) -> web.StreamResponse:
    """The register as a stream of snapshots: one now, one after every change, and one at
    least every ``live_refresh_seconds`` (minutes present grow while nothing happens)."""
    c, _user = attendance_class(request)
    changes = request.app[keys.CHANGES]
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a proxy in front must not hold the stream back
        }
    )
    await resp.prepare(request)
    last = ""
    with contextlib.suppress(ConnectionResetError):
        while not changes.closing:
            seen = changes.version(c.id)
            snapshot = _snapshot(request, c.id)
            if snapshot != last:
                await resp.write(f"data: {snapshot}\n\n".encode())
                last = snapshot
            else:
                await resp.write(b": still here\n\n")  # finds a gone browser out
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(request.app[keys.SETTINGS].live_refresh_seconds):
                    await changes.wait(c.id, seen)
    return resp


OVERRIDERS = frozenset({Role.STAFF, Role.ADMIN})


def attendance_class(request: web.Request) -> tuple[LiveClass, User]:
    """The class whose attendance is asked for, and the user, if they may see it."""
    _ = gettext_of(request)
    user = require_session(request).user
    c = request.app[keys.TIMETABLE].get_class(int(request.match_info["class_id"]))
    if not policy.sees_register(request, user, c):
        raise PageError(
            403, _("Only the class's teacher and staff see its attendance."), "forbidden"
        )
    return c, user


def mark_rules(request: web.Request, c: LiveClass) -> MarkRules:
    """The thresholds the class is judged by: those in force when it was to end."""
    return request.app[keys.MARK_RULES].at(c.ends_at.timestamp())


def mark_definitions_note(request: web.Request, rules: MarkRules) -> str:
    """What "the end" and "away" mean in the definitions."""
    _ = gettext_of(request)
    return _(
        "The end of the class is when the teacher ended it, else its end in the timetable."
        " A lost connection back within {grace} seconds is not time away."
    ).replace("{grace}", f"{rules.grace_seconds:g}")


def mark_labels(request: web.Request) -> dict[Mark, str]:
    return tables.mark_labels(gettext_of(request))


def _marks(request: web.Request, c: LiveClass, rules: MarkRules) -> list[tuple[str, LearnerMark]]:
    """(name, mark) for every learner of the class, absentees included, by name."""
    marks = class_register(
        c, request.app[keys.LEDGER].events(c.id),
        timetable=request.app[keys.TIMETABLE], excuses=request.app[keys.EXCUSES],
        statuses=request.app[keys.ADMISSION], rules=rules, now=clock.now(request),
    )  # fmt: skip
    people = request.app[keys.ACCOUNTS].many(m.user_id for m in marks)
    named = [(people[m.user_id].full_name, m) for m in marks]
    return sorted(named, key=lambda nm: nm[0].casefold())


def _at(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def attendance_now(request: web.Request, c: LiveClass, rules: MarkRules) -> dict[str, Any]:
    """The class's register as it stands: a row per learner (who is in the class now, the mark
    so far, minutes), the count per mark, and how many are in the class now."""
    marks = _marks(request, c, rules)
    _ = gettext_of(request)
    labels = tables.mark_labels(_)
    asked = questions(request.app[keys.LEDGER].events(c.id))
    groups = breakouts(request.app[keys.LEDGER].events(c.id))
    yes_no = tables.yes_no_labels(_)
    rows = [
        {
            "user_id": m.user_id,
            "name": name,
            "mark": m.mark.value,
            "mark_label": labels[m.mark],
            "override": m.override,
            "joined": _at(m.first_joined),
            "left": _at(m.last_left),
            "still_here": bool(m.intervals) and m.last_left is None,
            "minutes": m.minutes if m.intervals else None,
            "answers": [
                (q.number, answer_text(q, a, yes_no), _at(a.at))
                for q, a in answers_of(m.user_id, asked)
            ],
            "moves": [(tables.where_to(_, mv), _at(mv.at)) for mv in groups.of(m.user_id)],
        }
        for name, m in marks
    ]
    per_mark = {k: sum(1 for _n, m in marks if m.mark is k) for k in Mark}
    here = sum(1 for r in rows if r["still_here"])
    ngettext = request.app[keys.CATALOGUES][request.get(LANG_KEY, "en")].ngettext
    return {
        "rows": rows,
        "counts": [(k.value, labels[k], per_mark[k]) for k in Mark],
        "questions": [
            {
                "number": q.number,
                "text": q.text,
                "anonymous": q.anonymous,
                "asked_at": _at(q.asked_at),
                "answered": q.how_many(),
                "tally": list(
                    zip(
                        [option_label(q, i, yes_no) for i in range(len(q.options))],
                        q.counts(),
                        strict=False,
                    )
                ),
            }
            for q in asked
        ],
        "breakouts": tables.breakout_summaries(_, groups, class_zone(request, c)),
        "here_now": here,
        "here_text": ngettext(
            "%(num)d student is in the class now", "%(num)d students are in the class now", here
        )
        % {"num": here},
    }


@routes.get("/classes/{class_id:\\d{1,18}}/attendance")
async def attendance_page(request: web.Request) -> web.Response:
    return await in_worker(request, _attendance_page)


def _attendance_page(request: web.Request) -> web.Response:
    c, user = attendance_class(request)
    rules = mark_rules(request, c)
    labels = mark_labels(request)
    return render(
        request,
        "attendance.html",
        {
            **class_view(request, c),
            **attendance_now(request, c, rules),
            "group_links": [(g, request.app[keys.TIMETABLE].group(g).name) for g in c.group_ids],
            "month": c.starts_at.astimezone(ZoneInfo(class_zone(request, c))).strftime("%Y-%m"),
            "mark_choices": [(k.value, label) for k, label in labels.items()],
            "can_override": user.role in OVERRIDERS,
            "definitions": [
                (k.value, labels[k], text)
                for k, text in tables.mark_definitions(gettext_of(request), rules)
            ],
            "definitions_note": mark_definitions_note(request, rules),
            "uncounted": uncounted_notice(request, c),
        },
    )


def uncounted_notice(request: web.Request, c: LiveClass) -> str:
    """Who has presence a class server reported after it was declared dead (it was cut off,
    not down): kept in the register, not counted — staff check and correct the marks."""
    ids = {
        le.event.user_id
        for le in request.app[keys.LEDGER].events(c.id)
        if le.event.user_id is not None and le.event.user_id > 0 and not counts(le.event.data)
    }
    if not ids:
        return ""
    _ = gettext_of(request)
    names = sorted(p.full_name for p in request.app[keys.ACCOUNTS].many(ids).values())
    return _(
        "A class server lost contact during the class; what it recorded afterwards about"
        " {names} was kept but not counted. Ask the teacher and correct their marks if they"
        " were in the class."
    ).replace("{names}", ", ".join(names))


@routes.post("/classes/{class_id:\\d{1,18}}/attendance/override")
async def attendance_override(request: web.Request) -> web.StreamResponse:
    """A staff member corrects a learner's mark, with a reason; recorded in the ledger."""
    _ = gettext_of(request)
    c, staff = attendance_class(request)
    if staff.role not in OVERRIDERS:
        raise PageError(403, _("Only staff correct attendance marks."), "forbidden")
    form = await request.post()
    try:
        fix = correction_of(
            str(form.get("user_id", "")),
            str(form.get("mark", "")),
            str(form.get("reason", "")),
            request.app[keys.TIMETABLE].learners(c),
        )
    except MarkRefused as exc:
        messages = {
            MarkProblem.CHOICE: _("Choose a student and a mark."),
            MarkProblem.NOT_IN_CLASS: _("This student is not in the class's groups."),
            MarkProblem.REASON: _(
                "Give the reason for the correction (at most {n} characters)."
            ).replace("{n}", str(MAX_REASON)),
        }
        raise PageError(400, messages[exc.problem], "bad_request") from None
    at = clock.now(request)
    request.app[keys.LEDGER].append(correction_event(c.id, fix, staff.id, staff.full_name, at))
    request.app[keys.CHANGES].notify(c.id)  # live registers show the correction at once
    log.info("class %s: staff %s set the mark of %s to %s", c.id, staff.id, fix.user_id, fix.mark)
    return redirect(f"/classes/{c.id}/attendance")


def attendance_table(request: web.Request, c: LiveClass) -> Table:
    view = class_view(request, c)
    ledger = request.app[keys.LEDGER]
    _ = gettext_of(request)
    return tables.class_table(
        _,
        c,
        teacher=view["teacher"],
        groups=view["groups"],
        zone=class_zone(request, c),
        named=_marks(request, c, mark_rules(request, c)),
        events=ledger.events(c.id),
        head=ChainHead(c.id, *ledger.chain_head(c.id)),
        heads_title=tables.heads_title(_),
    )


@routes.get("/classes/{class_id:\\d{1,18}}/attendance.{fmt:(csv|xlsx)}")
async def attendance_download(request: web.Request) -> web.Response:
    return await in_worker(request, _attendance_download)


def _attendance_download(request: web.Request) -> web.Response:
    c, _user = attendance_class(request)
    return download(attendance_table(request, c), f"attendance-{c.id}", request.match_info["fmt"])
