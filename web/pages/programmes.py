"""Programmes and their credit mix (clause 6-1): in a distance programme at most 20 % of the
credits are studied in person. Staff list a programme's disciplines with their credits and
format; every change is checked against the mix it would leave and refused past 20 %, with the
figures. Directors and heads of department see the same pages without the forms."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from babel.numbers import format_decimal

from access.models import User
from scheduler.errors import (
    DisciplineInUse,
    DisciplineNameTaken,
    DisciplineNotFound,
    GroupNotFound,
)
from scheduler.group_forms import (
    GroupRefused,
    discipline_credits,
    discipline_format,
    discipline_name,
)
from scheduler.models import (
    MAX_CREDITS,
    MAX_DISCIPLINE_NAME,
    MAX_IN_PERSON_SHARE,
    MIN_CREDITS,
    CreditMix,
    CreditMixExceeded,
    Discipline,
    DisciplineFormat,
    Programme,
)
from scheduler.sqlite_groups import SqliteGroups

from ..core import keys, policy
from ..core.http import LANG_KEY, PageError, gettext_of, redirect, render, require_role
from .classes import OBSERVER_ROLES
from .groups import MANAGERS, group_message, kind_labels

log = logging.getLogger("sabaq.web.programmes")
routes = web.RouteTableDef()

VIEWERS = MANAGERS | OBSERVER_ROLES
DISCIPLINE_FIELDS = ("name", "credits", "format")
CHANGE_FIELDS = ("credits", "format")
PROGRAMME = r"/programmes/{programme_id:\d{1,18}}"
DISCIPLINE = PROGRAMME + r"/disciplines/{discipline_id:\d{1,18}}"


def format_labels(_: Callable[[str], str]) -> dict[DisciplineFormat, str]:
    return {
        DisciplineFormat.DISTANCE: _("Distance learning"),
        DisciplineFormat.IN_PERSON: _("In person"),
    }


def percent(mix: CreditMix, lang: str) -> str:
    """The in-person share as the person's language writes a number, with one decimal."""
    return format_decimal(mix.percent, format="0.0", locale=lang)


def share_text(_: Callable[[str], str], mix: CreditMix, lang: str) -> str:
    return _("{percent} %").replace("{percent}", percent(mix, lang))


def limit_text(_: Callable[[str], str]) -> str:
    """Clause 6-1's limit, "20 %". The sentences take it as ``{limit}``: a per cent sign
    followed by a space and a letter ("20 % of") reads to Babel as a Python format ("% o"), and
    its catalogues then fail ``msgfmt -c``."""
    return _("{percent} %").replace("{percent}", str(int(MAX_IN_PERSON_SHARE * 100)))


def verdict(_: Callable[[str], str], programme: Programme, mix: CreditMix) -> str:
    """Whether the programme keeps to clause 6-1, in one sentence."""
    if not programme.distance:
        said = _("Not a distance programme: the limit of {limit} in person does not apply.")
    elif mix.within:
        said = _("Within the {limit} of credits in person that a distance programme allows.")
    else:
        said = _("More than the {limit} of credits in person that a distance programme allows.")
    return said.replace("{limit}", limit_text(_))


def exceeded_message(_: Callable[[str], str], exc: CreditMixExceeded, lang: str) -> str:
    return (
        _(
            "In-person credits would be {in_person} of {total} ({percent} %);"
            " a distance programme allows at most 20 %."
        )
        .replace("{in_person}", str(exc.in_person))
        .replace("{total}", str(exc.total))
        .replace("{percent}", percent(exc.mix, lang))
    )


def in_use_message(_: Callable[[str], str], exc: DisciplineInUse) -> str:
    if exc.classes:
        return (
            _("{name} cannot be removed: classes of the programme's groups name it ({n}).")
            .replace("{name}", exc.name)
            .replace("{n}", str(exc.classes))
        )
    return _("{name} cannot be removed: other records refer to it.").replace("{name}", exc.name)


def _lang(request: web.Request) -> str:
    lang: str = request.get(LANG_KEY, "en")
    return lang


def _require_viewer(request: web.Request) -> User:
    _ = gettext_of(request)
    return require_role(
        request, VIEWERS, _("Programmes are seen by staff, directors and heads of department.")
    )


def _require_manager(request: web.Request) -> User:
    _ = gettext_of(request)
    return require_role(request, MANAGERS, _("Programmes are managed by staff."))


def _programme_of(request: web.Request) -> Programme:
    _ = gettext_of(request)
    try:
        return request.app[keys.TIMETABLE].programme(int(request.match_info["programme_id"]))
    except GroupNotFound:
        raise PageError(404, _("There is no such programme."), "programme_not_found") from None


def _discipline_of(request: web.Request, programme: Programme) -> Discipline:
    """The discipline the path names, if it is the programme's."""
    _ = gettext_of(request)
    try:
        found = request.app[keys.TIMETABLE].discipline(int(request.match_info["discipline_id"]))
    except DisciplineNotFound:
        found = None
    if found is None or found.programme_id != programme.id:
        raise PageError(404, _("There is no such discipline."), "discipline_not_found")
    return found


