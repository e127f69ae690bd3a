"""Domain errors carry a code and their values; one table in web turns them into a status and a
message in the reader's language; no code reads an error's English text."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from admission.errors import DisciplineNotNamed
from admission.status import discipline_named
from scheduler.errors import (
    ClassNotFound,
    ClassTooLong,
    EndsBeforeStart,
    GroupNotFound,
    NoWeekdays,
    PlannedInPast,
    RuleEndsBeforeStart,
    SchedulerError,
    TooManyOccurrences,
)
from scheduler.models import LONGEST_CLASS, ClassKind
from scheduler.recurrence import MAX_OCCURRENCES, local_span, weekly
from scheduler.timing import check_to_come
from web.core.errors import message_of, status_of
from web.core.i18n import load_catalogues

ROOT = Path(__file__).resolve().parents[3]
ALMATY = "Asia/Almaty"
MONDAY = date(2026, 3, 2)


def test_a_plan_against_the_rules_is_refused_by_a_typed_error_with_its_values() -> None:
    with pytest.raises(EndsBeforeStart) as ends:
        local_span(MONDAY, time(11), time(10), ALMATY)
    with pytest.raises(ClassTooLong) as long:
        local_span(MONDAY, time(7), time(19, 30), ALMATY)
    with pytest.raises(RuleEndsBeforeStart) as rule:
        weekly(MONDAY, MONDAY - timedelta(days=1), [0], time(10), time(11), ALMATY)
    with pytest.raises(NoWeekdays) as days:
        weekly(MONDAY, MONDAY + timedelta(days=30), [7], time(10), time(11), ALMATY)
    with pytest.raises(TooManyOccurrences) as many:
        weekly(date(2026, 1, 1), date(2029, 1, 1), [0, 1, 2, 3, 4], time(10), time(11), ALMATY)
    assert long.value.longest == LONGEST_CLASS and many.value.limit == MAX_OCCURRENCES
    codes = [e.value.code for e in (ends, long, rule, days, many)]
    assert codes == [
        "ends_before_start",
        "class_too_long",
        "rule_ends_before_start",
        "no_weekdays",
        "too_many_occurrences",
    ]
    # A bad value given: callers that catch ValueError still do.
    assert all(isinstance(e.value, SchedulerError | ValueError) for e in (ends, long, many))


def test_classes_are_planned_for_a_time_to_come() -> None:
    now = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    check_to_come(now + timedelta(minutes=1), now)
    for starts in (now, now - timedelta(seconds=1), now - timedelta(days=400)):
        with pytest.raises(PlannedInPast) as past:
            check_to_come(starts, now)
        assert past.value.code == "planned_in_past"
        assert (past.value.starts_at, past.value.now) == (starts, now)


def test_a_control_names_one_of_the_programmes_disciplines() -> None:
    names = ("Гражданское право", "Уголовное право")
    for kind in (ClassKind.MIDTERM_CONTROL, ClassKind.EXAM):
        assert discipline_named(kind, " уголовное ПРАВО ", "Уголовное право", ()) == (
            "Уголовное право"
        )
        with pytest.raises(DisciplineNotNamed) as none:
            discipline_named(kind, "Право", None, names)
        assert none.value.code == "discipline_not_named" and none.value.names == names
        assert discipline_named(kind, "", None, ()) == ""  # a programme with no disciplines
    assert discipline_named(ClassKind.LECTURE, "Право", None, names) == "Право"


@pytest.mark.parametrize(
    ("error", "en", "ru"),
    [
        (EndsBeforeStart(), "The class must end after it starts.", "Занятие должно"),
        (ClassTooLong(LONGEST_CLASS), "A class lasts at most 12 hours.", "12 часов"),
        (RuleEndsBeforeStart(), "The last day of the rule comes after the first.", "Последний"),
        (NoWeekdays(), "Choose the days of the week.", "дни недели"),
        (TooManyOccurrences(400), "A rule makes at most 400 classes.", "400"),
        (
            PlannedInPast(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)),
            "Classes are planned for a time to come.",
            "",
        ),
        (
            DisciplineNotNamed(("Гражданское право", "Уголовное право")),
            "A midterm control or an exam names one of the programme's disciplines:"
            " Гражданское право, Уголовное право.",
            "Гражданское право, Уголовное право",
        ),
    ],
)
def test_the_table_answers_each_code_with_a_status_and_a_translated_message(
    error: Exception, en: str, ru: str
) -> None:
    cats = load_catalogues()
    assert status_of(error) == 400
    assert message_of(cats["en"].gettext, error) == en
    for lang in ("ru", "kk"):
        translated = message_of(cats[lang].gettext, error)
        assert translated != en and "{" not in translated, (lang, translated)
    assert ru in message_of(cats["ru"].gettext, error)


@pytest.mark.parametrize("error", [ClassNotFound("No class 7"), GroupNotFound("No group 7")])
def test_a_class_or_group_not_found_is_a_404_in_the_readers_words(error: Exception) -> None:
    cats = load_catalogues()
    assert status_of(error) == 404
    assert message_of(cats["en"].gettext, error) == "There is no such class or group."
    assert message_of(cats["ru"].gettext, error) == "Такого занятия или группы нет."


def test_an_error_without_a_code_is_not_in_the_table() -> None:
    with pytest.raises(TypeError):
        status_of(ValueError("A class lasts at most 12 hours"))


def test_no_code_matches_an_errors_text() -> None:
    """Errors cross layers by their type and code, never by their English words."""
    text_match = re.compile(
        r"""["'][^"'\n]*["']\s+(not\s+)?in\s+(str\((exc|e|error)\)|(text|message|msg)\b)"""
        r"""|\.args\[0\]"""
    )
    redis_replies = ("NOGROUP", "BUSYGROUP")  # the Redis server's replies, not our errors
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for package in ("web", "access", "admission", "attendance", "scheduler", "streaming")
        for path in sorted((ROOT / package).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if text_match.search(line) and not any(r in line for r in redis_replies)
    ]
    assert not found, found
