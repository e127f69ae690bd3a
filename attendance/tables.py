"""The attendance reports as tables (``attendance.export.Table``), in the language of a gettext
function the caller passes in: a class's register, a group's month (learner × class), a
learner's history, and the cells they share (marks, totals, answers, breakout moves). Free of
HTTP and storage: the caller reads the register and the ledger's chain heads."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from access.models import User
from scheduler.calendar import Month
from scheduler.labels import month_name, zone_name
from scheduler.models import Group, LiveClass

from .breakout import Breakouts, Move, breakouts
from .export import Cell, ChainHead, Table
from .introduction import Step
from .marks import LearnerMark, Mark, MarkRules
from .models import LedgerEvent
from .questions import AskedQuestion, answer_text, answers_of, option_label, questions
from .reports import ClassSlot, Totals, by_learner, history, matrix

Gettext = Callable[[str], str]


def heads_title(_: Gettext) -> str:
    """The heading of the chain heads a report carries (on its page and in its files)."""
    return _("Fingerprints of the attendance register this report was made from")


def heads_explained(_: Gettext) -> str:
    """What the chain heads are for, in the words of a person who reads the report, not of one
    at the server's shell (``sabaq verify --report``: the README's operators' part)."""
    return _(
        "The attendance register cannot be changed unnoticed: each class's entries are sealed"
        " in a chain, and these are the chains' last links. Every downloaded file of this report"
        " (CSV, Excel) carries them too: keep it, and the system administrator can confirm at"
        " any time that the register still agrees with it."
    )


def zone_note(_: Gettext, zone: str, at: datetime) -> str:
    """The note under a table of times: the zone they are in, by name (``zone_name``)."""
    return _("Time zone: {zone}.").replace("{zone}", zone_name(_, zone, at))


def mark_labels(_: Gettext) -> dict[Mark, str]:
    """The marks' names in the language of ``_`` (a page, a mail, a file made off a request)."""
    return {
        Mark.PRESENT: _("present"),
        Mark.LATE: _("late"),
        Mark.LEFT_EARLY: _("left early"),
        Mark.ABSENT: _("absent"),
        Mark.EXCUSED: _("excused"),
        Mark.NOT_ADMITTED: _("not admitted"),
    }


def mark_definitions(_: Gettext, rules: MarkRules) -> list[tuple[Mark, str]]:
    """What each mark means, by what the person did, with the thresholds ``rules`` give
    (as ``attendance.marks`` derives them), in the language of ``_``."""
    minutes = f"{rules.late_after_seconds / 60:g}"
    grace = f"{rules.grace_seconds:g}"
    # With its sign: "{percent}% of" in a message reads to Babel as a Python format ("% o").
    away = f"{round((1 - rules.present_share) * 100, 1):g}%"
    return [
        (
            Mark.PRESENT,
            _(
                "came in within {minutes} minutes of the start, stayed to the end and was not"
                " away for long."
            ).replace("{minutes}", minutes),
        ),
        (
            Mark.LATE,
            _("first came in more than {minutes} minutes after the start.").replace(
                "{minutes}", minutes
            ),
        ),
        (
            Mark.LEFT_EARLY,
            _(
                "came in on time, but left more than {grace} seconds before the end, or was"
                " away for more than {percent} of the class in all."
            )
            .replace("{grace}", grace)
            .replace("{percent}", away),
        ),
        (Mark.ABSENT, _("never came in.")),
        (Mark.EXCUSED, _("an approved excuse request covers the class.")),
        (Mark.NOT_ADMITTED, _("kept out of the class by their admission status; not an absence.")),
    ]


def yes_no_labels(_: Gettext) -> dict[str, str]:
    """A yes/no question's options in the reader's language."""
    return {"yes": _("Yes"), "no": _("No")}


def question_summary(_: Gettext, q: AskedQuestion) -> str:
    """One line on a question: its number, text, kind, and the tally."""
    labels = yes_no_labels(_)
    counts_ = q.counts()
    tally = ", ".join(
        f"{option_label(q, i, labels)}: {counts_[i] if i < len(counts_) else 0}"
        for i in range(len(q.options))
    )
    kind = _("anonymous") if q.anonymous else _("named")
    return (
        _("Question {n} ({kind}): {text} — {tally}; answered: {count}")
        .replace("{n}", str(q.number))
        .replace("{kind}", kind)
        .replace("{text}", q.text)
        .replace("{tally}", tally)
        .replace("{count}", str(q.how_many()))
    )


def learner_answers(_: Gettext, user_id: int, asked: list[AskedQuestion], zone: str) -> str:
    """A learner's answers to the class's named questions, as one cell: "1. text: answer
    (time)"; an anonymous question has none."""
    labels, tz = yes_no_labels(_), ZoneInfo(zone)
    return "; ".join(
        f"{q.number}. {q.text}: {answer_text(q, a, labels)}"
        f" ({datetime.fromtimestamp(a.at, tz).strftime('%H:%M:%S')})"
        for q, a in answers_of(user_id, asked)
    )


