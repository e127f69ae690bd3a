"""Why a learner is not admitted, in words, in the language of a gettext function the caller
passes in (``babel.cfg`` extracts this module for the catalogues)."""

from __future__ import annotations

from collections.abc import Callable

from .status import NotAdmittedReason


def not_admitted_labels(_: Callable[[str], str]) -> dict[NotAdmittedReason, str]:
    return {
        NotAdmittedReason.ASSIGNMENTS_INCOMPLETE: _("assignments on the portal not completed"),
        NotAdmittedReason.INTERMEDIATE_TEST_FAILED: _(
            "intermediate tests or case tasks not passed"
        ),
    }
