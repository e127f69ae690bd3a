"""The roles in words, in the language of a gettext function the caller passes in
(``babel.cfg`` extracts this module for the catalogues)."""

from __future__ import annotations

from collections.abc import Callable

from .models import Role


def role_labels(_: Callable[[str], str]) -> dict[Role, str]:
    """The roles as the regulation names them."""
    return {
        Role.STUDENT: _("Student"),
        Role.TEACHER: _("Teacher"),
        Role.HEAD_OF_DEPARTMENT: _("Head of department"),
        Role.DIRECTOR: _("Institute director"),
        Role.STAFF: _("Staff of the academic methods unit"),
        Role.ADMIN: _("Administrator"),
    }
