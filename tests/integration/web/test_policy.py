"""Who sees what (issue 18, item 7): every page and endpoint × every role × own or another
institute. A director, a head of department and a teacher see what belongs to their institute
(a teacher: their own classes and groups), staff and administrators the academy, a learner their
own group, classes and history. A refused read answers 403 or 404 and never the data; a page
that lists things lists only what the person may see. A GET route that this matrix does not
list fails the test, so a route added later without a decision is caught."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from access.models import Role
from admission.disk_documents import DiskDocuments
from admission.documents import DocumentKind, ExcuseDocument
from admission.models import ExcuseReason
from admission.visibility import (
    ClassFacts,
    GroupFacts,
    PersonFacts,
    Viewer,
    may_see_class,
    may_see_group,
    may_see_learner,
    may_see_teacher,
)
from scheduler.feeds import feed_token
from scheduler.models import DEFAULT_TIMEZONE, ClassFormat, ClassKind, ProgrammeKind
from scheduler.sqlite_agencies import SqliteAgencies
from tests.conftest import Academy, SignIn
from web.core import keys

RECORDING = "20260105T100000Z-camera.webm"
DOCUMENT_A = b"%PDF-1.4 the excuse document of A"
CLASS_A, CLASS_B = "Уголовное право", "Международное право Б"
GROUP_A, GROUP_B = "ПД-24-1", "ЮР-25-1"
LEARNER_A = "Студент 02"  # in A's registers: not the name of anyone who asks
SELF_A = "Студент 01"  # the student of A who asks
PROGRAMME_A, PROGRAMME_B = "Магистратура А", "Магистратура Б"
AGENCY_LEARNER_A, AGENCY_LEARNER_B = "Слушатель Агентства А", "Слушатель Агентства Б"
GUEST_A = "Гость Гостев"

# Who asks: staff and an administrator (the academy), the director and the head of institute A,
# the teacher of A's class and a teacher of another group of A, a student of A's group, and the
# director, head, teacher and student of institute B.
ROLES = (
    "staff",
    "admin",
    "director_a",
    "head_a",
    "teacher_a",
    "teacher_a2",
    "student_a",
    "director_b",
    "head_b",
    "teacher_b",
    "student_b",
)
ACADEMY = frozenset({"staff", "admin"})
INSTITUTE_A = ACADEMY | {"director_a", "head_a"}
REGISTER_A = INSTITUTE_A | {"teacher_a"}  # the class's or group's register
CLASS_SEERS = REGISTER_A | {"student_a"}
OBSERVERS = ACADEMY | {"director_a", "head_a", "director_b", "head_b"}


@dataclass
class World:
    a: Academy
    ids: dict[str, int]
    group_b: int
    class_b: int
    programme_a: int
    excuse_a: int
    guest_a: int
    institute_a: int = 0
    department_a: int = 0
    agency_a: int = 0
    institute_b: int = 0
    notice_a: int = 0  # director A's: guest A's request waits for them


def seed(app: web.Application, a: Academy) -> World:
    accounts, tt = app[keys.ACCOUNTS], app[keys.TIMETABLE]

    def user(login: str, name: str, role: Role, agency: str | None = None) -> int:
        return accounts.create_user(login=login, full_name=name, role=role, agency=agency).id

    ids = {
        "staff": a.staff_id,
        "admin": user("admin", "Админ Админов", Role.ADMIN),
        "director_a": accounts.by_login("director")[0].id,
        "head_a": accounts.by_login("head")[0].id,
        "teacher_a": a.teacher_id,
        "teacher_a2": a.other_teacher_id,
        "student_a": a.student_ids[0],
        "director_b": user("director-b", "Директор Б", Role.DIRECTOR),
        "head_b": user("head-b", "Заведующий Б", Role.HEAD_OF_DEPARTMENT),
        "teacher_b": user("teacher-b", "Преподаватель Б", Role.TEACHER),
        "student_b": user("student-b", "Студент Б", Role.STUDENT),
    }
    inst_a = tt.institute_of_group(a.group_id).id
    dept_a = tt.group(a.group_id).department_id
    teacher_a = accounts.get(a.teacher_id)  # a teacher of A's department, for the people pages
    app[keys.PEOPLE].update(
        teacher_a.id, full_name=teacher_a.full_name, role=teacher_a.role, department_id=dept_a
    )
    inst_b = tt.add_institute("Институт Б", ids["director_b"])
    dept_b = tt.add_department(inst_b.id, "Кафедра Б", ids["head_b"])
    group_b = tt.add_group(GROUP_B, dept_b.id, "ru", DEFAULT_TIMEZONE)
    tt.add_teacher(group_b.id, ids["teacher_b"])
    tt.add_members(group_b.id, [ids["student_b"]])
    tt.add_members(a.group_id, [user("agency-a", AGENCY_LEARNER_A, Role.STUDENT, "МВД")])
    tt.add_members(group_b.id, [user("agency-b", AGENCY_LEARNER_B, Role.STUDENT, "МВД")])
    now = datetime.now(UTC)
    class_b = tt.add_class(
        title=CLASS_B,
        kind=ClassKind.LECTURE,
        format=ClassFormat.LIVE_ONLINE,
        teacher_id=ids["teacher_b"],
        starts_at=now,
        ends_at=now + timedelta(minutes=90),
        group_ids=(group_b.id,),
        on_day_off=True,  # today, whatever the day is
    )
    programme_a = tt.add_programme(PROGRAMME_A, ProgrammeKind.POSTGRADUATE, inst_a)
    tt.add_programme(PROGRAMME_B, ProgrammeKind.POSTGRADUATE, inst_b.id)
    month = f"{now:%Y-%m}"
    tt.raise_alert(a.group_id, month, "guarantee:no_free_slot", time.time())
    tt.raise_alert(group_b.id, month, "guarantee:no_free_slot", time.time())
    today = date.today()
    document = DiskDocuments(app[keys.SETTINGS].documents_dir).keep(DOCUMENT_A)
    excuse = app[keys.EXCUSES].file(
        documents=[
            ExcuseDocument(
                0, 1, "справка.pdf", DocumentKind.PDF, len(DOCUMENT_A), "0" * 64, document
            )
        ],
        learner_id=ids["student_a"],
        group_id=a.group_id,
        reason=ExcuseReason.ILLNESS,
        first_day=today,
        last_day=today,
        document="Справка 1",
        details="",
        by_id=ids["staff"],
        by_name="Жанна Серикбаева",
        at=time.time(),
    )
    guest = app[keys.GUESTS].file(
        class_id=a.class_id,
        guest_name=GUEST_A,
        organisation="Верховный суд",
        position="Судья",
        contact="+7 700 000 00 00",
        topic="Практика",
        justification="Опыт",
        presents=False,
        by_id=ids["head_a"],
        by_name="Гаухар Нургалиева",
        at=time.time(),
    )
    folder = app[keys.SETTINGS].recordings_dir / str(a.class_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECORDING).write_bytes(b"recording of class A")
    agency_a = next(x.id for x in SqliteAgencies(app[keys.DB]).agencies() if x.name == "МВД")
    app[keys.NOTICES].collect()
    waiting = [
        n for n in app[keys.NOTICES].page(ids["director_a"]) if n.kind.value == "guest_waiting"
    ]
    return World(
        a, ids, group_b.id, class_b.id, programme_a.id, excuse.id, guest.id,
        inst_a, tt.group(a.group_id).department_id, agency_a, inst_b.id, waiting[0].id,
    )  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One route asked by every role. ``allowed`` get 200 with ``marker`` (A's data) in the
    answer; on a page that lists things, ``opens`` get 200 too, without A's data unless they
    are allowed (and with B's, ``marker_b``, where the page lists B's to B's people); everyone
    else is refused with 403 or 404 and no ``marker``."""

    route: str  # the route as the router names it
    path: str
    allowed: frozenset[str]
    marker: str | None
    opens: frozenset[str] = frozenset()
    marker_b: str | None = None
    b_seers: frozenset[str] = field(default_factory=frozenset)
    method: str = "GET"


