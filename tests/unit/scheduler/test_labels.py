"""A month and a time zone as people read them (issue 20): the month's name in the reader's
language, and the zone by its city's name with its offset from UTC at the moment shown, not as
"2026-12" and "Asia/Almaty"."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from scheduler.labels import month_name, utc_offset, zone_aside, zone_name
from web.core.i18n import load_catalogues

CATALOGUES = load_catalogues()
WINTER = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SUMMER = datetime(2027, 7, 7, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("language", "name"),
    [("kk", "2026\u202fж. желтоқсан"), ("ru", "декабрь 2026\u202fг."), ("en", "December 2026")],
)
def test_a_month_is_named_in_the_reader_s_language(language: str, name: str) -> None:
    assert month_name("2026-12", language) == name
    assert month_name(date(2026, 12, 31), language) == name  # any day of it


@pytest.mark.parametrize(
    ("language", "almaty", "oral"),
    [
        ("kk", "Алматы уақыты (UTC+5)", "Орал уақыты (UTC+5)"),
        ("ru", "время Алматы (UTC+5)", "время Уральска (UTC+5)"),
        ("en", "Almaty time (UTC+5)", "Oral time (UTC+5)"),
    ],
)
def test_kazakhstan_s_zones_are_named_by_their_cities(
    language: str, almaty: str, oral: str
) -> None:
    _ = CATALOGUES[language].gettext
    assert zone_name(_, "Asia/Almaty", WINTER) == almaty
    assert zone_name(_, "Asia/Oral", WINTER) == oral
    for zone in ("Asia/Qostanay", "Asia/Aqtobe", "Asia/Aqtau", "Asia/Atyrau", "Asia/Qyzylorda"):
        named = zone_name(_, zone, WINTER)
        assert "/" not in named and named.endswith(" (UTC+5)"), named


def test_another_zone_keeps_its_id_with_its_offset_on_the_day_shown() -> None:
    _ = CATALOGUES["ru"].gettext
    assert zone_name(_, "Europe/Berlin", WINTER) == "Europe/Berlin (UTC+1)"
    assert zone_name(_, "Europe/Berlin", SUMMER) == "Europe/Berlin (UTC+2)"  # summer time
    assert zone_name(_, "No/Such_Zone", WINTER) == "No/Such_Zone"  # never a crash
    assert utc_offset("UTC", WINTER) == "UTC"
    assert utc_offset("Asia/Kolkata", WINTER) == "UTC+5:30"
    assert utc_offset("America/Sao_Paulo", WINTER) == "UTC-3"


def test_after_a_time_the_zone_is_one_aside() -> None:
    _ = CATALOGUES["kk"].gettext
    assert zone_aside(_, "Asia/Almaty", WINTER) == "(Алматы уақыты, UTC+5)"
    assert zone_aside(_, "No/Such_Zone", WINTER) == "(No/Such_Zone)"
