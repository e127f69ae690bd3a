"""The roles and the audit trail's records (what was done, to what, by whom, its fields) in
words, in the language of a gettext function the caller passes in (``babel.cfg`` extracts this
module for the catalogues)."""

from __future__ import annotations

from collections.abc import Callable

from .audit import Action, Actor, ActorKind, ObjectKind
from .models import Role

Gettext = Callable[[str], str]


def role_labels(_: Gettext) -> dict[Role, str]:
    """The roles as the regulation names them."""
    return {
        Role.STUDENT: _("Student"),
        Role.TEACHER: _("Teacher"),
        Role.HEAD_OF_DEPARTMENT: _("Head of department"),
        Role.DIRECTOR: _("Institute director"),
        Role.STAFF: _("Staff of the academic methods unit"),
        Role.ADMIN: _("Administrator"),
    }


def audit_action_labels(_: Gettext) -> dict[Action, str]:
    """What was done, in the audit trail."""
    return {
        Action.CREATED: _("created"),
        Action.CHANGED: _("changed"),
        Action.ROLE_CHANGED: _("role or department changed"),
        Action.DEACTIVATED: _("deactivated"),
        Action.REACTIVATED: _("reactivated"),
        Action.ARCHIVED: _("archived"),
        Action.RESTORED: _("brought back"),
        Action.REVOKED: _("revoked"),
        Action.DISABLED: _("disabled"),
        Action.PASSWORD_LINK: _("set-password link issued"),
        Action.PASSWORD_CHANGED: _("password changed"),
        Action.PASSWORD_SET: _("password set through a link"),
        Action.IMPORTED: _("accounts imported"),
        Action.SENT: _("mail sent to the HR service"),
    }


def audit_kind_labels(_: Gettext) -> dict[ObjectKind, str]:
    """What it was done to, in the audit trail."""
    return {
        ObjectKind.ACCOUNT: _("Account"),
        ObjectKind.INSTITUTE: _("Institute"),
        ObjectKind.DEPARTMENT: _("Department"),
        ObjectKind.AGENCY: _("Agency"),
        ObjectKind.API_KEY: _("API key"),
        ObjectKind.WEBHOOK: _("Webhook"),
        ObjectKind.SETTINGS: _("Settings"),
    }


def actor_name(_: Gettext, a: Actor) -> str:
    """Who did it: a person by name, the command line, an API key."""
    if a.kind is ActorKind.CLI:
        return _("command line")
    if a.kind is ActorKind.API_KEY:
        return _("API key: {name}").replace("{name}", a.name or f"#{a.id}")
    return a.name or f"#{a.id}"


def field_labels(_: Gettext, kind: ObjectKind) -> dict[str, str]:
    """The recorded fields, as the pages that change them name them."""
    names = {
        ObjectKind.INSTITUTE: _("Name of the institute"),
        ObjectKind.DEPARTMENT: _("Name of the department"),
        ObjectKind.AGENCY: _("Name of the agency"),
        ObjectKind.API_KEY: _("Name (who uses it)"),
    }
    return {
        "name": names.get(kind, "name"),
        "login": _("Login"),
        "full_name": _("Full name"),
        "role": _("Role"),
        "department_id": _("Department"),
        "agency": _("Agency"),
        "language": _("Language"),
        "email": _("E-mail"),
        "active": _("Active"),
        "sessions_ended": _("Sessions ended"),
        "valid_hours": _("Valid for, hours"),
        "count": _("Accounts made"),
        "agencies_changed": _("Agencies changed"),
        "roles": _("Roles"),
        "first_id": _("First number"),
        "last_id": _("Last number"),
        "group_id": _("Group"),
        "added_to_group": _("Added to the group"),
        "director_id": _("Director"),
        "head_id": _("Head of department"),
        "institute_id": _("Institute"),
        "archived": _("Archived"),
        "contacts": _("HR service's addresses"),
        "scopes": _("Scopes"),
        "revoked": _("Revoked"),
        "url": _("Endpoint"),
        "disabled": _("Disabled"),
        "late_after_minutes": _("Late after, minutes"),
        "present_percent": _("Present if in the class for at least, %%").replace("%%", "%"),
    }
