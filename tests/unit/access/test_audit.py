"""The audit trail's rules (access.audit): the changed fields only, no secret ever, who is
named how, which action a change is, and who reads the trail."""

from __future__ import annotations

import pytest

from access.audit import (
    Action,
    Actor,
    ActorKind,
    AuditRecord,
    ObjectKind,
    account_action,
    changed,
    may_read_audit,
    plain_url,
    structure_action,
)
from access.models import Role


def test_only_the_changed_fields_are_kept_on_both_sides() -> None:
    before = {"name": "Институт", "director_id": 3, "archived": False}
    after = {"name": "Институт права", "director_id": 3, "archived": False}
    assert changed(before, after) == ({"name": "Институт"}, {"name": "Институт права"})
    assert changed(before, dict(before)) == ({}, {})
    # A field on one side only counts as None on the other.
    assert changed({"a": 1}, {"b": 2}) == ({"a": 1, "b": None}, {"a": None, "b": 2})


@pytest.mark.parametrize(
    "field", ["password", "password_hash", "secret", "token", "key", "key_hash", "session_token"]
)
def test_a_record_refuses_any_secret(field: str) -> None:
    actor = Actor.user(1, "Админ")
    with pytest.raises(ValueError, match="no secret"):
        AuditRecord(actor, Action.CHANGED, ObjectKind.ACCOUNT, 2, 0.0, after={field: "x"})
    with pytest.raises(ValueError, match="no secret"):
        AuditRecord(actor, Action.CHANGED, ObjectKind.ACCOUNT, 2, 0.0, before={field: "x"})


def test_a_record_holds_plain_json_only() -> None:
    with pytest.raises(ValueError, match="Out of range"):
        AuditRecord(Actor.cli(), Action.CHANGED, ObjectKind.SETTINGS, None, 0.0,
                    after={"share": float("nan")})  # fmt: skip
    with pytest.raises(TypeError):
        AuditRecord(Actor.cli(), Action.CHANGED, ObjectKind.SETTINGS, None, 0.0,
                    after={"when": object()})  # fmt: skip


def test_actors_are_named_and_parsed_back() -> None:
    assert Actor.user(5, "Жанна").ref == "user:5"
    assert Actor.api_key(2, "portal").ref == "api_key:2"
    assert Actor.cli().ref == "cli" and Actor.cli().id is None
    assert Actor.parse_ref("user:5") == (ActorKind.USER, 5)
    assert Actor.parse_ref("api_key:2") == (ActorKind.API_KEY, 2)
    assert Actor.parse_ref("cli") == (ActorKind.CLI, None)
    for bad in ("", "user", "user:", "user:x", "cli:1", "root:1", "user:-1", "user:" + "9" * 19):
        assert Actor.parse_ref(bad) is None, bad
    with pytest.raises(ValueError, match="has an id"):
        Actor(ActorKind.USER, None)
    with pytest.raises(ValueError, match="has an id"):
        Actor(ActorKind.CLI, 3)


def test_which_action_a_change_is() -> None:
    assert structure_action({"archived": False}, {"archived": True}) is Action.ARCHIVED
    assert structure_action({"archived": True}, {"archived": False}) is Action.RESTORED
    assert structure_action({"name": "a", "archived": False}, {"name": "b", "archived": True}) is (
        Action.CHANGED
    )
    assert account_action({"full_name": "Б"}) is Action.CHANGED
    assert account_action({"role": "head_of_department"}) is Action.ROLE_CHANGED
    assert account_action({"department_id": 2}) is Action.ROLE_CHANGED


def test_a_webhook_address_is_kept_without_credentials() -> None:
    assert plain_url("https://bot:pa55@portal.example.kz:8443/hooks?token=abc#x") == (
        "https://portal.example.kz:8443/hooks"
    )
    assert plain_url("https://portal.example.kz/h") == "https://portal.example.kz/h"


def test_staff_and_administrators_read_the_trail() -> None:
    assert {r for r in Role if may_read_audit(r)} == {Role.STAFF, Role.ADMIN}