# -- the pages ------------------------------------------------------------------------------------
@routes.get("/programmes")
async def programmes_index(request: web.Request) -> web.Response:
    _ = gettext_of(request)
    user = _require_viewer(request)
    tt, lang = request.app[keys.TIMETABLE], _lang(request)
    kinds = kind_labels(_)
    mixes = tt.credit_mixes()
    rows = []
    programmes = [
        p
        for p in SqliteGroups(request.app[keys.DB]).programmes()
        if policy.sees_programme(request, user, p)
    ]
    for p in sorted(programmes, key=lambda p: (p.name.casefold(), p.id)):
        mix = mixes.get(p.id, CreditMix(0, 0))
        rows.append(
            {
                "p": p,
                "kind": kinds[p.kind],
                "mix": mix,
                "share": share_text(_, mix, lang),
                "over": p.distance and not mix.within,
            }
        )
    return render(
        request,
        "programmes.html",
        {
            "rows": rows,
            "can_manage": user.role in MANAGERS,
            # Sentences with a per cent sign are made here: Jinja's gettext reads "%" in its
            # messages as a format.
            "rule": _(
                "In a distance programme at most {limit} of the credits are studied in person"
                " (clause 6-1 of the rules)."
            ).replace("{limit}", limit_text(_)),
            "over_flag": _("More than {limit} in person").replace("{limit}", limit_text(_)),
        },
    )


def _page(
    request: web.Request,
    programme: Programme,
    *,
    error: str | None = None,
    add_values: Mapping[str, str] | None = None,
    change_id: int | None = None,
    change_values: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    """A programme's page; after a refusal, with the message and what was typed."""
    _ = gettext_of(request)
    user = _require_viewer(request)
    if not policy.sees_programme(request, user, programme):
        raise PageError(
            403, _("Programmes are seen by staff, directors and heads of department."), "forbidden"
        )
    tt, lang = request.app[keys.TIMETABLE], _lang(request)
    disciplines = tt.disciplines(programme.id)
    mix = tt.credit_mix(programme.id)
    formats = format_labels(_)
    rows: list[dict[str, Any]] = []
    for d in disciplines:
        typed = change_values if change_values is not None and d.id == change_id else None
        rows.append(
            {
                "d": d,
                "format": formats[d.format],
                "credits_value": typed["credits"] if typed else str(d.credits),
                "format_value": typed["format"] if typed else d.format.value,
            }
        )
    return render(
        request,
        "programmes_detail.html",
        {
            "p": programme,
            "kind": kind_labels(_)[programme.kind],
            "rows": rows,
            "mix": mix,
            "share": share_text(_, mix, lang),
            "verdict": verdict(_, programme, mix),
            "over": programme.distance and not mix.within,
            "formats": list(formats.items()),
            "error": error,
            "add_values": add_values or {"name": "", "credits": "", "format": ""},
            "can_manage": user.role in MANAGERS,
            "max_name": MAX_DISCIPLINE_NAME,
            "min_credits": MIN_CREDITS,
            "max_credits": MAX_CREDITS,
        },
        status,
    )


@routes.get(PROGRAMME)
async def programme_page(request: web.Request) -> web.Response:
    _require_viewer(request)
    return _page(request, _programme_of(request))


@routes.post(PROGRAMME + "/disciplines")
async def add_discipline(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _require_manager(request)
    programme = _programme_of(request)
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in DISCIPLINE_FIELDS}
    try:
        name = discipline_name(values["name"])
        credits = discipline_credits(values["credits"])
        fmt = discipline_format(values["format"])
        made = request.app[keys.TIMETABLE].add_discipline(programme.id, name, credits, fmt)
    except GroupRefused as exc:
        message = group_message(_, exc)
        return _page(request, programme, error=message, add_values=values, status=400)
    except DisciplineNameTaken as exc:
        message = _("The programme already has a discipline named {name}.").replace(
            "{name}", exc.name
        )
        return _page(request, programme, error=message, add_values=values, status=400)
    except CreditMixExceeded as exc:
        log.info("programme %s: adding %r refused: %s", programme.id, name, exc)
        message = exceeded_message(_, exc, _lang(request))
        return _page(request, programme, error=message, add_values=values, status=409)
    log.info(
        "staff %s added discipline %s (%s, %d credits, %s) to programme %s",
        user.id, made.id, made.name, made.credits, made.format, programme.id,
    )  # fmt: skip
    return redirect(f"/programmes/{programme.id}")


@routes.post(DISCIPLINE)
async def change_discipline(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _require_manager(request)
    programme = _programme_of(request)
    discipline = _discipline_of(request, programme)
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in CHANGE_FIELDS}

    def refused(message: str, status: int) -> web.Response:
        return _page(
            request, programme, error=message, change_id=discipline.id, change_values=values,
            status=status,
        )  # fmt: skip

    try:
        credits = discipline_credits(values["credits"])
        fmt = discipline_format(values["format"])
        changed = request.app[keys.TIMETABLE].change_discipline(discipline.id, credits, fmt)
    except GroupRefused as exc:
        return refused(group_message(_, exc), 400)
    except CreditMixExceeded as exc:
        log.info(
            "programme %s: changing discipline %s refused: %s", programme.id, discipline.id, exc
        )
        return refused(exceeded_message(_, exc, _lang(request)), 409)
    log.info(
        "staff %s changed discipline %s of programme %s to %d credits, %s",
        user.id, changed.id, programme.id, changed.credits, changed.format,
    )  # fmt: skip
    return redirect(f"/programmes/{programme.id}")


@routes.post(DISCIPLINE + "/remove")
async def remove_discipline(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    user = _require_manager(request)
    programme = _programme_of(request)
    discipline = _discipline_of(request, programme)
    try:
        request.app[keys.TIMETABLE].remove_discipline(discipline.id)
    except DisciplineInUse as exc:
        return _page(request, programme, error=in_use_message(_, exc), status=409)
    except CreditMixExceeded as exc:
        log.info(
            "programme %s: removing discipline %s refused: %s", programme.id, discipline.id, exc
        )
        return _page(request, programme, error=exceeded_message(_, exc, _lang(request)), status=409)
    log.info(
        "staff %s removed discipline %s (%s) of programme %s",
        user.id, discipline.id, discipline.name, programme.id,
    )  # fmt: skip
    return redirect(f"/programmes/{programme.id}")
