"""Clause 6-1: in a distance programme at most 20 % of the credits are studied in person. The mix
in exact arithmetic (exactly a fifth is allowed), the store that refuses any change past it —
adding, changing and removing alike — in one transaction, and the pages where staff keep a
programme's disciplines, see the figures, and are told them when a change is refused."""

from __future__ import annotations

import html as html_text
import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from aiohttp.test_utils import TestServer
from hypothesis import example, given
from hypothesis import strategies as st

from access.models import Role
from access.sqlite_store import SqliteAccounts
from control.database import connect
from scheduler.errors import DisciplineInUse, DisciplineNameTaken, DisciplineNotFound, GroupNotFound
from scheduler.models import (
    ClassFormat,
    ClassKind,
    CreditMix,
    CreditMixExceeded,
    Discipline,
    DisciplineFormat,
    ProgrammeKind,
    credit_mix,
)
from scheduler.sqlite_groups import SqliteGroups
from scheduler.sqlite_store import SqliteTimetable
from tests.conftest import Academy, Client, SignIn
from tests.integration.attendance.test_reports import english
from web.core import keys
from web.core.http import LANG_COOKIE

DISTANCE, IN_PERSON = DisciplineFormat.DISTANCE, DisciplineFormat.IN_PERSON
Timetable = tuple[SqliteTimetable, Academy, SqliteAccounts]


def d(credits: int, fmt: DisciplineFormat, name: str = "Дисциплина") -> Discipline:
    return Discipline(0, 1, name, credits, fmt)


# -- the rule -------------------------------------------------------------------------------------
def test_exactly_a_fifth_in_person_is_within_and_a_credit_more_is_not() -> None:
    at_limit = credit_mix([d(24, DISTANCE), d(6, IN_PERSON)])
    assert at_limit == CreditMix(in_person=6, total=30)
    assert at_limit.share == Fraction(1, 5) and at_limit.percent == 20.0 and at_limit.within
    over = credit_mix([d(23, DISTANCE), d(4, IN_PERSON), d(3, IN_PERSON)])
    assert over == CreditMix(7, 30) and not over.within and over.percent == 23.3
    empty = credit_mix([])
    assert empty.share == 0 and empty.percent == 0.0 and empty.within
    assert CreditMix(0, 30).within and not CreditMix(1, 1).within
    assert CreditMix(1, 3).percent == 33.3 and CreditMix(2, 3).percent == 66.7
    # Over the limit by less than a twentieth of a per cent: never shown as the 20 % allowed.
    assert not CreditMix(1001, 5000).within and CreditMix(1001, 5000).percent == 20.1
    assert CreditMix(1000, 5000).percent == 20.0


def test_a_refusal_gives_the_figures() -> None:
    refused = CreditMixExceeded(CreditMix(7, 30))
    assert isinstance(refused, ValueError)
    assert (refused.in_person, refused.total) == (7, 30)
    assert str(refused) == (
        "In-person credits would be 7 of 30 (23.3 %); a distance programme allows at most 20 %"
    )