def cases(w: World) -> list[Case]:
    a, ids = w.a, w.ids
    ca, ga, sa, ta = a.class_id, a.group_id, ids["student_a"], ids["teacher_a"]
    every = frozenset(ROLES)
    b_institute = ACADEMY | {"director_b", "head_b"}
    learner_a = f'"learner_id": {sa}'
    today = datetime.now(UTC).date()
    days = f"from={today - timedelta(days=2)}&to={today + timedelta(days=2)}"
    return [
        # -- pages that list things
        Case(
            "/",
            "/",
            CLASS_SEERS,
            CLASS_A,
            opens=every,
            marker_b=CLASS_B,
            b_seers=b_institute | {"teacher_b", "student_b"},
        ),
        Case(
            "/timetable",
            "/timetable",
            CLASS_SEERS,
            GROUP_A,
            opens=every,
            marker_b=GROUP_B,
            b_seers=b_institute | {"teacher_b", "student_b"},
        ),
        Case(
            "/reports",
            "/reports",
            INSTITUTE_A,
            GROUP_A,
            opens=OBSERVERS,
            marker_b=GROUP_B,
            b_seers=b_institute,
        ),
        Case(
            "/timetable/guarantee",
            "/timetable/guarantee",
            INSTITUTE_A,
            GROUP_A,
            opens=OBSERVERS,
            marker_b=GROUP_B,
            b_seers=b_institute,
        ),
        Case(
            "/api/v1/guarantee/alerts",
            "/api/v1/guarantee/alerts",
            INSTITUTE_A,
            f'"group_id": {ga}',
            opens=OBSERVERS,
            marker_b=f'"group_id": {w.group_b}',
            b_seers=b_institute,
        ),
        Case(
            "/programmes",
            "/programmes",
            INSTITUTE_A,
            PROGRAMME_A,
            opens=OBSERVERS,
            marker_b=PROGRAMME_B,
            b_seers=b_institute,
        ),
        Case(
            "/reports/agencies",
            "/reports/agencies",
            ACADEMY | {"director_a"},
            AGENCY_LEARNER_A,
            opens=ACADEMY | {"director_a", "director_b"},
            marker_b=AGENCY_LEARNER_B,
            b_seers=ACADEMY | {"director_b"},
        ),
        Case(
            "/reports/agencies.{fmt}",
            "/reports/agencies.csv",
            ACADEMY | {"director_a"},
            AGENCY_LEARNER_A,
            opens=ACADEMY | {"director_a", "director_b"},
            marker_b=AGENCY_LEARNER_B,
            b_seers=ACADEMY | {"director_b"},
        ),
        Case(
            "/excuses",
            "/excuses",
            ACADEMY | {"director_a", "student_a"},
            f'href="/excuses/{w.excuse_a}"',
            opens=ACADEMY | {"director_a", "student_a", "director_b", "student_b"},
        ),
        Case(
            "/guests",
            "/guests",
            INSTITUTE_A,
            GUEST_A,
            opens=OBSERVERS,
        ),
        Case("/groups", "/groups", ACADEMY, GROUP_A),
        # -- the structure: its people see their institute, the academy's see it all
        Case(
            "/structure",
            "/structure",
            INSTITUTE_A,
            f'href="/structure/institutes/{w.institute_a}"',
            opens=OBSERVERS,
            marker_b=f'href="/structure/institutes/{w.institute_b}"',
            b_seers=b_institute,
        ),
        Case(
            "/api/v1/institutes",
            "/api/v1/institutes",
            INSTITUTE_A,
            '"name": "Институт",',
            opens=OBSERVERS,
            marker_b='"name": "Институт Б"',
            b_seers=b_institute,
        ),
        Case(
            "/api/v1/departments",
            "/api/v1/departments",
            INSTITUTE_A,
            '"name": "Кафедра",',
            opens=OBSERVERS,
            marker_b='"name": "Кафедра Б"',
            b_seers=b_institute,
        ),
        Case("/agencies", "/agencies", ACADEMY, "МВД"),
        Case("/api/v1/agencies", "/api/v1/agencies", ACADEMY, "МВД"),
        Case("/agencies/{agency_id}", f"/agencies/{w.agency_a}", ACADEMY, "МВД"),
        Case(
            "/structure/institutes/{institute_id}",
            f"/structure/institutes/{w.institute_a}",
            INSTITUTE_A,
            f'href="/structure/departments/{w.department_a}"',
        ),
        Case(
            "/structure/departments/{department_id}",
            f"/structure/departments/{w.department_a}",
            INSTITUTE_A,
            GROUP_A,
        ),
        Case("/api/v1/groups", "/api/v1/groups", ACADEMY, GROUP_A),
        # -- a class of institute A
        Case("/classes/{class_id}", f"/classes/{ca}", CLASS_SEERS, CLASS_A),
        # who the teacher removed, for "Let back in": the class's teacher alone
        Case(
            "/classes/{class_id}/removed",
            f"/classes/{ca}/removed",
            frozenset({"teacher_a"}),
            '{"removed": [',
        ),
        # whether the teacher still keeps me out (a removed student's page asks): the class's
        # people, each of themselves
        Case(
            "/classes/{class_id}/removed/me",
            f"/classes/{ca}/removed/me",
            CLASS_SEERS,
            '"removed": false',
        ),
        Case(
            "/classes/{class_id}/join-token",
            f"/classes/{ca}/join-token",
            CLASS_SEERS,
            '"token"',
            method="POST",
        ),
        Case("/classes/{class_id}/attendance", f"/classes/{ca}/attendance", REGISTER_A, LEARNER_A),
        Case(
            "/classes/{class_id}/attendance.{fmt}",
            f"/classes/{ca}/attendance.csv",
            REGISTER_A,
            LEARNER_A,
        ),
        Case(
            "/classes/{class_id}/attendance.{fmt}",
            f"/classes/{ca}/attendance.xlsx",
            REGISTER_A,
            None,
        ),
        Case(
            "/classes/{class_id}/attendance/live",
            f"/classes/{ca}/attendance/live",
            REGISTER_A,
            None,
        ),
        Case(
            "/classes/{class_id}/recordings",
            f"/classes/{ca}/recordings",
            CLASS_SEERS,
            '{"recordings": [',
        ),
        Case(
            "/classes/{class_id}/recordings/{name}",
            f"/classes/{ca}/recordings/{RECORDING}",
            CLASS_SEERS,
            "recording of class A",
        ),
        Case(
            "/classes/{class_id}/guests/new",
            f"/classes/{ca}/guests/new",
            frozenset({"head_a"}),
            CLASS_A,
        ),
        Case("/timetable/classes/{class_id}", f"/timetable/classes/{ca}", CLASS_SEERS, CLASS_A),
        # -- a group of institute A
        Case("/timetable/groups/{group_id}", f"/timetable/groups/{ga}", CLASS_SEERS, CLASS_A),
        Case(
            "/api/v1/groups/{group_id}/timetable",
            f"/api/v1/groups/{ga}/timetable?{days}",
            CLASS_SEERS,
            CLASS_A,
        ),
        Case("/reports/groups/{group_id}", f"/reports/groups/{ga}", REGISTER_A, LEARNER_A),
        Case(
            "/reports/groups/{group_id}.{fmt}",
            f"/reports/groups/{ga}.csv",
            REGISTER_A,
            LEARNER_A,
        ),
        Case("/reports/groups/{group_id}.{fmt}", f"/reports/groups/{ga}.xlsx", REGISTER_A, None),
        Case(
            "/api/v1/reports/groups/{group_id}",
            f"/api/v1/reports/groups/{ga}",
            REGISTER_A,
            LEARNER_A,
        ),
        Case("/groups/{group_id}", f"/groups/{ga}", ACADEMY, GROUP_A),
        # Who of the group has not taken the introduction (clause 5): its register's readers.
        Case(
            "/groups/{group_id}/introduction",
            f"/groups/{ga}/introduction",
            REGISTER_A,
            LEARNER_A,
        ),
        # -- a teacher of institute A
        Case(
            "/timetable/teachers/{user_id}",
            f"/timetable/teachers/{ta}",
            REGISTER_A,
            CLASS_A,
        ),
        Case(
            "/api/v1/teachers/{user_id}/timetable",
            f"/api/v1/teachers/{ta}/timetable?{days}",
            REGISTER_A,
            CLASS_A,
        ),
        # -- a learner of institute A
        Case("/reports/learners/{user_id}", f"/reports/learners/{sa}", CLASS_SEERS, SELF_A),
        Case(
            "/reports/learners/{user_id}.{fmt}",
            f"/reports/learners/{sa}.csv",
            CLASS_SEERS,
            SELF_A,
        ),
        Case(
            "/reports/learners/{user_id}.{fmt}", f"/reports/learners/{sa}.xlsx", CLASS_SEERS, None
        ),
        Case(
            "/api/v1/reports/learners/{user_id}",
            f"/api/v1/reports/learners/{sa}",
            CLASS_SEERS,
            SELF_A,
        ),
        Case(
            "/learners/{user_id}/admission",
            f"/learners/{sa}/admission",
            CLASS_SEERS,
            SELF_A,
        ),
        Case(
            "/api/v1/learners/{user_id}/admission",
            f"/api/v1/learners/{sa}/admission",
            CLASS_SEERS,
            learner_a,
        ),
        # -- requests about A's people: narrower than the institute (health and family matters
        # go to the director who decides; a guest to the head who asked, the teacher, the
        # director)
        Case(
            "/excuses/{request_id}",
            f"/excuses/{w.excuse_a}",
            ACADEMY | {"director_a", "student_a"},
            "Справка 1",
        ),
        Case(
            "/excuses/{request_id}/documents/{n}",
            f"/excuses/{w.excuse_a}/documents/1",
            ACADEMY | {"director_a", "student_a"},
            DOCUMENT_A.decode(),
        ),
        Case(
            "/api/v1/excuse-requests/{request_id}",
            f"/api/v1/excuse-requests/{w.excuse_a}",
            ACADEMY | {"director_a", "student_a"},
            learner_a,
        ),
        Case(
            "/guests/{request_id}",
            f"/guests/{w.guest_a}",
            ACADEMY | {"director_a", "head_a", "teacher_a"},
            GUEST_A,
        ),
        # -- A's programme
        Case(
            "/programmes/{programme_id}",
            f"/programmes/{w.programme_a}",
            INSTITUTE_A,
            PROGRAMME_A,
        ),
        # -- people: whose accounts who manages (access.people): A's teacher is managed by the
        # academy and by A's director and head; B's director and head open the list without them
        Case(
            "/people",
            "/people",
            INSTITUTE_A,
            "<td>teacher</td>",  # the login (a teacher sees their own name in the header)
            opens=OBSERVERS,
        ),
        Case(
            "/api/v1/people",
            "/api/v1/people",
            INSTITUTE_A,
            '"login": "teacher"',
            opens=OBSERVERS,
        ),
        Case("/people/{user_id}", f"/people/{ta}", INSTITUTE_A, 'value="teacher" readonly'),
        Case("/api/v1/people/{user_id}", f"/api/v1/people/{ta}", INSTITUTE_A, '"login": "teacher"'),
        Case("/people/new", "/people/new", OBSERVERS, None),
        Case("/people/import", "/people/import", OBSERVERS, None),
        Case("/profile", "/profile", every, None),
        # -- notices: each their own (A's guest request waits for A's director)
        Case("/notices", "/notices", frozenset({"director_a"}), GUEST_A, opens=every),
        Case("/notices/{notice_id}", f"/notices/{w.notice_a}", frozenset({"director_a"}), GUEST_A),
        Case("/api/v1/notices/unread", "/api/v1/notices/unread", every, None),
        # -- forms and settings of staff (the academy's)
        Case("/groups/new", "/groups/new", ACADEMY, None),
        Case("/timetable/new", "/timetable/new", ACADEMY, None),
        Case("/timetable/emergency", "/timetable/emergency", ACADEMY, None),
        Case("/api/v1/switches", "/api/v1/switches", ACADEMY, None),
        # -- the academy calendar: everyone's to read (the days off are no one's secret)
        Case("/timetable/calendar", "/timetable/calendar", every, None),
        Case("/api/v1/calendar", "/api/v1/calendar", every, '"source": "holiday"'),
        # (a learner files their own request: a form of their own groups)
        Case("/excuses/new", "/excuses/new", ACADEMY | {"student_a", "student_b"}, None),
        Case("/api-keys", "/api-keys", ACADEMY, None),
        Case("/webhooks", "/webhooks", ACADEMY, None),
        # -- the audit trail: staff and administrators
        Case("/audit", "/audit", ACADEMY, None),
        Case("/audit.{fmt}", "/audit.csv", ACADEMY, None),
        Case("/audit.{fmt}", "/audit.xlsx", ACADEMY, None),
        Case("/api/v1/audit", "/api/v1/audit", ACADEMY, None),
        Case("/mail", "/mail", ACADEMY, None),  # the mail queue: people's addresses
    ]


