"""One full pass of the monthly guarantee over a realistic timetable.

``--groups`` active groups (four per teacher, 25 learners each), a year of classes: two live
lectures a week per group (Mondays and Thursdays, a teacher's four groups at different hours),
some in person. In a few groups (``--broken`` of them) every live class of some months was
cancelled, so the pass must plan there; the rest of the year is already settled. The pass looks
at ``--months`` months (the current one and those after it).

Rows: the pass as built (``Guarantee.run``: one query for every group's live classes over the
horizon), against a baseline that asks the timetable month by month per group
(``classes_of_group``, as a page would), both on copies of the same database, ``--runs`` runs
each after one warm-up. "First pass" repairs the broken months on a fresh copy; "steady pass"
is the next pass, with nothing to do.

    .venv/bin/python -m bench.guarantee --groups 1000 --months 12
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from control.database import connect
from scheduler.guarantee import SETTLING, Guarantee, GuaranteeRules
from scheduler.guarantee_months import months
from scheduler.models import ClassFormat, ClassStatus, Group, zone
from scheduler.sqlite_store import SqliteTimetable

TARGET = 1.0  # seconds for one full pass
NOW = datetime(2031, 1, 1, 3, 0, tzinfo=UTC)  # 08:00 on New Year's Day in Almaty


def title(_group: Group) -> str:
    return "Онлайн-занятие"


def build(groups: int, months_ahead: int, broken: int, seed: int) -> sqlite3.Connection:
    """The academy, written with plain SQL (setting up is not what is measured)."""
    rng = random.Random(seed)
    db = connect(":memory:")
    teachers = (groups + 3) // 4
    users = [(i, f"u{i}", f"User {i}", "teacher" if i <= teachers else "student", 0.0)
             for i in range(1, teachers + groups * 25 + 1)]  # fmt: skip
    db.executemany(
        "INSERT INTO users (id, login, full_name, role, created_at) VALUES (?, ?, ?, ?, ?)", users
    )
    db.execute("INSERT INTO institutes (id, name) VALUES (1, 'Институт')")
    db.execute("INSERT INTO departments (id, institute_id, name) VALUES (1, 1, 'Кафедра')")
    db.executemany(
        "INSERT INTO groups (id, name, department_id, language, timezone, active)"
        " VALUES (?, ?, 1, 'ru', 'Asia/Almaty', 1)",
        [(g, f"Г-{g}") for g in range(1, groups + 1)],
    )
    db.executemany(
        "INSERT INTO group_teachers (group_id, user_id) VALUES (?, ?)",
        [(g, (g - 1) // 4 + 1) for g in range(1, groups + 1)],
    )
    db.executemany(
        "INSERT INTO group_members (group_id, user_id) VALUES (?, ?)",
        [(g, teachers + (g - 1) * 25 + k + 1) for g in range(1, groups + 1) for k in range(25)],
    )
    tz = zone("Asia/Almaty")
    first_day = NOW.astimezone(tz).date()
    broken_groups = set(rng.sample(range(1, groups + 1), min(broken, groups)))
    classes, links = [], []
    cid = 0
    for g in range(1, groups + 1):
        slot = (g - 1) % 4  # the teacher's four groups at 09:00, 10:30, 12:00, 14:00
        hour, minute = [(9, 0), (10, 30), (12, 0), (14, 0)][slot]
        bad_months = set(rng.sample(range(months_ahead + 1), 2)) if g in broken_groups else set()
        for m, first in enumerate(months(first_day, months_ahead + 1)):
            day = first
            while day.month == first.month:
                if day.weekday() in (0, 3):
                    start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                    fmt = ClassFormat.IN_PERSON if rng.random() < 0.2 else ClassFormat.LIVE_ONLINE
                    status = ClassStatus.CANCELLED if m in bad_months else ClassStatus.PLANNED
                    cid += 1
                    classes.append((
                        cid, "Лекция", "lecture", fmt.value, (g - 1) // 4 + 1,
                        start.astimezone(UTC).isoformat(),
                        (start + timedelta(minutes=80)).astimezone(UTC).isoformat(), status.value,
                    ))  # fmt: skip
                    links.append((cid, g))
                day += timedelta(days=1)
    db.executemany(
        "INSERT INTO classes (id, title, kind, format, teacher_id, starts_at, ends_at, status)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        classes,
    )
    db.executemany("INSERT INTO class_groups (class_id, group_id) VALUES (?, ?)", links)
    db.commit()
    return db


def copy(db: sqlite3.Connection) -> sqlite3.Connection:
    out = connect(":memory:")
    db.backup(out)
    return out


def per_month_baseline(tt: SqliteTimetable, rules: GuaranteeRules, now: datetime) -> int:
    """The same decisions, reading each group-month through ``classes_of_group``; counts the
    group-months that lack a live class (it plans nothing: the reading is what differs)."""
    lacking = 0
    for group in tt.groups():
        tz = zone(group.timezone)
        for first in months(now.astimezone(tz).date(), rules.months_ahead + 1):
            start = datetime(first.year, first.month, 1, tzinfo=tz)
            end = datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=tz)
            found = [
                c
                for c in tt.classes_of_group(group.id, start, end)
                if c.format is ClassFormat.LIVE_ONLINE and c.status in SETTLING
            ]
            lacking += not found
    return lacking


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--broken", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rules = GuaranteeRules(months_ahead=args.months - 1, notice_days=2)
    t0 = time.perf_counter()
    base = build(args.groups, rules.months_ahead, args.broken, args.seed)
    count = base.execute("SELECT COUNT(*) FROM classes").fetchone()[0]
    print(
        f"# {args.groups} groups × {args.months} months, {count} classes,"
        f" {args.broken} groups with broken months; built in {time.perf_counter() - t0:.1f} s"
    )
    first: list[float] = []
    steady: list[float] = []
    baseline: list[float] = []
    planned = alerts = 0
    for run in range(args.runs + 1):
        db = copy(base)
        tt = SqliteTimetable(db)
        job = Guarantee(tt, rules, title)
        t = time.perf_counter()
        report = job.run(NOW)
        took = time.perf_counter() - t
        planned, alerts = len(report.planned), len(report.alerts)
        again = timed(lambda job=job: job.run(NOW))  # type: ignore[misc]
        plain = timed(lambda tt=tt: per_month_baseline(tt, rules, NOW))  # type: ignore[misc]
        db.close()
        if run:  # the first run warms up
            first.append(took)
            steady.append(again)
            baseline.append(plain)

    def row(name: str, xs: list[float]) -> list[str]:
        xs = sorted(xs)
        p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
        return [name, f"{statistics.median(xs) * 1000:.0f}", f"{p95 * 1000:.0f}"]

    table(
        ["pass", "p50 ms", "p95 ms"],
        [
            row("baseline: read month by month per group", baseline),
            row(f"first pass (plans {planned}, alerts {alerts})", first),
            row("steady pass (nothing to do)", steady),
        ],
    )
    verdict = (
        "meets" if max(statistics.median(first), statistics.median(steady)) < TARGET else "misses"
    )
    print(f"\n# target: one full pass < {TARGET:.0f} s — {verdict} it")


if __name__ == "__main__":
    main()
