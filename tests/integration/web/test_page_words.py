"""What a new user's walk read on the pages outside the live class (issue 20): a report's
month as "2026-12", a shell command ("sabaq verify --report ...") told to staff, the raw zone id
"Asia/Almaty", and the same day as "07.12.26" in Kazakh but "07.12.2026" in Russian. Each page
now says it as a person reads it, in their language."""

from __future__ import annotations

import html as html_lib
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer

from attendance.tables import heads_explained
from scheduler.models import DEFAULT_TIMEZONE
from tests.conftest import Academy, Client, SignIn
from web.core import keys
from web.core.http import LANG_COOKIE

# CLDR keeps "2026 ж." and "2026 г." together with a narrow no-break space.
MONTHS = {"kk": "2026\u202fж. желтоқсан", "ru": "декабрь 2026\u202fг.", "en": "December 2026"}
ZONES = {"kk": "Алматы уақыты (UTC+5)", "ru": "время Алматы (UTC+5)", "en": "Almaty time (UTC+5)"}
TAGS = re.compile(r"<script\b.*?</script>|<style\b.*?</style>|<[^>]+>", re.S)


def reading(client: Client, served: TestServer, language: str) -> Client:
    client.session.cookie_jar.update_cookies({LANG_COOKIE: language}, served.make_url("/"))
    return client


def text_of(page: str) -> str:
    """What the page shows: its text without tags, scripts (the room's configuration) or
    attributes, entities decoded, spaces joined."""
    return " ".join(html_lib.unescape(TAGS.sub(" ", page)).split())


async def shown(client: Client, path: str) -> tuple[str, str]:
    resp = await client.get(path)
    page = await resp.text()
    assert resp.status == 200, (path, page[:500])
    return page, text_of(page)


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
async def test_a_report_names_its_month_in_the_reader_s_language(
    served: TestServer, academy: Academy, sign_in: SignIn, language: str
) -> None:
    staff = reading(sign_in(academy.staff_id), served, language)
    for path in (f"/reports/groups/{academy.group_id}", "/reports/agencies"):
        page, _text = await shown(staff, f"{path}?month=2026-12")
        heading = re.search(r"<h1>(.*?)</h1>", page, re.S)
        assert heading is not None
        title = html_lib.unescape(heading.group(1))
        assert MONTHS[language] in title and "2026-12" not in title, title
        assert MONTHS[language] in html_lib.unescape(page.split("<title>")[1].split("</title>")[0])


@pytest.mark.parametrize("language", ["kk", "ru"])
async def test_staff_read_what_the_register_s_fingerprints_are_for_not_a_shell_command(
    served: TestServer, academy: Academy, sign_in: SignIn, language: str
) -> None:
    staff = reading(sign_in(academy.staff_id), served, language)
    _ = served.app[keys.CATALOGUES][language].gettext
    learner = academy.student_ids[0]
    for path in (
        f"/reports/groups/{academy.group_id}",
        f"/reports/learners/{learner}",
        "/reports/agencies",
    ):
        _page, text = await shown(staff, path)
        assert "sabaq" not in text.replace("Sabaq", ""), path  # no command, no "--report FILE"
        assert " ".join(heads_explained(_).split()) in text, path
    # The files staff download say it in words too (their chain heads still marked for the
    # operators' ``sabaq verify --report``).
    for path in (f"/reports/groups/{academy.group_id}.csv", "/reports/agencies.csv"):
        body = (await staff.get(path)).content
        assert "verify" not in (await body.read()).decode("utf-8-sig"), path


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
async def test_the_time_zone_is_shown_by_its_name_and_offset_not_its_id(
    served: TestServer, academy: Academy, sign_in: SignIn, language: str
) -> None:
    g, c = academy.group_id, academy.class_id
    staff = reading(sign_in(academy.staff_id), served, language)
    teacher = reading(sign_in(academy.teacher_id), served, language)
    for client, path in (
        (staff, f"/timetable/groups/{g}"),
        (staff, f"/timetable/classes/{c}"),
        (staff, "/groups"),
        (staff, f"/groups/{g}"),
        (staff, f"/reports/groups/{g}"),
        (staff, "/reports/agencies"),
        (staff, "/agencies"),
        (staff, "/audit"),
        (teacher, f"/classes/{c}/attendance"),
    ):
        _page, text = await shown(client, path)
        assert DEFAULT_TIMEZONE not in text, (path, text)
        assert ZONES[language] in text, (path, text)


async def test_a_day_and_time_read_the_same_in_every_language(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """One pattern, a four-digit year, whichever language the page is in (Babel's "short"
    gave "07.12.26" in Kazakh, "12/7/26" in English, "07.12.2026" in Russian)."""
    c = served.app[keys.TIMETABLE].get_class(academy.class_id)
    local = c.starts_at.astimezone(ZoneInfo(DEFAULT_TIMEZONE))
    want = f"{local:%d.%m.%Y %H:%M}"
    start = re.compile(r'<time datetime="' + re.escape(c.starts_at.isoformat()) + r'">([^<]*)<')
    for language in ("kk", "ru", "en"):
        student = reading(sign_in(academy.student_ids[0]), served, language)
        staff = reading(sign_in(academy.staff_id), served, language)
        for client, path in (
            (student, f"/classes/{c.id}"),
            (student, "/"),
            (staff, f"/timetable/classes/{c.id}"),
        ):
            page, _text = await shown(client, path)
            times = start.findall(page)
            assert times and set(times) == {want}, (language, path, times)
    assert datetime.strptime(want, "%d.%m.%Y %H:%M").year == local.year
