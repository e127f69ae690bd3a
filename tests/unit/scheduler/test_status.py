"""A class's status moves only forward."""

from __future__ import annotations

import pytest

from scheduler.errors import InvalidTransition
from scheduler.models import ClassStatus, check_transition


def test_status_transitions() -> None:
    check_transition(ClassStatus.PLANNED, ClassStatus.LIVE)
    with pytest.raises(InvalidTransition, match='"held" to "live"'):
        check_transition(ClassStatus.HELD, ClassStatus.LIVE)