@pytest.mark.parametrize(
    ("name", "credits", "fmt", "message"),
    [
        (" ", 5, "distance", "needs a name"),
        ("x" * 201, 5, "distance", "at most 200"),
        ("Право", 0, "distance", "1 to 100 credits, not 0"),
        ("Право", 101, "distance", "1 to 100 credits, not 101"),
        ("Право", True, "distance", "whole number"),
        ("Право", 5, "online", "'online' is not a valid DisciplineFormat"),
    ],
)
def test_a_discipline_needs_a_name_credits_and_a_format(
    name: str, credits: int, fmt: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Discipline(0, 1, name, credits, fmt)  # type: ignore[arg-type]


# -- the store ------------------------------------------------------------------------------------
def programme_of(tt: SqliteTimetable, a: Academy, distance: bool = True) -> int:
    institute = tt.institute_of_group(a.group_id)
    return tt.add_programme(
        "Магистратура", ProgrammeKind.POSTGRADUATE, institute.id, distance=distance
    ).id


def test_the_store_takes_in_person_credits_up_to_exactly_a_fifth(timetable: Timetable) -> None:
    tt, a, _ = timetable
    pid = programme_of(tt, a)
    assert tt.programme(pid).distance and tt.credit_mix(pid) == CreditMix(0, 0)
    law = tt.add_discipline(pid, "  Уголовное право ", 24, DISTANCE)
    assert law.name == "Уголовное право" and law.programme_id == pid
    drill = tt.add_discipline(pid, "Огневая подготовка", 6, IN_PERSON)
    assert tt.credit_mix(pid) == CreditMix(6, 30) and tt.credit_mixes()[pid] == CreditMix(6, 30)
    before = tt.disciplines(pid)
    assert [x.name for x in before] == ["Огневая подготовка", "Уголовное право"]  # by name

    with pytest.raises(CreditMixExceeded, match=r"7 of 31 \(22\.6 %\)") as one_more:
        tt.add_discipline(pid, "Строевая подготовка", 1, IN_PERSON)
    assert one_more.value.mix == CreditMix(7, 31)
    refusals: list[tuple[Callable[[], object], CreditMix]] = [
        (lambda: tt.change_discipline(drill.id, 7, IN_PERSON), CreditMix(7, 31)),
        (lambda: tt.change_discipline(law.id, 24, IN_PERSON), CreditMix(30, 30)),
        # Fewer distance credits, or none, push the share up too.
        (lambda: tt.change_discipline(law.id, 23, DISTANCE), CreditMix(6, 29)),
        (lambda: tt.remove_discipline(law.id), CreditMix(6, 6)),
    ]
    for change, mix in refusals:
        with pytest.raises(CreditMixExceeded) as refused:
            change()
        assert refused.value.mix == mix
        assert tt.disciplines(pid) == before and tt.credit_mix(pid) == CreditMix(6, 30)
    assert not tt._db.in_transaction  # every refusal rolled its change back

    # What lowers the share, or keeps it, goes through.
    assert tt.change_discipline(law.id, 30, DISTANCE).credits == 30
    assert tt.change_discipline(drill.id, 7, IN_PERSON).format is IN_PERSON
    assert tt.credit_mix(pid) == CreditMix(7, 37)
    tt.remove_discipline(drill.id)
    assert tt.credit_mix(pid) == CreditMix(0, 30)
    with pytest.raises(DisciplineNotFound):
        tt.discipline(drill.id)


def test_a_programme_that_is_not_distance_may_go_above(timetable: Timetable) -> None:
    tt, a, _ = timetable
    pid = programme_of(tt, a, distance=False)
    assert not tt.programme(pid).distance
    assert [p.distance for p in SqliteGroups(tt._db).programmes()] == [False]
    tt.add_discipline(pid, "Огневая подготовка", 20, IN_PERSON)
    tt.add_discipline(pid, "Право", 10, DISTANCE)
    assert tt.credit_mix(pid) == CreditMix(20, 30) and not tt.credit_mix(pid).within


def test_names_are_unique_in_a_programme_letter_case_aside(timetable: Timetable) -> None:
    tt, a, _ = timetable
    pid, other = programme_of(tt, a), programme_of(tt, a)
    law = tt.add_discipline(pid, "Уголовное право", 10, DISTANCE)
    for taken in ("Уголовное право", " УГОЛОВНОЕ ПРАВО "):
        with pytest.raises(DisciplineNameTaken, match="already has a discipline named"):
            tt.add_discipline(pid, taken, 5, DISTANCE)
    assert isinstance(DisciplineNameTaken("x"), ValueError)
    assert tt.add_discipline(other, "Уголовное право", 5, DISTANCE).programme_id == other
    assert tt.discipline_named(pid, "  уголовное ПРАВО") == law
    assert tt.discipline_named(pid, "Гражданское право") is None
    assert tt.discipline_named(pid, " ") is None
    assert tt.credit_mix(pid) == CreditMix(0, 10)
    with pytest.raises(GroupNotFound, match="No programme"):
        tt.add_discipline(999, "Право", 5, DISTANCE)
    with pytest.raises(GroupNotFound):
        tt.credit_mix(999)
    with pytest.raises(ValueError, match="1 to 100"):
        tt.change_discipline(law.id, 0, DISTANCE)
    with pytest.raises(DisciplineNotFound):
        tt.remove_discipline(999)


def test_a_discipline_classes_name_or_records_refer_to_stays(timetable: Timetable) -> None:
    tt, a, _ = timetable
    pid = programme_of(tt, a)
    dept = tt.group(a.group_id).department_id
    group = tt.add_group("М-26-1", dept, "ru", "Asia/Almaty", programme_id=pid)
    tt.add_teacher(group.id, a.teacher_id)
    named = tt.add_discipline(pid, "Уголовное право", 10, DISTANCE)
    free = tt.add_discipline(pid, "Криминалистика", 10, DISTANCE)
    start = datetime(2031, 3, 3, 5, tzinfo=UTC)
    tt.add_class(
        title="Лекция 1", kind=ClassKind.LECTURE, format=ClassFormat.LIVE_ONLINE,
        teacher_id=a.teacher_id, starts_at=start, ends_at=start + timedelta(hours=1),
        group_ids=(group.id,), discipline=" уголовное ПРАВО",
    )  # fmt: skip
    # A class of a group outside the programme naming "Криминалистика" does not hold it.
    tt.add_class(
        title="Лекция 2", kind=ClassKind.LECTURE, format=ClassFormat.LIVE_ONLINE,
        teacher_id=a.teacher_id, starts_at=start + timedelta(days=1),
        ends_at=start + timedelta(days=1, hours=1), group_ids=(a.group_id,),
        discipline="Криминалистика",
    )  # fmt: skip
    with pytest.raises(DisciplineInUse, match="1 class") as in_use:
        tt.remove_discipline(named.id)
    assert isinstance(in_use.value, ValueError) and in_use.value.classes == 1
    assert tt.discipline(named.id) == named

    # Another table's foreign key (as the admission status's) holds a discipline too.
    tt._db.execute("CREATE TABLE held_by (discipline_id INTEGER REFERENCES disciplines(id))")
    tt._db.execute("INSERT INTO held_by VALUES (?)", (free.id,))
    tt._db.commit()
    with pytest.raises(DisciplineInUse, match="other records refer to it"):
        tt.remove_discipline(free.id)
    assert tt.discipline(free.id) == free and not tt._db.in_transaction
    tt._db.execute("DELETE FROM held_by")
    tt._db.commit()
    tt.remove_discipline(free.id)
    assert [x.id for x in tt.disciplines(pid)] == [named.id]


NAMES = ("право ", "Право", "ПРАВО", "Тактика", "Огневая подготовка", "Криминалистика")
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("add"),
            st.sampled_from(NAMES),
            st.integers(1, 100),
            st.sampled_from(DisciplineFormat),
        ),
        st.tuples(
            st.just("change"),
            st.integers(0, 4),
            st.integers(1, 100),
            st.sampled_from(DisciplineFormat),
        ),
        st.tuples(st.just("remove"), st.integers(0, 4)),
    ),
    max_size=25,
)


