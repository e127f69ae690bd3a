"""An import's preview: sealed for the round trip, read back only by the same group and
person within the hour."""

from __future__ import annotations

from access.people import PersonRow
from access.sealed import import_key, seal, unseal
from scheduler.import_previews import (
    IMPORT_TTL,
    people_payload,
    people_rows_of,
    roster_payload,
    roster_rows_of,
)
from scheduler.roster import make_row

KEY = import_key(b"secret")
NOW = 1_800_000_000.0


def test_a_sealed_payload_comes_back_only_with_its_key_and_untouched() -> None:
    token = seal(KEY, {"a": [1, "Ә"]})
    assert unseal(KEY, token) == {"a": [1, "Ә"]}
    assert unseal(import_key(b"other"), token) is None
    assert unseal(KEY, "x" + token) is None


def test_a_group_preview_is_its_group_s_and_person_s_and_fresh() -> None:
    rows = [make_row(2, " Aigerim.N ", "Aigerim  N", "MVD")]
    payload = roster_payload(3, 7, NOW, rows)
    assert roster_rows_of(payload, 3, 7, NOW + 10) == rows
    assert roster_rows_of(payload, 4, 7, NOW) is None
    assert roster_rows_of(payload, 3, 8, NOW) is None
    assert roster_rows_of(payload, 3, 7, NOW + IMPORT_TTL) is None
    assert roster_rows_of(payload | {"rows": [[2, "a", "b"]]}, 3, 7, NOW) is None


def test_a_people_preview() -> None:
    rows = [PersonRow(2, "bek", "Bek B", "staff", "Criminal law", "bek@example.kz")]
    payload = people_payload(7, NOW, rows)
    assert people_rows_of(payload, 7, NOW) == rows
    assert people_rows_of(payload, 8, NOW) is None
    assert people_rows_of(payload | {"t": "now"}, 7, NOW) is None
