"""Excuse requests (clause 12): staff file a learner's request to the institute's director, the
director decides, and on an approved request staff plan individual make-up classes."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from access.errors import UserNotFound
from access.models import Role, User
from admission import service
from admission.disk_documents import DiskDocuments
from admission.document_files import forget, keep, uploads_of
from admission.documents import (
    DocumentProblem,
    DocumentRefused,
)
from admission.errors import (
    AlreadyDecided,
    DisciplineNotNamed,
    NotApproved,
    NotTheDirector,
    RequestNotFound,
)
from admission.excuse_forms import (
    FormProblem,
    FormRefused,
    affected,
    decision_of,
    excuse_fields,
    learner_choice,
    makeup_fields,
    makeup_span,
)
from admission.excuse_words import (
    action_labels,
    document_message,
    form_message,
    megabytes,
    reason_labels,
    status_labels,
)
from admission.labels import not_admitted_labels
from admission.models import (
    MAX_COMMENT,
    MAX_DETAILS,
    MAX_DOCUMENT,
    ExcuseAction,
    ExcuseRequest,
    ExcuseStatus,
)
from admission.sqlite_excuses import ExcuseQuery
from admission.status import class_discipline, current
from admission.visibility import may_see_excuse
from scheduler.errors import ClassConflict, ClassTooLong, EndsBeforeStart, PlannedInPast
from scheduler.labels import class_status_labels, conflict_message, kind_labels

from ..core import clock, keys, policy
from ..core.errors import message_of, status_of
from ..core.http import PageError, gettext_of, redirect, render, require_role, require_session
from ..core.paging import fetch_page, page_number, pager, search_of
from .planning import DAY_REFUSALS, PlanError, confirmed, day_off_prompt

log = logging.getLogger("sabaq.web.excuses")
routes = web.RouteTableDef()

FILERS = frozenset({Role.STAFF, Role.ADMIN})  # they file requests and plan make-up classes
# ... and a learner files their own (clause 12: "on the learner's request").
SELF_FILERS = FILERS | {Role.STUDENT}
DOCUMENTS = "documents"  # the form's file field (several files)
FILE_FIELDS = ("learner", "reason", "first_day", "last_day", "document", "details")
MAKEUP_FIELDS = ("title", "discipline", "kind", "teacher_id", "day", "start", "end", "on_day_off")


# -- who sees what --------------------------------------------------------------------------------
def _query(request: web.Request, user: User) -> ExcuseQuery:
    """The requests a user may see — staff every one, a director those of their institutes, a
    learner their own — with the list's filters."""
    _ = gettext_of(request)
    status = request.query.get("status", "")
    q = ExcuseQuery(
        search=search_of(request),
        pending={"pending": True, "decided": False}.get(status),
    )
    if user.role is Role.DIRECTOR:
        groups = frozenset(request.app[keys.TIMETABLE].groups_of_director(user.id))
        return replace(q, group_ids=groups)
    if user.role is Role.STUDENT:
        return replace(q, learner_id=user.id)
    if user.role not in FILERS:
        raise PageError(
            403, _("Excuse requests are handled by staff and the director."), "forbidden"
        )
    return q


def request_for(request: web.Request) -> tuple[ExcuseRequest, User]:
    _ = gettext_of(request)
    user = require_session(request).user
    store, tt = request.app[keys.EXCUSES], request.app[keys.TIMETABLE]
    try:
        r = store.get(int(request.match_info["request_id"]))
    except RequestNotFound:
        raise PageError(404, _("There is no such request."), "not_found") from None
    if not may_see_excuse(policy.viewer(request, user), r.learner_id, service.decider_id(tt, r)):
        raise PageError(
            403,
            _("A request is seen by staff, the director who decides it and the student."),
            "forbidden",
        )
    return r, user


def _row(request: web.Request, r: ExcuseRequest) -> dict[str, Any]:
    _ = gettext_of(request)
    accounts, tt = request.app[keys.ACCOUNTS], request.app[keys.TIMETABLE]
    group = tt.group(r.group_id)
    return {
        "r": r,
        "learner": accounts.get(r.learner_id).full_name,
        "group": group.name,
        "zone": group.timezone,
        "reason": reason_labels(_)[r.reason],
        "status": status_labels(_)[r.status],
        "filed_at": datetime.fromtimestamp(r.filed_at, UTC),
    }


