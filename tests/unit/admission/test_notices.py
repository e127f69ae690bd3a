"""Who is told of what: a class's change its learners and teacher, a guest request's decision
the head who filed it, an excuse decision the learner, a waiting request the director who
decides it — each only if the visibility rule lets them see it, and never the one who acted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from access.models import Role
from admission.guests import GuestAction, GuestRequest, GuestStatus, GuestStep
from admission.models import ExcuseAction, ExcuseReason, ExcuseRequest, ExcuseStatus, ExcuseStep
from admission.notices import Addressed, NoticeKind, class_changed, excuse_step, guest_step
from admission.visibility import ClassFacts, Viewer
from scheduler.models import (
    ClassFormat,
    ClassKind,
    ClassStatus,
    Group,
    LiveClass,
    TimetableAction,
    TimetableChange,
)

START = datetime(2027, 3, 10, 4, 0, tzinfo=UTC)  # 09:00 in Almaty
GROUP = Group(7, "ПД-24-1", 3, "ru", "Asia/Almaty")
TEACHER, STUDENT_A, STUDENT_B, OUTSIDER, STAFF = 10, 11, 12, 13, 14
DIRECTOR, OTHER_DIRECTOR, HEAD, OTHER_HEAD = 20, 21, 22, 23
INSTITUTE, OTHER_INSTITUTE = 1, 2

VIEWERS = {
    TEACHER: Viewer(TEACHER, Role.TEACHER, teaches=frozenset({7})),
    STUDENT_A: Viewer(STUDENT_A, Role.STUDENT, member_of=frozenset({7})),
    STUDENT_B: Viewer(STUDENT_B, Role.STUDENT, member_of=frozenset({7})),
    OUTSIDER: Viewer(OUTSIDER, Role.STUDENT, member_of=frozenset({8})),
    STAFF: Viewer(STAFF, Role.STAFF),
    DIRECTOR: Viewer(DIRECTOR, Role.DIRECTOR, institutes=frozenset({INSTITUTE})),
    OTHER_DIRECTOR: Viewer(OTHER_DIRECTOR, Role.DIRECTOR, institutes=frozenset({OTHER_INSTITUTE})),
    HEAD: Viewer(HEAD, Role.HEAD_OF_DEPARTMENT, institutes=frozenset({INSTITUTE})),
    OTHER_HEAD: Viewer(OTHER_HEAD, Role.HEAD_OF_DEPARTMENT, institutes=frozenset({2})),
}


def live_class(learner_ids: tuple[int, ...] = ()) -> LiveClass:
    return LiveClass(
        1, "Уголовное право", ClassKind.LECTURE, ClassFormat.IN_PERSON, TEACHER, START,
        START + timedelta(minutes=90), ClassStatus.PLANNED, (7,), learner_ids=learner_ids,
    )  # fmt: skip


def facts(c: LiveClass) -> ClassFacts:
    return ClassFacts(TEACHER, frozenset(c.group_ids), frozenset({INSTITUTE}),
                      frozenset(c.learner_ids))  # fmt: skip


def change(action: TimetableAction, by_id: int | None = STAFF, reason: str = "") -> TimetableChange:
    return TimetableChange(START.timestamp(), action, by_id, "Кто-то", 1, 7, reason)


def told(addressed: list[Addressed]) -> dict[int, str]:
    return {a.recipient_id: a.kind.value for a in addressed}


def test_a_class_moved_cancelled_or_switched_tells_its_learners_and_teacher_only() -> None:
    c = live_class()
    learners = [STUDENT_A, STUDENT_B]
    for action, kind in (
        (TimetableAction.MOVED, NoticeKind.CLASS_MOVED),
        (TimetableAction.CANCELLED, NoticeKind.CLASS_CANCELLED),
        (TimetableAction.SWITCHED_ONLINE, NoticeKind.CLASS_SWITCHED_ONLINE),
    ):
        out = class_changed(change(action), c, GROUP, facts(c), learners, VIEWERS.get)
        assert told(out) == {STUDENT_A: kind, STUDENT_B: kind, TEACHER: kind}
        assert out[0].params["zone"] == "Asia/Almaty"
        assert out[0].params["starts_at"] == START.timestamp()
    # What the portal hears of but people are not told of: nothing.
    for action in (TimetableAction.PLANNED, TimetableAction.MISSED, TimetableAction.ALERT):
        assert class_changed(change(action), c, GROUP, facts(c), learners, VIEWERS.get) == []


def test_nobody_outside_the_class_is_told_nor_the_one_who_changed_it() -> None:
    c = live_class()
    # An outsider among the candidates (a stale list) is kept out by the visibility rule; an
    # unknown or deactivated account (no viewer) too.
    out = class_changed(
        change(TimetableAction.CANCELLED, by_id=TEACHER), c, GROUP, facts(c),
        [STUDENT_A, OUTSIDER, 99], VIEWERS.get,
    )  # fmt: skip
    assert told(out) == {STUDENT_A: "class_cancelled"}


def test_an_individual_class_tells_only_its_own_learner() -> None:
    c = live_class(learner_ids=(STUDENT_A,))
    out = class_changed(
        change(TimetableAction.MOVED), c, GROUP, facts(c), [STUDENT_A, STUDENT_B], VIEWERS.get
    )
    assert told(out) == {STUDENT_A: "class_moved", TEACHER: "class_moved"}


def test_a_move_logged_without_a_reason_keeps_where_the_class_was() -> None:
    c = live_class()
    was = START - timedelta(days=1)
    out = class_changed(
        change(TimetableAction.MOVED, reason=f"from {was.isoformat()}"), c, GROUP, facts(c),
        [STUDENT_A], VIEWERS.get,
    )  # fmt: skip
    assert out[0].params["reason"] == ""
    assert out[0].params["was_starts_at"] == was.timestamp()


def test_words_that_look_like_a_time_stay_words_and_never_break_a_notice() -> None:
    """A reason someone typed ("from 0001-01-01") is kept as they wrote it, not read as the
    time the class moved from (nor left to fail the collector)."""
    c = live_class()
    for typed in ("from 0001-01-01", "from 9999-12-31T23:59:59+00:00", "from 2027-03-01"):
        (out, *_rest) = class_changed(
            change(TimetableAction.MOVED, reason=typed), c, GROUP, facts(c), [STUDENT_A],
            VIEWERS.get,
        )  # fmt: skip
        assert out.params["reason"] == typed and "was_starts_at" not in out.params


def guest_request() -> GuestRequest:
    return GuestRequest(
        5, 1, HEAD, "Ержан Тоқтаров", "Прокуратура", "прокурор", "+7 701 000 00 00", "Тема",
        "Опыт", True, GuestStatus.PENDING, START.timestamp(),
    )  # fmt: skip


def guest(action: GuestAction, by: int) -> GuestStep:
    return GuestStep(5, START.timestamp(), by, "Кто-то", action, "комментарий")


def test_a_guest_request_waits_for_its_director_and_its_decision_goes_to_the_head() -> None:
    c, r = live_class(), guest_request()
    filed = guest_step(guest(GuestAction.FILED, HEAD), r, c, GROUP, DIRECTOR, VIEWERS.get)
    assert told(filed) == {DIRECTOR: "guest_waiting"}
    for action, kind in (
        (GuestAction.APPROVED, "guest_approved"),
        (GuestAction.REJECTED, "guest_refused"),
        (GuestAction.REVOKED, "guest_revoked"),
    ):
        out = guest_step(guest(action, DIRECTOR), r, c, GROUP, DIRECTOR, VIEWERS.get)
        assert told(out) == {HEAD: kind}
        assert out[0].params["guest"] == "Ержан Тоқтаров"
        assert out[0].params["comment"] == "комментарий"
    # A browser redeeming the invite is nobody's notice.
    assert guest_step(guest(GuestAction.REDEEMED, 0), r, c, GROUP, DIRECTOR, VIEWERS.get) == []


def test_a_guest_request_waits_for_nobody_but_a_director_of_its_institute() -> None:
    c, r = live_class(), guest_request()
    step = guest(GuestAction.FILED, HEAD)
    assert guest_step(step, r, c, GROUP, None, VIEWERS.get) == []  # no director named
    # A post held by someone who is no director (an account's role changed) is told nothing.
    assert guest_step(step, r, c, GROUP, TEACHER, VIEWERS.get) == []
    # Staff and the other institute's people are not told of it.
    out = guest_step(step, r, c, GROUP, DIRECTOR, VIEWERS.get)
    assert set(told(out)) == {DIRECTOR}


def excuse_request() -> ExcuseRequest:
    return ExcuseRequest(
        9, STUDENT_A, 7, ExcuseReason.ILLNESS, date(2027, 3, 1), date(2027, 3, 3),
        "справка № 1", "", ExcuseStatus.PENDING, STAFF, START.timestamp(),
    )  # fmt: skip


def excuse(action: ExcuseAction, by: int, comment: str = "") -> ExcuseStep:
    return ExcuseStep(9, START.timestamp(), by, "Кто-то", action, comment)


def test_an_excuse_request_waits_for_its_director_and_its_decision_goes_to_the_learner() -> None:
    r = excuse_request()
    filed = excuse_step(excuse(ExcuseAction.FILED, STAFF), r, "Студент 01", DIRECTOR, VIEWERS.get)
    assert told(filed) == {DIRECTOR: "excuse_waiting"}
    assert filed[0].params["learner"] == "Студент 01"
    ok = excuse_step(excuse(ExcuseAction.APPROVED, DIRECTOR), r, "С", DIRECTOR, VIEWERS.get)
    assert told(ok) == {STUDENT_A: "excuse_approved"}
    no = excuse_step(excuse(ExcuseAction.REJECTED, DIRECTOR, "нет справки"), r, "С", DIRECTOR,
                     VIEWERS.get)  # fmt: skip
    assert told(no) == {STUDENT_A: "excuse_rejected"}
    assert no[0].params["comment"] == "нет справки"
    assert excuse_step(excuse(ExcuseAction.MAKEUP_PLANNED, STAFF), r, "С", DIRECTOR,
                       VIEWERS.get) == []  # fmt: skip


def test_an_excuse_request_is_no_other_directors_nor_a_heads_business() -> None:
    r = excuse_request()
    step = excuse(ExcuseAction.FILED, STAFF)
    assert excuse_step(step, r, "С", None, VIEWERS.get) == []
    assert excuse_step(step, r, "С", HEAD, VIEWERS.get) == []  # a head decides no excuse
    # A deactivated learner (no viewer) is not told of the decision.
    gone = {k: v for k, v in VIEWERS.items() if k != STUDENT_A}
    assert excuse_step(excuse(ExcuseAction.APPROVED, DIRECTOR), r, "С", DIRECTOR, gone.get) == []
