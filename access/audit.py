"""The audit trail of administrative changes, as rules: who (a person, the portal's API key or
the command line) did what (an action) to which object (its kind and id), when (UTC), and what
the changed fields were before and after — the changed fields only, never a secret.

Accounts, roles, the academy's structure, API keys, webhooks and the settings staff change at
run time are recorded by the stores that change them, in the same transaction as the change
(``sqlite_audit``), so a change is never without its record. Staff and administrators read it.
Free of storage."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .models import Role

# What a record never holds, whatever a caller passes: a field of one of these names (or
# ending in one of them) is refused before anything is written.
SECRET_FIELDS = frozenset({"password", "password_hash", "hash", "secret", "token", "key"})
AUDIT_READERS = frozenset({Role.STAFF, Role.ADMIN})
MAX_NAME = 200


class ActorKind(enum.StrEnum):
    USER = "user"  # a signed-in person (or one who set their password through a link)
    API_KEY = "api_key"  # the portal, through a scoped key
    CLI = "cli"  # the ``sabaq`` command line, on the server


class Action(enum.StrEnum):
    CREATED = "created"
    CHANGED = "changed"
    ROLE_CHANGED = "role_changed"  # an account's role or department (its scope)
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    ARCHIVED = "archived"
    RESTORED = "restored"
    REVOKED = "revoked"  # an API key
    DISABLED = "disabled"  # a webhook endpoint
    PASSWORD_LINK = "password_link"  # noqa: S105 — a set-password link issued (the link is not kept)
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 — by the account's owner, on the profile page
    PASSWORD_SET = "password_set"  # noqa: S105 — by the account's owner, through a link
    IMPORTED = "imported"  # many accounts at once: one record with the counts
    SENT = "sent"  # a mail to an agency's HR service sent by hand (the scheduled ones are logged)


class ObjectKind(enum.StrEnum):
    ACCOUNT = "account"
    INSTITUTE = "institute"
    DEPARTMENT = "department"
    AGENCY = "agency"
    API_KEY = "api_key"
    WEBHOOK = "webhook"
    SETTINGS = "settings"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change; ``name`` as it was then (a person's full name, a key's name)."""

    kind: ActorKind
    id: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if (self.id is None) != (self.kind is ActorKind.CLI):
            raise ValueError(f"An actor of kind {self.kind.value!r} has an id exactly when not cli")

    @classmethod
    def user(cls, user_id: int, name: str = "") -> Actor:
        return cls(ActorKind.USER, user_id, name[:MAX_NAME])

    @classmethod
    def api_key(cls, key_id: int, name: str = "") -> Actor:
        return cls(ActorKind.API_KEY, key_id, name[:MAX_NAME])

    @classmethod
    def cli(cls) -> Actor:
        return cls(ActorKind.CLI, None, "command line")

    @property
    def ref(self) -> str:
        """The actor as the filter names it: ``user:5``, ``api_key:2``, ``cli``."""
        return self.kind.value if self.id is None else f"{self.kind.value}:{self.id}"

    @classmethod
    def parse_ref(cls, ref: str) -> tuple[ActorKind, int | None] | None:
        """A filter's ``ref``, or None when it names no actor."""
        kind, _, raw = ref.partition(":")
        if kind not in set(ActorKind):
            return None
        if kind == ActorKind.CLI:
            return (ActorKind.CLI, None) if not raw else None
        if not raw.isdigit() or len(raw) > 18:
            return None
        return ActorKind(kind), int(raw)


Fields = dict[str, Any]


def is_secret(name: str) -> bool:
    lowered = name.casefold()
    return any(lowered == s or lowered.endswith("_" + s) for s in SECRET_FIELDS)


def check_fields(fields: Mapping[str, Any]) -> None:
    """A record's fields hold no secret and are plain JSON; ``ValueError`` if not."""
    for name in fields:
        if is_secret(name):
            raise ValueError(f"The audit trail keeps no secret: field {name!r} refused")
    json.dumps(dict(fields), ensure_ascii=False, allow_nan=False)


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Fields, Fields]:
    """Of two views of an object, the fields that differ (a field missing on one side counts as
    None there), each side with only those fields."""
    names = [n for n in dict.fromkeys([*before, *after]) if before.get(n) != after.get(n)]
    return {n: before.get(n) for n in names}, {n: after.get(n) for n in names}


def plain_url(url: str) -> str:
    """A webhook's address as recorded: scheme, host and path — never a user, a password or a
    query, which may carry the endpoint's credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One administrative change. ``object_id`` is None for a batch (an import) or the
    settings; ``object_label`` names the object as it was then (a login, a name)."""

    actor: Actor
    action: Action
    kind: ObjectKind
    object_id: int | None
    at: float  # seconds since the epoch (UTC)
    before: Fields = field(default_factory=dict)
    after: Fields = field(default_factory=dict)
    object_label: str = ""
    id: int = 0  # 0 until stored

    def __post_init__(self) -> None:
        check_fields(self.before)
        check_fields(self.after)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which records: by whom, of which kind, which action, in ``[since, until)`` (UTC)."""

    actor: tuple[ActorKind, int | None] | None = None
    kind: ObjectKind | None = None
    action: Action | None = None
    since: float | None = None
    until: float | None = None


def may_read_audit(role: Role) -> bool:
    """The audit trail (page, export, API): staff and administrators."""
    return role in AUDIT_READERS


def structure_action(before: Mapping[str, Any], after: Mapping[str, Any]) -> Action:
    """A change of an institute, a department or an agency: archived or brought back when
    that is all that changed, else changed."""
    if set(after) == {"archived"}:
        return Action.ARCHIVED if after["archived"] else Action.RESTORED
    return Action.CHANGED


def account_action(after: Mapping[str, Any]) -> Action:
    """An account's edit: a role change when its role or department (its scope) changed."""
    return Action.ROLE_CHANGED if {"role", "department_id"} & set(after) else Action.CHANGED