# -- pages ----------------------------------------------------------------------------------------
@routes.get("/excuses")
async def excuses_index(request: web.Request) -> web.Response:
    user = require_session(request).user
    query = _query(request, user)
    found, total, page = fetch_page(
        lambda limit, offset: request.app[keys.EXCUSES].find(query, limit, offset),
        page_number(request.query.get("page", "1")),
    )
    rows = [_row(request, r) for r in found]
    status = {True: "pending", False: "decided", None: ""}[query.pending]
    return render(
        request,
        "excuses.html",
        {
            # The waiting come first: the template says a section is empty only on the page
            # where it would begin (the first for the waiting, the last for the decided).
            "pending": [x for x in rows if x["r"].status is ExcuseStatus.PENDING],
            "decided": [x for x in rows if x["r"].status is not ExcuseStatus.PENDING],
            "can_file": user.role in SELF_FILERS,
            "self_filing": user.role is Role.STUDENT,
            "search": query.search,
            "status": status,
            "pager": pager("/excuses", {"q": query.search, "status": status}, page, total),
        },
    )


def _learner_choices(request: web.Request, user: User) -> list[tuple[str, str]]:
    """("group:user", "Name — Group") for every learner of every group, by group and name;
    a learner's own groups only for a learner filing for themselves."""
    accounts, tt = request.app[keys.ACCOUNTS], request.app[keys.TIMETABLE]
    out: list[tuple[str, str]] = []
    if user.role is Role.STUDENT:
        return [(f"{g.id}:{user.id}", g.name) for g in tt.groups_of_member(user.id)]
    for g in tt.groups():
        people = accounts.many(tt.members(g.id))
        for u in sorted(people.values(), key=lambda u: u.full_name.casefold()):
            out.append((f"{g.id}:{u.id}", f"{u.full_name} — {g.name}"))
    return out