def where_to(_: Gettext, move: Move) -> str:
    """Where a move took a learner: a breakout group (numbered from 1) or the main room."""
    if move.group is None:
        return _("main room")
    return _("group {n}").replace("{n}", str(move.group + 1))


def learner_moves(_: Gettext, user_id: int, groups: Breakouts, zone: str) -> str:
    """A learner's moves between the breakout groups and the main room, as one cell:
    "10:05:00 group 2; 10:20:00 main room"."""
    tz = ZoneInfo(zone)
    return "; ".join(
        f"{datetime.fromtimestamp(m.at, tz).strftime('%H:%M:%S')} {where_to(_, m)}"
        for m in groups.of(user_id)
    )


def breakout_summaries(_: Gettext, groups: Breakouts, zone: str) -> list[str]:
    """One line per opening of breakout groups: how many, when, and how they closed."""
    tz = ZoneInfo(zone)

    def local(ts: float | None) -> str:
        return datetime.fromtimestamp(ts, tz).strftime("%H:%M:%S") if ts is not None else "…"

    closed_by = {
        "timer": _("closed when the time was over"),
        "teacher": _("closed by the teacher"),
        "class_ended": _("closed with the end of the class"),
    }
    return [
        _("Breakout groups {n}: {count} groups, {start}–{end}, {how}")
        .replace("{n}", str(s.number))
        .replace("{count}", str(s.groups))
        .replace("{start}", local(s.opened_at))
        .replace("{end}", local(s.closed_at))
        .replace("{how}", closed_by.get(s.reason or "", _("closed")) if s.closed_at else _("open"))
        for s in groups.sessions
    ]


def total_header(_: Gettext) -> list[str]:
    """The headings of the totals a report gives per learner."""
    labels = mark_labels(_)
    return [
        _("Classes"),
        *(labels[m] for m in Mark),
        _("Attended, %"),
        _("Minutes present"),
    ]


def total_cells(t: Totals) -> list[Cell]:
    return [
        t.classes,
        *(t.counts.get(m, 0) for m in Mark),
        t.percent if t.percent is not None else "",
        t.minutes,
    ]


