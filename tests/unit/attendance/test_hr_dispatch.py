"""When the HR services' monthly mail is due and which month it covers: a day past a month's
end is its last day, December's timetable is January's of the next year, January's attendance
December's of the year before; the hour is the academy's."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from attendance.hr_dispatch import (
    DEFAULT_RULES,
    DispatchKind,
    DispatchRule,
    again_key,
    covered,
    due_moment,
    due_month,
    scheduled_key,
)

ALMATY = "Asia/Almaty"
TZ = ZoneInfo(ALMATY)
TIMETABLE, ATTENDANCE = DispatchKind.TIMETABLE, DispatchKind.ATTENDANCE


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def test_the_defaults_are_the_25th_and_the_3rd_at_ten() -> None:
    assert DEFAULT_RULES[TIMETABLE] == DispatchRule(TIMETABLE, 25, 10)
    assert DEFAULT_RULES[ATTENDANCE] == DispatchRule(ATTENDANCE, 3, 10)
    rule = DEFAULT_RULES[TIMETABLE]
    assert due_month(rule, at(2027, 4, 25, 9, 59), ALMATY) is None
    assert due_month(rule, at(2027, 4, 25, 10), ALMATY) == "2027-05"
    assert due_month(rule, at(2027, 4, 30, 23, 59), ALMATY) == "2027-05"  # due to the month's end
    assert due_month(rule, at(2027, 5, 1, 0), ALMATY) is None  # May's is due on May 25th
    assert due_month(DEFAULT_RULES[ATTENDANCE], at(2027, 4, 3, 10), ALMATY) == "2027-03"


def test_a_day_past_the_months_end_is_its_last_day() -> None:
    last = DispatchRule(TIMETABLE, 31, 10)
    assert due_moment(last, 2027, 4, ALMATY) == at(2027, 4, 30, 10).astimezone(UTC)
    assert due_moment(last, 2027, 2, ALMATY) == at(2027, 2, 28, 10).astimezone(UTC)
    assert due_moment(last, 2028, 2, ALMATY) == at(2028, 2, 29, 10).astimezone(UTC)  # leap
    assert due_moment(last, 2027, 3, ALMATY) == at(2027, 3, 31, 10).astimezone(UTC)
    assert due_month(last, at(2027, 4, 29, 23), ALMATY) is None
    assert due_month(last, at(2027, 4, 30, 10), ALMATY) == "2027-05"
    # The hour is the academy's: 10:00 in Almaty is 05:00 UTC.
    assert due_month(last, datetime(2027, 4, 30, 4, 59, tzinfo=UTC), ALMATY) is None
    assert due_month(last, datetime(2027, 4, 30, 5, 0, tzinfo=UTC), ALMATY) == "2027-05"


def test_the_year_turns_over_in_december_and_january() -> None:
    assert covered(TIMETABLE, 2026, 12) == "2027-01"
    assert covered(ATTENDANCE, 2027, 1) == "2026-12"
    assert due_month(DispatchRule(TIMETABLE, 31, 23), at(2026, 12, 31, 23, 30), ALMATY) == "2027-01"
    assert due_month(DEFAULT_RULES[ATTENDANCE], at(2027, 1, 3, 10), ALMATY) == "2026-12"
    # Late on New Year's Eve in Almaty it is still the 31st of December in UTC and in Almaty;
    # just after midnight in Almaty (still the 31st in UTC) it is January there.
    assert due_month(DEFAULT_RULES[TIMETABLE], at(2027, 1, 1, 0, 30), ALMATY) is None


def test_a_kind_switched_off_is_never_due_and_bad_rules_are_refused() -> None:
    assert (
        due_month(DispatchRule(TIMETABLE, 1, 0, enabled=False), at(2027, 4, 30, 23), ALMATY) is None
    )
    for day, hour in ((0, 10), (32, 10), (1, -1), (1, 24)):
        with pytest.raises(ValueError, match=r"1 to 31|0 to 23"):
            DispatchRule(TIMETABLE, day, hour)


def test_keys_one_per_agency_kind_and_month_and_a_new_one_by_hand() -> None:
    assert scheduled_key(7, TIMETABLE, "2027-05") == "hr:7:timetable:2027-05"
    assert again_key(7, TIMETABLE, "2027-05", "ab12") == "hr:7:timetable:2027-05:again:ab12"
    assert scheduled_key(7, ATTENDANCE, "2027-05") != scheduled_key(7, TIMETABLE, "2027-05")