def _file_form(
    request: web.Request,
    user: User,
    values: dict[str, str],
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    _ = gettext_of(request)
    limits = request.app[keys.SETTINGS].document_limits
    return render(
        request,
        "excuse_new.html",
        {
            "learners": _learner_choices(request, user),
            "self_filing": user.role is Role.STUDENT,
            "reasons": list(reason_labels(_).items()),
            "values": values,
            "error": error,
            "max_document": MAX_DOCUMENT,
            "max_details": MAX_DETAILS,
            "max_files": limits.files,
            "max_file_mb": megabytes(limits.file_bytes),
            "max_total_mb": megabytes(limits.total_bytes),
        },
        status,
    )


def _require_self_filer(request: web.Request) -> User:
    _ = gettext_of(request)
    return require_role(
        request, SELF_FILERS, _("Excuse requests are filed by the student or by staff.")
    )


@routes.get("/excuses/new")
async def excuse_form(request: web.Request) -> web.Response:
    user = _require_self_filer(request)
    return _file_form(request, user, dict.fromkeys(FILE_FIELDS, ""))


def documents_store(request: web.Request) -> DiskDocuments:
    return DiskDocuments(request.app[keys.SETTINGS].documents_dir)


@routes.post("/excuses", name="excuse-file")
async def excuse_file(request: web.Request) -> web.StreamResponse:
    """A request filed by staff for a learner, or by a learner for themselves, with 0 to N
    documents (a learner: at least one). Nothing is kept unless all of it is right."""
    user = _require_self_filer(request)
    form = await request.post()
    try:
        return await _file(request, user, form)
    finally:  # the uploads' temporary files
        loop = asyncio.get_running_loop()
        for f in form.values():
            if isinstance(f, web.FileField):
                await loop.run_in_executor(None, f.file.close)


async def _file(
    request: web.Request, user: User, form: MultiDictProxy[str | bytes | bytearray | web.FileField]
) -> web.StreamResponse:
    _ = gettext_of(request)
    values = {k: str(form.get(k, "")) for k in FILE_FIELDS}
    files = [
        (f.filename, f.file)
        for f in form.getall(DOCUMENTS, [])
        if isinstance(f, web.FileField) and f.filename  # an empty file input sends no name
    ]
    student = user.role is Role.STUDENT
    try:  # a learner files only their own request
        group_id, learner_id = learner_choice(values["learner"], only=user.id if student else None)
    except FormRefused as exc:
        return _file_form(request, user, values, form_message(_, exc.problem, learner=student), 400)
    limits = request.app[keys.SETTINGS].document_limits
    try:
        checked = await uploads_of(files, limits)
        if user.role is Role.STUDENT and not checked:
            raise DocumentRefused(DocumentProblem.NONE)
    except DocumentRefused as exc:
        log.info("excuse documents refused for learner %s: %s", learner_id, exc)
        return _file_form(request, user, values, document_message(_, exc, limits), 400)
    try:
        filed = excuse_fields(values, [c.name for c in checked])
    except FormRefused as exc:
        return _file_form(request, user, values, form_message(_, exc.problem), 400)
    disk = documents_store(request)
    kept = await keep(disk, checked)
    try:
        r = service.file_request(
            request.app[keys.EXCUSES],
            request.app[keys.TIMETABLE],
            learner_id=learner_id,
            group_id=group_id,
            reason=filed.reason,
            first_day=filed.first_day,
            last_day=filed.last_day,
            document=filed.document,
            details=filed.details,
            by=user,
            at=clock.now(request),
            documents=kept,
        )
    except service.NotInGroup:
        await forget(disk, kept)
        message = form_message(_, FormProblem.LEARNER, learner=student)
        return _file_form(request, user, values, message, 400)
    except BaseException:
        await forget(disk, kept)
        raise
    log.info(
        "excuse request %s filed by %s for learner %s with %s documents",
        r.id, user.id, learner_id, len(kept),
    )  # fmt: skip
    return redirect(f"/excuses/{r.id}")


@routes.get("/excuses/{request_id:\\d{1,18}}/documents/{n:\\d{1,3}}")
async def excuse_document(request: web.Request) -> web.StreamResponse:
    """A document of a request, to those who see the request: as a download, never shown
    inline, its type the one its bytes were found to be."""
    _ = gettext_of(request)
    r, _user = request_for(request)
    n = int(request.match_info["n"])
    found = [d for d in request.app[keys.EXCUSES].documents(r.id) if d.n == n]
    path = documents_store(request).path(found[0].stored_as) if found else None
    if path is None or not await asyncio.get_running_loop().run_in_executor(None, path.is_file):
        raise PageError(404, _("There is no such document."), "not_found")
    d = found[0]
    return web.FileResponse(
        path,
        headers={
            "Content-Type": d.kind.media_type,
            "Content-Disposition": disposition(d.name),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


def disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one in RFC 5987 form."""
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in "._- ") else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _detail(
    request: web.Request, error: str | None = None, status: int = 200, **form: str
) -> web.Response:
    _ = gettext_of(request)
    r, user = request_for(request)
    tt, store, accounts = (
        request.app[keys.TIMETABLE],
        request.app[keys.EXCUSES],
        request.app[keys.ACCOUNTS],
    )
    decider = service.decider_id(tt, r)
    try:
        decider_name = accounts.get(decider).full_name if decider else None
    except UserNotFound:
        decider_name = None
    teachers = accounts.many(tt.teachers(r.group_id))
    makeups = [tt.get_class(cid) for cid in store.makeup_class_ids(r.id)]
    actions = action_labels(_)
    steps = store.steps(r.id)
    decision = next(
        (s for s in steps if s.action in (ExcuseAction.APPROVED, ExcuseAction.REJECTED)), None
    )
    # The learner's debts: the disciplines or courses they are not admitted to now (clause 12).
    history = request.app[keys.ADMISSION].history(r.learner_id)
    debts = [c for c in current(history).values() if not c.admitted]
    return render(
        request,
        "excuse.html",
        {
            **_row(request, r),
            "steps": [(datetime.fromtimestamp(s.at, UTC), s, actions[s.action]) for s in steps],
            "decision": decision,
            "decided_at": datetime.fromtimestamp(decision.at, UTC) if decision else None,
            "documents": store.documents(r.id),
            "debts": [
                {
                    "what": debt_subject(request, c.key.programme_id, c.key.discipline_id),
                    "reason": not_admitted_labels(_)[c.reason] if c.reason else "",
                    "since": datetime.fromtimestamp(c.at, UTC),
                }
                for c in debts
            ],
            "is_learner": user.id == r.learner_id,
            "decider": decider_name,
            "affected": affected(request.app[keys.TIMETABLE], r),
            "makeups": makeups,
            "class_statuses": class_status_labels(_),
            "can_decide": r.status is ExcuseStatus.PENDING
            and user.role is Role.DIRECTOR
            and user.id == decider,
            "can_plan": r.status is ExcuseStatus.APPROVED and user.role in FILERS,
            "teachers": sorted(teachers.values(), key=lambda u: u.full_name.casefold()),
            "kinds": list(kind_labels(_).items()),
            "disciplines": [
                d.name
                for pid in [tt.group(r.group_id).programme_id]
                if pid is not None
                for d in tt.disciplines(pid)
            ],
            "form": dict.fromkeys((*MAKEUP_FIELDS, "comment"), "") | form,
            "error": error,
            "max_comment": MAX_COMMENT,
        },
        status,
    )


def debt_subject(request: web.Request, programme_id: int, discipline_id: int | None) -> str:
    """ "Programme · discipline" (or the programme alone: a whole course)."""
    _ = gettext_of(request)
    tt = request.app[keys.TIMETABLE]
    programme = tt.programme(programme_id)
    if discipline_id is None:
        return f"{programme.name} · {_('the whole course')}"
    names = {d.id: d.name for d in tt.disciplines(programme_id)}
    return f"{programme.name} · {names.get(discipline_id, '—')}"


@routes.get("/excuses/{request_id:\\d{1,18}}")
async def excuse_page(request: web.Request) -> web.Response:
    return _detail(request)


@routes.post("/excuses/{request_id:\\d{1,18}}/decision")
async def excuse_decide(request: web.Request) -> web.StreamResponse:
    _ = gettext_of(request)
    r, user = request_for(request)
    form = await request.post()
    decision, comment = str(form.get("decision", "")), str(form.get("comment", ""))
    try:
        approve = decision_of({"decision": decision, "comment": comment})
    except FormRefused as exc:
        return _detail(request, form_message(_, exc.problem), 400, comment=comment)
    try:
        service.decide(
            request.app[keys.EXCUSES],
            request.app[keys.TIMETABLE],
            r.id,
            approve=approve,
            by=user,
            comment=comment,
            at=clock.now(request),
        )
    except NotTheDirector:
        raise PageError(
            403, _("Only the director of the institute decides this request."), "forbidden"
        ) from None
    except service.CommentNeeded:
        return _detail(request, _("Say why the request is rejected."), 400, comment=comment)
    except AlreadyDecided:
        return _detail(request, _("The request has already been decided."), 409)
    log.info("excuse request %s: %s by director %s", r.id, decision, user.id)
    return redirect(f"/excuses/{r.id}")


@routes.post("/excuses/{request_id:\\d{1,18}}/makeup")
async def excuse_makeup(request: web.Request) -> web.StreamResponse:
    """Staff plan an individual make-up class for the learner of an approved request."""
    _ = gettext_of(request)
    r, user = request_for(request)
    if user.role not in FILERS:
        raise PageError(403, _("Make-up classes are planned by staff."), "forbidden")
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in MAKEUP_FIELDS}
    zone = request.app[keys.TIMETABLE].group(r.group_id).timezone
    try:
        m = makeup_fields(values, request.app[keys.TIMETABLE].teachers(r.group_id))
    except FormRefused as exc:
        return _detail(request, form_message(_, exc.problem), 400, **values)
    group = request.app[keys.TIMETABLE].group(r.group_id)
    try:
        discipline = class_discipline(request.app[keys.TIMETABLE], group, m.kind, m.discipline)
    except DisciplineNotNamed as exc:
        return _detail(request, message_of(_, exc), status_of(exc), **values)
    try:
        span = makeup_span(values, zone, clock.utc_now(request))
    except FormRefused as exc:
        return _detail(request, form_message(_, exc.problem), 400, **values)
    except (ClassTooLong, EndsBeforeStart) as exc:
        return _detail(request, message_of(_, exc), status_of(exc), **values)
    except PlannedInPast:  # the rule of every class, said of a make-up class
        return _detail(request, _("A make-up class is planned for a time to come."), 400, **values)
    try:
        c = service.plan_makeup(
            request.app[keys.EXCUSES],
            request.app[keys.TIMETABLE],
            r.id,
            title=m.title,
            kind=m.kind,
            discipline=discipline,
            teacher_id=m.teacher_id,
            starts_at=span.starts_at,
            ends_at=span.ends_at,
            by=user,
            at=clock.now(request),
            on_day_off=confirmed(values),
        )
    except ClassConflict as exc:
        return _detail(request, conflict_message(gettext_of(request), exc, zone), 409, **values)
    except DAY_REFUSALS as exc:  # a non-working day (to confirm), or outside the study period
        refusal = PlanError.of(request, exc)
        prompt = day_off_prompt(request, refusal.day_off) or ""
        return _detail(request, str(refusal), refusal.status, **values, confirm_day_off=prompt)
    except NotApproved:
        return _detail(request, _("Make-up classes follow an approved request."), 409, **values)
    except ValueError:  # the learner left the group, or the teacher no longer teaches it
        message = _("The student is no longer in the group, or the teacher no longer teaches it.")
        return _detail(request, message, 409, **values)
    log.info("excuse request %s: make-up class %s planned by %s", r.id, c.id, user.id)
    return redirect(f"/excuses/{r.id}")