# GET routes that show nothing of an institute, or whose URL is itself the capability.
UNSCOPED = {
    "/healthz": "health check",
    "/readyz": "readiness check",
    "/metrics": "the process's metrics: this machine's or the metrics token's (test_metrics.py)",
    "/signin": "the sign-in form",
    "/signin/link": "a signed, single-use sign-in link",
    "/password/set": "a signed, single-use set-password link: the token is the capability",
    "/practice": "the device check, no class",
    "/practice/ice": "the device check's ICE servers",
    "/api/v1/openapi.json": "the API's description",
    "/api/v1/docs": "the API's documentation",
    "/invite/{token}": "a guest's invite: the token is the capability",
    "/ical/groups/{ident}/{token}.ics": "a feed at a secret URL shown only to who sees the group",
    "/ical/teachers/{ident}/{token}.ics": "a feed at a secret URL shown only to who sees it all",
    "/ical/calendar/{ident}/{token}.ics": "the academy's days off, at a URL shown to everyone",
    "/static": "static files",
    "/favicon.ico": "a redirect to the static icon",
    "/media/classes/{class_id}/ws": "signaling: a join token minted by the policy is the key",
    "/media/classes/{class_id}/relay": "a relay node's link: a relay token signed with the nodes'"
    " secret is the key (a browser's join token is refused)",
}