def local(ts: float | None, zone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime(fmt)


def class_table(
    _: Gettext,
    c: LiveClass,
    *,
    teacher: str,
    groups: Sequence[str],
    zone: str,
    named: Sequence[tuple[str, LearnerMark]],
    events: Sequence[LedgerEvent],
    head: ChainHead,
    heads_title: str,
) -> Table:
    """A class's register: a row per learner (``named``: name and mark, in order), with their
    answers and breakout moves when the class had any."""
    labels = mark_labels(_)

    def at(ts: float | None) -> str:
        return local(ts, zone, "%Y-%m-%d %H:%M:%S")

    asked = questions(events)
    moves = breakouts(events)
    rows: list[list[Cell]] = [
        [
            name,
            labels[m.mark],
            at(m.first_joined),
            at(m.last_left),
            m.minutes if m.intervals else 0,
            m.override.reason if m.override else "",
            *([learner_answers(_, m.user_id, asked, zone)] if asked else []),
            *([learner_moves(_, m.user_id, moves, zone)] if moves.sessions else []),
        ]
        for name, m in named
    ]
    return Table(
        title=_("Attendance: {title}").replace("{title}", c.title),
        notes=(
            _("Teacher: {name}").replace("{name}", teacher),
            _("Groups: {names}").replace("{names}", ", ".join(groups)),
            _("Class start: {time}").replace("{time}", at(c.starts_at.timestamp())),
            zone_note(_, zone, c.starts_at),
            *(question_summary(_, q) for q in asked),
            *breakout_summaries(_, moves, zone),
        ),
        header=[
            _("Student"),
            _("Mark"),
            _("Joined"),
            _("Left"),
            _("Minutes present"),
            _("Correction reason"),
            *([_("Answers to quick questions")] if asked else []),
            *([_("Breakout groups")] if moves.sessions else []),
        ],
        rows=rows,
        heads=[head],
        heads_title=heads_title,
    )


def group_month_table(
    _: Gettext,
    group: Group,
    month: Month,
    names: Mapping[int, str],
    slots: Sequence[ClassSlot],
    marks: Mapping[int, Mapping[int, LearnerMark]],
    *,
    notes: Sequence[str],
    heads: Sequence[ChainHead],
    heads_title: str,
    language: str,
) -> tuple[Table, list[list[str]]]:
    """A group's month, learner × class with totals, the learners (``names``) in their order;
    with the mark of each cell per row (for colour). ``notes``: what the marks mean;
    ``language``: the one of ``_`` (the month is named in it)."""
    labels = mark_labels(_)
    rows: list[list[Cell]] = []
    row_marks: list[list[str]] = []
    for r in matrix(list(names), slots, marks):
        rows.append(
            [
                names[r.user_id],
                *(labels[m.mark] if m else "" for m in r.cells),
                *total_cells(r.totals),
            ]
        )
        row_marks.append(["", *(m.mark.value if m else "" for m in r.cells)])
    header = [
        _("Student"),
        *(f"{local(s.starts_at, group.timezone, '%d.%m %H:%M')} {s.title}" for s in slots),
        *total_header(_),
    ]
    table = Table(
        title=_("Attendance of group {group} for {month}")
        .replace("{group}", group.name)
        .replace("{month}", month_name(month.text, language)),
        notes=(zone_note(_, group.timezone, month.start), *notes),
        header=header,
        rows=rows,
        heads=list(heads),
        heads_title=heads_title,
    )
    return table, row_marks


def agency_table(
    _: Gettext,
    month: Month,
    learners: Sequence[User],
    totals: Mapping[int, Totals],
    groups_of: Callable[[int], Sequence[Group]],
    *,
    only: str,
    zone: str,
    notes: Sequence[str],
    heads: Sequence[ChainHead],
    heads_title: str,
    language: str,
) -> Table:
    """The attendance of ``learners`` (each with their agency, their groups) in ``month``,
    totals per learner; ``only``: the one agency it is for, if it is for one; ``language``: the
    one of ``_`` (the month is named in it)."""
    rows: list[list[Cell]] = []
    for u in learners:
        groups = ", ".join(g.name for g in groups_of(u.id))
        rows.append([u.agency, u.full_name, groups, *total_cells(totals.get(u.id, Totals()))])
    title = _("Attendance by agency for {month}").replace(
        "{month}", month_name(month.text, language)
    )
    if only:
        title += f" — {only}"
    return Table(
        title=title,
        notes=(zone_note(_, zone, month.start), *notes),
        header=[_("Agency"), _("Student"), _("Groups"), *total_header(_)],
        rows=rows,
        heads=list(heads),
        heads_title=heads_title,
    )


def introduction_note(_: Gettext, taken: Mapping[Step, float], zone: str) -> str:
    """The introduction (clause 5): when each step was first taken, in ``zone``."""
    intro = _("Introduction: device check {check}; tour of the class page {tour}")
    for step in Step:
        when = local(taken.get(step), zone)
        intro = intro.replace(
            "{" + step.value + "}",
            _("taken {time}").replace("{time}", when) if when else _("not taken"),
        )
    return intro


def learner_history_table(
    _: Gettext,
    learner: User,
    groups: Sequence[Group],
    slots: Sequence[ClassSlot],
    marks: Mapping[int, Mapping[int, LearnerMark]],
    *,
    events: Mapping[int, Sequence[LedgerEvent]],
    zones: Mapping[int, str],
    teachers: Mapping[int, str],
    introduction: str,
    notes: Sequence[str],
    heads: Sequence[ChainHead],
    heads_title: str,
) -> tuple[Table, list[list[str]]]:
    """A learner's history (the digital footprint): a row per class they were to attend, in
    the class's zone (``zones``), its teacher's name (``teachers``), with the mark of each row
    (for colour). ``notes``: what the marks mean."""
    labels = mark_labels(_)
    rows: list[list[Cell]] = []
    row_marks: list[list[str]] = []
    for slot, m in history(learner.id, slots, marks):
        z = zones[slot.id]
        rows.append(
            [
                local(slot.starts_at, z),
                slot.title,
                teachers[slot.id],
                labels[m.mark],
                local(m.first_joined, z, "%H:%M:%S"),
                local(m.last_left, z, "%H:%M:%S"),
                m.minutes if m.intervals else 0,
                m.override.reason if m.override else "",
                learner_answers(_, learner.id, questions(events.get(slot.id, ())), z),
                learner_moves(_, learner.id, breakouts(events.get(slot.id, ())), z),
            ]
        )
        row_marks.append(["", "", "", m.mark.value])
    t = by_learner(marks).get(learner.id, Totals())
    summary = ", ".join(f"{h}: {v}" for h, v in zip(total_header(_), total_cells(t), strict=True))
    table = Table(
        title=_("Attendance history of {name}").replace("{name}", learner.full_name),
        notes=(
            _("Groups: {names}").replace("{names}", ", ".join(g.name for g in groups)),
            *([_("Agency: {name}").replace("{name}", learner.agency)] if learner.agency else []),
            summary,
            introduction,
            _("Times are in each group's time zone."),
            *notes,
        ),
        header=[
            _("Class start"),
            _("Class"),
            _("Teacher"),
            _("Mark"),
            _("Joined"),
            _("Left"),
            _("Minutes present"),
            _("Correction reason"),
            _("Answers to quick questions"),
            _("Breakout groups"),
        ],
        rows=rows,
        heads=list(heads),
        heads_title=heads_title,
    )
    return table, row_marks