@given(ops=operations)
@example(  # a name that sorts after its other-case twin is still the same name
    ops=[("add", "право ", 5, DISTANCE), ("add", "Право", 5, DISTANCE)]
)
@example(  # 6 of 30 in person, then every way past it
    ops=[
        ("add", "Право", 24, DISTANCE),
        ("add", "Тактика", 6, IN_PERSON),
        ("add", "ПРАВО", 1, DISTANCE),
        ("add", "Криминалистика", 1, IN_PERSON),
        ("change", 0, 23, DISTANCE),
        ("change", 1, 7, IN_PERSON),
        ("remove", 0),
    ]
)
def test_whatever_staff_try_the_stored_mix_stays_within_a_fifth(
    ops: list[tuple[object, ...]],
) -> None:
    db = connect(":memory:")
    try:
        tt = SqliteTimetable(db)
        institute = tt.add_institute("Институт", None)
        pid = tt.add_programme("Магистратура", ProgrammeKind.POSTGRADUATE, institute.id).id
        for op in ops:
            before = tt.disciplines(pid)
            expected: CreditMix | None = None  # the mix the change would make; None: no change
            try:
                match op:
                    case ("add", str(name), int(credits), DisciplineFormat() as fmt):
                        if tt.discipline_named(pid, name) is None:
                            expected = credit_mix([*before, d(credits, fmt)])
                        tt.add_discipline(pid, name, credits, fmt)
                    case ("change", int(i), int(credits), DisciplineFormat() as fmt) if before:
                        target = before[i % len(before)]
                        rest = [x for x in before if x.id != target.id]
                        expected = credit_mix([*rest, d(credits, fmt)])
                        tt.change_discipline(target.id, credits, fmt)
                    case ("remove", int(i)) if before:
                        target = before[i % len(before)]
                        expected = credit_mix([x for x in before if x.id != target.id])
                        tt.remove_discipline(target.id)
                    case _:
                        continue
            except CreditMixExceeded as exc:
                assert expected is not None and not expected.within and exc.mix == expected
                assert tt.disciplines(pid) == before
            except DisciplineNameTaken:
                assert expected is None and tt.disciplines(pid) == before
            else:
                assert expected is not None and expected.within
            mix = tt.credit_mix(pid)
            assert mix.within and mix == credit_mix(tt.disciplines(pid))
            assert not db.in_transaction
    finally:
        db.close()