def get_routes(app: web.Application) -> set[str]:
    found = set()
    for route in app.router.routes():
        if route.method in ("GET", "*"):
            found.add(route.resource.canonical if route.resource else "")
    return found


async def test_every_get_route_has_a_decision_in_the_matrix(
    served: TestServer, academy: Academy
) -> None:
    w = seed(served.app, academy)
    listed = {c.route for c in cases(w) if c.method == "GET"} | set(UNSCOPED)
    routes = get_routes(served.app)
    assert routes - listed == set(), "GET routes without a who-sees-what decision in the matrix"
    assert listed - routes == set(), "the matrix names routes the application does not have"


async def test_who_sees_what_matrix(served: TestServer, academy: Academy, sign_in: SignIn) -> None:
    w = seed(served.app, academy)
    clients = {role: sign_in(w.ids[role]) for role in ROLES}
    wrong: list[str] = []
    for case in cases(w):
        for role in ROLES:
            client = clients[role]
            async with client.request(case.method, case.path, allow_redirects=True) as resp:
                if case.path.endswith("/live") and resp.status == 200:
                    body = ""  # an event stream: its opening is enough
                else:
                    body = (await resp.read()).decode("utf-8", "replace")
                    if resp.content_type == "application/json":  # its text, not \u escapes
                        body = json.dumps(json.loads(body), ensure_ascii=False)
                status = resp.status
            cell = f"{role:>10} {case.method} {case.path}: {status}"
            if role in case.allowed:
                if status != 200:
                    wrong.append(f"{cell}, expected 200")
                elif case.marker is not None and case.marker not in body:
                    wrong.append(f"{cell} without the data {case.marker!r}")
            elif role in case.opens:
                if status != 200:
                    wrong.append(f"{cell}, expected 200 (a list)")
                elif case.marker is not None and case.marker in body:
                    wrong.append(f"{cell} lists institute A's {case.marker!r}")
            elif status not in (403, 404):
                wrong.append(f"{cell}, expected 403 or 404")
            elif case.marker is not None and case.marker in body:
                wrong.append(f"{cell} refused but with the data {case.marker!r}")
            if case.marker_b is not None and status == 200:
                if role in case.b_seers and case.marker_b not in body:
                    wrong.append(f"{cell} does not list B's {case.marker_b!r}")
                if role not in case.b_seers and case.marker_b in body:
                    wrong.append(f"{cell} lists institute B's {case.marker_b!r}")
    assert wrong == [], "\n" + "\n".join(wrong)


