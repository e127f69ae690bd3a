"""Guest lecturers (clause 10): a head of department files a request (рапорт) for a class of the
department; only the director of that institute approves (issuing a personal invite) or
rejects, and may revoke an approval until the class ends. The invite is an opaque random token
(256 bits) of which only a hash is kept; it admits one browser, from a while before the class
until it ends. Free of storage and I/O: the rules and the outcomes of redeeming."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass

MAX_FIELD = 200
MAX_TEXT = 2000


class GuestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


class GuestAction(enum.StrEnum):
    FILED = "filed"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"
    REDEEMED = "redeemed"  # the first browser bound the invite
    RESET = "reset"  # staff let another browser bind it


class InviteRefusal(enum.StrEnum):
    """Why an invite does not let its holder in; each has its own page."""

    UNKNOWN = "unknown"
    NOT_APPROVED = "not_approved"
    REVOKED = "revoked"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    CLASS_ENDED = "class_ended"
    OTHER_DEVICE = "other_device"


@dataclass(frozen=True, slots=True)
class GuestRequest:
    id: int
    class_id: int
    filed_by: int  # the head of department
    guest_name: str
    organisation: str
    position: str
    contact: str  # e-mail or phone
    topic: str
    justification: str
    presents: bool  # publishes like the teacher, or only watches
    status: GuestStatus
    filed_at: float
    bound: bool = False  # a browser has redeemed the invite

    def __post_init__(self) -> None:
        check_fields(
            self.guest_name, self.organisation, self.position, self.contact, self.topic,
            self.justification,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class GuestStep:
    request_id: int
    at: float
    actor_id: int | None
    actor_name: str
    action: GuestAction
    comment: str


def check_fields(
    name: str, organisation: str, position: str, contact: str, topic: str, justification: str
) -> None:
    for label, value in (
        ("name", name), ("organisation", organisation), ("position", position),
        ("contact", contact), ("topic", topic),
    ):  # fmt: skip
        if not value.strip():
            raise ValueError(f"The guest's {label} is missing")
        if len(value) > MAX_FIELD:
            raise ValueError(f"The guest's {label} has at most {MAX_FIELD} characters")
    if not justification.strip() or len(justification) > MAX_TEXT:
        raise ValueError(f"The justification is needed, at most {MAX_TEXT} characters")


def new_token() -> str:
    """An invite's secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Window:
    """When an invite admits: from ``opens`` until the class ends (or, if it never started,
    its scheduled end)."""

    opens: float
    closes: float
    ended: bool  # the class has ended


def refusal(
    request: GuestRequest | None,
    window: Window | None,
    bound_to: str | None,
    device: str,
    now: float,
) -> InviteRefusal | None:
    """Why the invite does not admit ``device`` now, or None if it does."""
    if request is None or window is None:
        return InviteRefusal.UNKNOWN
    if request.status is GuestStatus.REVOKED:
        return InviteRefusal.REVOKED
    if request.status is not GuestStatus.APPROVED:
        return InviteRefusal.NOT_APPROVED
    if window.ended:
        return InviteRefusal.CLASS_ENDED
    if now < window.opens:
        return InviteRefusal.NOT_YET_VALID
    if now >= window.closes:
        return InviteRefusal.EXPIRED
    if bound_to is not None and bound_to != device:
        return InviteRefusal.OTHER_DEVICE
    return None