# -- the pages ------------------------------------------------------------------------------------
def add_programme(served: TestServer, academy: Academy, distance: bool = True) -> int:
    tt = served.app[keys.TIMETABLE]
    institute = tt.institute_of_group(academy.group_id)
    return tt.add_programme(
        "Магистратура по праву", ProgrammeKind.POSTGRADUATE, institute.id, distance=distance
    ).id


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form"
    return found.group(1)


def alert_of(html: str) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', html)
    assert found, "the page has no error message"
    return html_text.unescape(found.group(1))


async def test_staff_keep_a_programme_at_exactly_a_fifth_and_are_told_the_figures_past_it(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    pid = add_programme(served, academy)
    staff = english(sign_in(academy.staff_id), served)
    page = await staff.get(f"/programmes/{pid}")
    html = await page.text()
    assert page.status == 200 and "The programme has no disciplines yet" in html
    # As a browser sends a form: the CSRF token is a field of it, not a header.
    token = csrf_of(html)
    forged = await staff.post(
        f"/programmes/{pid}/disciplines",
        data={"name": "Право", "credits": "24", "format": "distance", "csrf_token": "forged"},
        headers={"X-CSRF-Token": ""},
    )
    assert forged.status == 403 and tt.disciplines(pid) == []
    for name, credits, fmt in (
        ("Уголовное право", "24", "distance"), ("Огневая подготовка", "6", "in_person"),
    ):  # fmt: skip
        added = await staff.post(
            f"/programmes/{pid}/disciplines",
            data={"name": name, "credits": credits, "format": fmt, "csrf_token": token},
            headers={"X-CSRF-Token": ""},
            allow_redirects=False,
        )
        assert added.status == 303, await added.text()
        assert added.headers["Location"] == f"/programmes/{pid}"
    page = await staff.get(f"/programmes/{pid}")
    html = await page.text()
    assert page.status == 200 and "20.0 %" in html
    assert "Within the 20 % of credits in person that a distance programme allows." in html
    assert "Уголовное право" in html and "Огневая подготовка" in html

    stored = tt.disciplines(pid)
    refused = await staff.post(
        f"/programmes/{pid}/disciplines",
        data={"name": "Строевая подготовка", "credits": "1", "format": "in_person"},
    )
    html = await refused.text()
    assert refused.status == 409
    assert alert_of(html) == (
        "In-person credits would be 7 of 31 (22.6 %); a distance programme allows at most 20 %."
    )
    assert 'value="Строевая подготовка"' in html  # what was typed, kept
    assert "20.0 %" in html  # the page still shows the mix as it stands
    assert tt.disciplines(pid) == stored

    drill = next(x for x in stored if x.format is IN_PERSON)
    law = next(x for x in stored if x.format is DISTANCE)
    more = await staff.post(
        f"/programmes/{pid}/disciplines/{drill.id}", data={"credits": "8", "format": "in_person"}
    )
    html = await more.text()
    assert more.status == 409 and "8 of 32 (25.0 %)" in alert_of(html)
    assert 'value="8"' in html
    fewer = await staff.post(
        f"/programmes/{pid}/disciplines/{law.id}", data={"credits": "20", "format": "distance"}
    )
    assert fewer.status == 409 and "6 of 26 (23.1 %)" in alert_of(await fewer.text())
    gone = await staff.post(f"/programmes/{pid}/disciplines/{law.id}/remove")
    assert gone.status == 409 and "6 of 6 (100.0 %)" in alert_of(await gone.text())
    assert tt.disciplines(pid) == stored

    changed = await staff.post(
        f"/programmes/{pid}/disciplines/{law.id}",
        data={"credits": "30", "format": "distance"},
        allow_redirects=False,
    )
    assert changed.status == 303 and tt.discipline(law.id).credits == 30
    removed = await staff.post(
        f"/programmes/{pid}/disciplines/{drill.id}/remove", allow_redirects=False
    )
    assert removed.status == 303 and [x.id for x in tt.disciplines(pid)] == [law.id]

    listing = await (await staff.get("/programmes")).text()
    assert f'href="/programmes/{pid}"' in listing and "Магистратура по праву" in listing
    assert "Postgraduate education" in listing and "0.0 %" in listing

    # The groups pages lead to the programme; the figures read as the language writes numbers.
    dept = tt.group(academy.group_id).department_id
    group = tt.add_group("М-26-1", dept, "ru", "Asia/Almaty", programme_id=pid)
    for path in ("/groups", f"/groups/{group.id}"):
        assert f'href="/programmes/{pid}"' in await (await staff.get(path)).text()
    assert 'href="/programmes"' in await (await staff.get("/groups")).text()
    tt.add_discipline(pid, "Тактика", 5, IN_PERSON)
    staff.session.cookie_jar.update_cookies({LANG_COOKIE: "ru"}, served.make_url("/"))
    assert "14,3 %" in await (await staff.get(f"/programmes/{pid}")).text()


async def test_refused_changes_keep_what_was_typed_and_say_why(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    pid = add_programme(served, academy)
    other = add_programme(served, academy)
    law = tt.add_discipline(pid, "Уголовное право", 24, DISTANCE)
    foreign = tt.add_discipline(other, "Тактика", 5, DISTANCE)
    staff = english(sign_in(academy.staff_id), served)
    good = {"name": "Криминалистика", "credits": "5", "format": "distance"}
    for change, message in (
        ({"credits": "0"}, "Give the credits as a whole number from 1 to 100."),
        ({"credits": "abc"}, "Give the credits as a whole number from 1 to 100."),
        ({"credits": "101"}, "Give the credits as a whole number from 1 to 100."),
        ({"credits": "-5"}, "Give the credits as a whole number from 1 to 100."),
        ({"credits": "５"}, "Give the credits as a whole number from 1 to 100."),
        ({"credits": "9" * 5000}, "Give the credits as a whole number from 1 to 100."),
        ({"credits": ""}, "Give the credits as a whole number from 1 to 100."),
        ({"name": "  "}, "Give the discipline a name (at most 200 characters)."),
        ({"name": "x" * 201}, "Give the discipline a name (at most 200 characters)."),
        ({"format": "online"}, "Choose how the discipline is studied"),
        ({"format": ""}, "Choose how the discipline is studied"),
        ({"name": " уголовное право"}, "The programme already has a discipline named"),
    ):
        resp = await staff.post(f"/programmes/{pid}/disciplines", data=good | change)
        html = await resp.text()
        assert resp.status == 400, (change, resp.status)
        assert message in alert_of(html), (change, alert_of(html))
        if "credits" in change and len(change["credits"]) < 10:
            assert f'value="{change["credits"]}"' in html
    assert tt.disciplines(pid) == [law]

    bad_change = await staff.post(
        f"/programmes/{pid}/disciplines/{law.id}", data={"credits": "abc", "format": "distance"}
    )
    html = await bad_change.text()
    assert bad_change.status == 400 and 'value="abc"' in html
    assert "whole number from 1 to 100" in alert_of(html)
    odd_format = await staff.post(
        f"/programmes/{pid}/disciplines/{law.id}", data={"credits": "5", "format": "hybrid"}
    )
    assert odd_format.status == 400 and tt.discipline(law.id) == law

    huge = "9" * 18
    for path in (
        f"/programmes/{huge}", f"/programmes/{'9' * 30}", f"/programmes/{pid}/disciplines/x",
    ):  # fmt: skip
        assert (await staff.get(path)).status == 404, path
    for path in (
        f"/programmes/{huge}/disciplines",
        f"/programmes/{pid}/disciplines/{huge}",
        f"/programmes/{pid}/disciplines/{huge}/remove",
        f"/programmes/{pid}/disciplines/{foreign.id}",  # another programme's
        f"/programmes/{pid}/disciplines/{foreign.id}/remove",
    ):
        resp = await staff.post(path, data=good)
        assert resp.status == 404, (path, resp.status)
        assert "There is no such" in await resp.text()
    too_long = await staff.post(f"/programmes/{pid}/disciplines/{'9' * 30}", data=good)
    assert too_long.status == 404 and "This page does not exist" in await too_long.text()
    assert tt.discipline(foreign.id) == foreign

    # A discipline a class of the programme's groups names stays, and the page says why.
    dept = tt.group(academy.group_id).department_id
    group = tt.add_group("М-26-1", dept, "ru", "Asia/Almaty", programme_id=pid)
    tt.add_teacher(group.id, academy.teacher_id)
    start = datetime(2031, 3, 3, 5, tzinfo=UTC)
    tt.add_class(
        title="Лекция", kind=ClassKind.LECTURE, format=ClassFormat.LIVE_ONLINE,
        teacher_id=academy.teacher_id, starts_at=start, ends_at=start + timedelta(hours=1),
        group_ids=(group.id,), discipline="Уголовное право",
    )  # fmt: skip
    held = await staff.post(f"/programmes/{pid}/disciplines/{law.id}/remove")
    assert held.status == 409 and alert_of(await held.text()) == (
        "Уголовное право cannot be removed: classes of the programme's groups name it (1)."
    )
    assert tt.disciplines(pid) == [law]


async def test_only_staff_change_programmes_and_observers_only_look(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    tt = served.app[keys.TIMETABLE]
    pid = add_programme(served, academy)
    law = tt.add_discipline(pid, "Уголовное право", 24, DISTANCE)
    form = {"name": "Тактика", "credits": "1", "format": "distance"}
    writes: tuple[tuple[str, dict[str, str]], ...] = (
        (f"/programmes/{pid}/disciplines", form),
        (f"/programmes/{pid}/disciplines/{law.id}", {"credits": "2", "format": "distance"}),
        (f"/programmes/{pid}/disciplines/{law.id}/remove", {}),
    )

    async def statuses(client: Client) -> tuple[list[int], list[int]]:
        reads = [(await client.get(p)).status for p in ("/programmes", f"/programmes/{pid}")]
        posts = [(await client.post(p, data=data)).status for p, data in writes]
        return reads, posts

    for user_id in (academy.student_ids[0], academy.teacher_id):
        assert await statuses(sign_in(user_id)) == ([403, 403], [403, 403, 403])
    director_id = (
        served.app[keys.DB]
        .execute("SELECT id FROM users WHERE role = ?", (Role.DIRECTOR.value,))
        .fetchone()[0]
    )
    director = english(sign_in(director_id), served)
    assert await statuses(director) == ([200, 200], [403, 403, 403])
    page = await (await director.get(f"/programmes/{pid}")).text()
    assert "Уголовное право" in page and "0.0 %" in page
    assert "/disciplines" not in page  # no forms for those who only look
    assert tt.disciplines(pid) == [law]
    assert (await sign_in(academy.staff_id).get("/programmes")).status == 200


async def test_a_programme_that_is_not_distance_says_so_and_takes_more_in_person(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    pid = add_programme(served, academy, distance=False)
    staff = english(sign_in(academy.staff_id), served)
    added = await staff.post(
        f"/programmes/{pid}/disciplines",
        data={"name": "Огневая подготовка", "credits": "10", "format": "in_person"},
        allow_redirects=False,
    )
    assert added.status == 303
    html = await (await staff.get(f"/programmes/{pid}")).text()
    assert "100.0 %" in html and "Not a distance programme" in html


def test_the_credit_mix_migration_keeps_programmes_distance() -> None:
    db = connect(":memory:")
    try:
        columns = {r["name"]: r for r in db.execute("PRAGMA table_info(programmes)")}
        assert columns["distance"]["dflt_value"] == "1" and columns["distance"]["notnull"] == 1
        db.execute("INSERT INTO institutes (name) VALUES ('Институт')")
        db.execute(
            "INSERT INTO programmes (name, kind, institute_id) VALUES ('Курсы', 'additional', 1)"
        )
        db.commit()
        assert SqliteTimetable(db).programme(1).distance
        with pytest.raises(sqlite3.IntegrityError):  # a discipline belongs to a programme
            db.execute(
                "INSERT INTO disciplines (programme_id, name, credits, format)"
                " VALUES (99, 'x', 1, 'distance')"
            )
    finally:
        db.close()