async def test_feed_urls_are_shown_only_to_those_who_see_the_timetable(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    w = seed(served.app, academy)
    group_feed = f"/ical/groups/{academy.group_id}/"
    async with sign_in(w.ids["director_a"]).get(f"/timetable/groups/{academy.group_id}") as r:
        assert group_feed in await r.text()
    async with sign_in(w.ids["director_b"]).get(f"/timetable/groups/{academy.group_id}") as r:
        assert r.status == 403
        assert group_feed not in await r.text()
    # a teacher who teaches in both institutes: B's director sees B's part, not the whole feed
    tt = served.app[keys.TIMETABLE]
    tt.add_teacher(w.group_b, academy.teacher_id)
    async with sign_in(w.ids["director_b"]).get(f"/timetable/teachers/{academy.teacher_id}") as r:
        text = await r.text()
        assert r.status == 200
        assert CLASS_A not in text
        assert "/ical/teachers/" not in text
    async with sign_in(w.ids["director_a"]).get(f"/timetable/teachers/{academy.teacher_id}") as r:
        text = await r.text()
        assert CLASS_A in text
        assert "/ical/teachers/" not in text
    async with sign_in(w.ids["staff"]).get(f"/timetable/teachers/{academy.teacher_id}") as r:
        token = feed_token(served.app[keys.SETTINGS].secret_key, "teachers", academy.teacher_id)
        assert f"/ical/teachers/{academy.teacher_id}/{token}.ics" in await r.text()


async def test_who_changes_the_structure_matrix(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    """Every write of the structure (page form and API) × every role: staff and administrators
    are let through (to the rules), everyone else is refused and nothing changes."""
    w = seed(served.app, academy)
    ia, da, ag = w.institute_a, w.department_a, w.agency_a
    writes: list[tuple[str, str, dict[str, Any], bool]] = [  # method, path, body, as JSON
        ("POST", "/structure/institutes", {"name": "Новый институт"}, False),
        ("POST", f"/structure/institutes/{ia}", {"action": "rename", "name": "И-А"}, False),
        ("POST", f"/structure/institutes/{ia}/departments", {"name": "Новая кафедра"}, False),
        ("POST", f"/structure/departments/{da}", {"action": "rename", "name": "К-А"}, False),
        ("POST", "/agencies", {"name": "КНБ"}, False),
        ("POST", f"/agencies/{ag}", {"action": "rename", "name": "МВД РК"}, False),
        ("POST", "/api/v1/institutes", {"name": "Новый институт"}, True),
        ("PATCH", f"/api/v1/institutes/{ia}", {"name": "И-А"}, True),
        ("POST", "/api/v1/departments", {"institute_id": ia, "name": "Новая кафедра"}, True),
        ("PATCH", f"/api/v1/departments/{da}", {"name": "К-А"}, True),
        ("POST", "/api/v1/agencies", {"name": "КНБ"}, True),
        ("PATCH", f"/api/v1/agencies/{ag}", {"name": "МВД РК"}, True),
    ]
    tt = served.app[keys.TIMETABLE]
    before = (tt.institutes(), tt.departments(), SqliteAgencies(served.app[keys.DB]).agencies())
    wrong: list[str] = []
    for role in ROLES:
        if role in ACADEMY:
            continue
        client = sign_in(w.ids[role])
        for method, path, body, as_json in writes:
            kwargs: dict[str, Any] = {"json": body} if as_json else {"data": body}
            async with client.request(method, path, allow_redirects=False, **kwargs) as resp:
                if resp.status not in (403, 404):
                    wrong.append(f"{role:>10} {method} {path}: {resp.status}")
    after = (tt.institutes(), tt.departments(), SqliteAgencies(served.app[keys.DB]).agencies())
    assert wrong == [] and after == before
    for role in ACADEMY:
        client = sign_in(w.ids[role])
        for method, path, body, as_json in writes:
            kwargs = {"json": body} if as_json else {"data": body}
            async with client.request(method, path, allow_redirects=False, **kwargs) as resp:
                # allowed: done (201, 200, a redirect) or refused by a rule (a name taken)
                if resp.status not in (200, 201, 303, 409):
                    wrong.append(f"{role:>10} {method} {path}: {resp.status}")
    assert wrong == []
    assert {i.name for i in tt.institutes()} >= {"И-А", "Новый институт"}


# -- the rule itself, without a server ------------------------------------------------------------
def test_the_rule_gives_institute_people_their_institute_and_teachers_their_groups() -> None:
    director_a = Viewer(1, Role.DIRECTOR, institutes=frozenset({10}))
    head_b = Viewer(2, Role.HEAD_OF_DEPARTMENT, institutes=frozenset({20}))
    teacher = Viewer(3, Role.TEACHER, teaches=frozenset({100}))
    student = Viewer(4, Role.STUDENT, member_of=frozenset({100}))
    staff = Viewer(5, Role.STAFF)
    class_a = ClassFacts(teacher_id=3, group_ids=frozenset({100}), institute_ids=frozenset({10}))
    makeup = ClassFacts(7, frozenset({100}), frozenset({10}), learner_ids=frozenset({9}))
    group_a = GroupFacts(100, 10)
    learner_a = PersonFacts(4, frozenset({100}), frozenset({10}))
    assert [may_see_class(v, class_a) for v in (director_a, head_b, teacher, student, staff)] == [
        True,
        False,
        True,
        True,
        True,
    ]
    assert [may_see_class(v, makeup) for v in (director_a, head_b, teacher, student, staff)] == [
        True,
        False,
        False,
        False,
        True,
    ]
    assert [may_see_group(v, group_a) for v in (director_a, head_b, teacher, student)] == [
        True,
        False,
        True,
        True,
    ]
    assert [may_see_learner(v, learner_a) for v in (director_a, head_b, teacher, student)] == [
        True,
        False,
        True,
        True,
    ]
    teacher_a = PersonFacts(3, frozenset({100}), frozenset({10}))
    assert [may_see_teacher(v, teacher_a) for v in (director_a, head_b, teacher, student)] == [
        True,
        False,
        True,
        False,
    ]
