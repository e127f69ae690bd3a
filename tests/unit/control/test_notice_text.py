"""A notice in words, in Kazakh, Russian and English, its times in its group's zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from admission.notices import Notice, NoticeKind, Params
from control.notice_text import render
from web.core.i18n import load_catalogues

START = datetime(2027, 3, 10, 4, 0, tzinfo=UTC).timestamp()  # 09:00 in Almaty, 05:00 in Berlin
CLASS: Params = {
    "class_id": 3, "title": "Уголовное право", "group": "ПД-24-1", "zone": "Asia/Almaty",
    "starts_at": START, "ends_at": START + 5400, "reason": "",
}  # fmt: skip


def notice(kind: NoticeKind, **params: str | float | int) -> Notice:
    return Notice(1, 2, kind, {**CLASS, **params}, START)


def test_a_moved_class_in_russian_kazakh_and_english_in_the_groups_zone() -> None:
    cats = load_catalogues()
    moved = notice(NoticeKind.CLASS_MOVED, was_starts_at=START - 86400)
    title, body, link = render(moved, cats["ru"].gettext)
    assert title == "Занятие перенесено: Уголовное право"
    assert body == (
        "Занятие группы ПД-24-1 теперь проходит 10.03.2027 09:00–10:30 (время Алматы, UTC+5)"
        " (было 09.03.2027 09:00 (время Алматы, UTC+5))."
    )
    assert link == "/classes/3"
    title, body, _ = render(moved, cats["kk"].gettext)
    assert title == "Сабақ ауыстырылды: Уголовное право"
    assert "10.03.2027 09:00–10:30 (Алматы уақыты, UTC+5)" in body and "өтеді" in body
    berlin = notice(NoticeKind.CLASS_MOVED, zone="Europe/Berlin")
    title, body, _ = render(berlin, cats["en"].gettext)
    assert title == "Class moved: Уголовное право"
    assert body == (
        "The class of ПД-24-1 now takes place on 10.03.2027 05:00–06:30 (Europe/Berlin, UTC+1)."
    )


@pytest.mark.parametrize(
    ("kind", "ru", "kk"),
    [
        (NoticeKind.CLASS_CANCELLED, "Занятие отменено", "Сабақ болдырылмады"),
        (NoticeKind.CLASS_SWITCHED_ONLINE, "Занятие переведено в онлайн", "онлайнға ауыстырылды"),
        (NoticeKind.GUEST_APPROVED, "Приглашённый лектор одобрен", "мақұлданды"),
        (NoticeKind.GUEST_REFUSED, "Приглашённому лектору отказано", "бас тартылды"),
        (NoticeKind.GUEST_REVOKED, "отозвано", "кері қайтарылды"),
        (NoticeKind.GUEST_WAITING, "ждёт вашего решения", "шешіміңізді күтуде"),
        (NoticeKind.EXCUSE_APPROVED, "Ваш рапорт об уважительной причине одобрен", "мақұлданды"),
        (NoticeKind.EXCUSE_REJECTED, "отклонён", "қабылданбады"),
        (NoticeKind.EXCUSE_WAITING, "Рапорт об уважительной причине", "баянат"),
    ],
)
def test_every_kind_has_words_in_russian_and_kazakh(kind: NoticeKind, ru: str, kk: str) -> None:
    cats = load_catalogues()
    n = notice(
        kind, request_id=8, guest="Ержан", learner="Студент 01", first_day="2027-03-01",
        last_day="2027-03-03", comment="нет справки",
    )  # fmt: skip
    ru_title, ru_body, link = render(n, cats["ru"].gettext)
    kk_title, kk_body, _ = render(n, cats["kk"].gettext)
    assert ru in ru_title and kk in kk_title
    assert ru_body and kk_body and ru_body != kk_body
    assert "{" not in ru_body + kk_body + ru_title + kk_title  # every blank filled
    if kind.value.startswith("excuse"):
        assert link == "/excuses/8"
        assert "01.03.2027" in ru_body and "03.03.2027" in kk_body
    elif kind.value.startswith("guest"):
        assert link == "/guests/8"
        assert "Ержан" in ru_title + ru_body
    if kind in (NoticeKind.GUEST_REFUSED, NoticeKind.EXCUSE_REJECTED):
        assert ru_body.endswith("Комментарий: нет справки")


def test_a_time_no_page_can_show_is_left_out_not_a_failure() -> None:
    """A notice whose times are out of any calendar (a corrupt row, an old bug) still renders:
    the page of notices never fails for one of them."""
    for stamp in (1e300, -1e300, 253402300800.0):
        title, _body, link = render(notice(NoticeKind.CLASS_MOVED, starts_at=stamp), str)
        assert title and link.startswith("/classes/"), (title, link)
