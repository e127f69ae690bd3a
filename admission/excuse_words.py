"""The excuse requests' words (clause 12): the labels of a request's reasons, statuses and
steps, and what is wrong with a form or its documents, in the language of a gettext function
the caller passes in (the rules that find it wrong are ``admission.excuse_forms`` and
``admission.documents``; ``babel.cfg`` extracts this module for the catalogues)."""

from __future__ import annotations

from collections.abc import Callable

from .documents import DocumentProblem, DocumentRefused, Limits
from .excuse_forms import MAX_TITLE, FormProblem
from .models import (
    MAX_COMMENT,
    MAX_DETAILS,
    MAX_DOCUMENT,
    ExcuseAction,
    ExcuseReason,
    ExcuseStatus,
)


def reason_labels(_: Callable[[str], str]) -> dict[ExcuseReason, str]:
    return {
        ExcuseReason.ILLNESS: _("Illness"),
        ExcuseReason.BEREAVEMENT: _("Death of a close relative"),
        ExcuseReason.SERVICE_DUTY: _("Service duty"),
        ExcuseReason.OTHER: _("Another valid reason"),
    }


def status_labels(_: Callable[[str], str]) -> dict[ExcuseStatus, str]:
    return {
        ExcuseStatus.PENDING: _("Awaiting the director's decision"),
        ExcuseStatus.APPROVED: _("Approved"),
        ExcuseStatus.REJECTED: _("Rejected"),
    }


def action_labels(_: Callable[[str], str]) -> dict[ExcuseAction, str]:
    return {
        ExcuseAction.FILED: _("Filed"),
        ExcuseAction.APPROVED: _("Approved"),
        ExcuseAction.REJECTED: _("Rejected"),
        ExcuseAction.MAKEUP_PLANNED: _("Make-up class planned"),
    }


def form_message(_: Callable[[str], str], problem: FormProblem, *, learner: bool = False) -> str:
    """What is wrong with an excuse form, in the reader's language (``learner``: a learner
    filing for themselves)."""
    match problem:
        case FormProblem.REASON:
            return _("Choose the reason.")
        case FormProblem.DAYS:
            return _("Give the first and the last day.")
        case FormProblem.DAYS_ORDER:
            return _("The last day comes after the first, within a year.")
        case FormProblem.DOCUMENT:
            return (
                _(
                    "Name the supporting document (at most {n} characters);"
                    " the details take at most {m} characters."
                )
                .replace("{n}", str(MAX_DOCUMENT))
                .replace("{m}", str(MAX_DETAILS))
            )
        case FormProblem.LEARNER:
            return _("Choose your group.") if learner else _("Choose the student.")
        case FormProblem.TITLE:
            return _("Give the class a title (at most {n} characters).").replace(
                "{n}", str(MAX_TITLE)
            )
        case FormProblem.KIND_OR_TEACHER:
            return _("Choose the kind of class and the teacher.")
        case FormProblem.WHEN:
            return _("Give the day and the start and end times.")
        case FormProblem.DECISION:
            return _("Choose to approve or to reject.")
        case FormProblem.COMMENT:
            return _("A comment takes at most {n} characters.").replace("{n}", str(MAX_COMMENT))


def document_message(_: Callable[[str], str], exc: DocumentRefused, limits: Limits) -> str:
    """Why the documents are refused, naming the file, in the reader's language."""
    match exc.problem:
        case DocumentProblem.NONE:
            text = _("Attach the supporting documents (PDF, JPEG or PNG).")
        case DocumentProblem.TOO_MANY:
            text = _("Attach at most {n} files.")
        case DocumentProblem.TOO_LARGE:
            text = _("The file {name} is larger than {mb} MB.")
        case DocumentProblem.TOTAL_TOO_LARGE:
            text = _("The files take more than {mb} MB in all.")
        case DocumentProblem.EMPTY:
            text = _("The file {name} is empty.")
        case DocumentProblem.WRONG_TYPE:
            text = _(
                "The file {name} is not a PDF, JPEG or PNG document (by its content, or its"
                " name says another type)."
            )
        case DocumentProblem.BAD_NAME:
            text = _("The name of the file {name} cannot be read: rename it and attach it again.")
    mb = megabytes(
        limits.total_bytes if exc.problem is DocumentProblem.TOTAL_TOO_LARGE else limits.file_bytes
    )
    return (
        text.replace("{n}", str(limits.files))
        .replace("{mb}", mb)
        .replace("{name}", f"«{exc.name}»")
    )


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"
