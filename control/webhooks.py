"""Signed webhooks for the academy's portal: the endpoints, the outbox and the delivery log.

What happened is read from the records Sabaq already keeps, each append-only with an
increasing id: the timetable's log (class planned, moved, cancelled, switched online; the
guarantee's alerts), the attendance ledger (class started and ended with its chain head,
participant joined and left), the steps of guest requests and of excuse requests, learners'
admission changes — each through the methods its store offers (``control.webhook_sources``).
A collector turns new records into one outbox row per registered endpoint, advancing its
cursor in the same transaction, so nothing is lost across restarts. A deliverer
(``control.webhook_delivery``) POSTs each row as JSON with an HMAC-SHA256 signature over the
timestamp and the body, retries with backoff until the endpoint answers 2xx (at least once),
and keeps each class's events in order: a class's next event waits until the one before it
is delivered. Every attempt is logged for staff."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from access.audit import Action, Actor, ObjectKind, plain_url
from access.sqlite_audit import now_record, write

from .webhook_addresses import check_url
from .webhook_sources import Record, Sources

SIGNATURE_HEADER = "X-Sabaq-Signature"
TIMESTAMP_HEADER = "X-Sabaq-Timestamp"
EVENT_HEADER = "X-Sabaq-Event"
DELIVERY_HEADER = "X-Sabaq-Delivery"
MAX_BACKOFF = 3600.0

# Named from when this lived in web/: a database knows its applied migrations by name.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "web_0001_webhooks",
        """
        CREATE TABLE webhook_endpoints (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL,
            secret TEXT NOT NULL,  -- shared with the portal to check signatures
            created_by INTEGER REFERENCES users(id),
            created_at REAL NOT NULL,
            disabled_at REAL
        );
        CREATE TABLE webhook_outbox (
            id INTEGER PRIMARY KEY,
            endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints(id),
            event TEXT NOT NULL,
            class_id INTEGER,  -- events of one class are delivered in order
            body TEXT NOT NULL,
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            delivered_at REAL,
            last_error TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX webhook_outbox_due ON webhook_outbox(delivered_at, next_attempt_at);
        CREATE INDEX webhook_outbox_class ON webhook_outbox(endpoint_id, class_id, id);
        CREATE TABLE webhook_attempts (
            id INTEGER PRIMARY KEY,
            outbox_id INTEGER NOT NULL REFERENCES webhook_outbox(id),
            at REAL NOT NULL,
            status INTEGER,
            error TEXT NOT NULL
        );
        CREATE INDEX webhook_attempts_outbox ON webhook_attempts(outbox_id);
        -- How far the collector has read each source.
        CREATE TABLE webhook_cursors (
            source TEXT PRIMARY KEY,
            position INTEGER NOT NULL
        );
        """,
    ),
    (
        "web_0002_webhook_lanes",
        """
        -- Events of one lane (a class, a group's alerts, an excuse request) go in order; an
        -- event given up on (failed_at) no longer holds its lane.
        ALTER TABLE webhook_outbox ADD COLUMN lane TEXT NOT NULL DEFAULT '';
        ALTER TABLE webhook_outbox ADD COLUMN failed_at REAL;
        CREATE INDEX webhook_outbox_lane ON webhook_outbox(endpoint_id, lane, id)
            WHERE delivered_at IS NULL AND failed_at IS NULL;
        """,
    ),
)

KEEP_LOG = 30 * 86400.0  # delivered and given-up events stay in the delivery log this long
PRUNE_EVERY = 3600.0
MAX_ATTEMPTS = 24  # about a day and a half of retries, then given up (shown to staff)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the HMAC of "timestamp.body"."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures: 1, 2, 4, … up to an hour."""
    return float(min(MAX_BACKOFF, 2 ** max(0, attempts - 1)))


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: int
    url: str
    secret: str
    created_at: float
    disabled_at: float | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    endpoint_id: int
    event: str
    class_id: int | None
    created_at: float
    attempts: int
    delivered_at: float | None
    last_error: str
    failed_at: float | None = None


class Webhooks:
    """Endpoints, the outbox and the delivery log in SQLite."""

    def __init__(
        self,
        db: sqlite3.Connection,
        sources: Sources,
        allowed_hosts: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.time,  # the audit trail's
    ) -> None:
        self._db = db
        self._sources = sources
        self._allowed = allowed_hosts
        self._clock = clock

    @property
    def allowed_hosts(self) -> frozenset[str]:
        return self._allowed

    # -- endpoints ------------------------------------------------------------------------------
    def add(self, url: str, by_id: int | None, actor: Actor | None = None) -> Endpoint:
        """Register an endpoint; it receives what happens from now on (not the past). Recorded
        in the audit trail in the same transaction (its address without user, password or
        query; never its secret), by ``actor`` or else the person ``by_id``."""
        url = check_url(url, self._allowed)
        self.collect(time.time())  # what happened before goes to the endpoints there were
        for source in Sources.NAMES:  # and nothing of it to the new one
            self._skip_history(source)
        with self._db:
            cur = self._db.execute(
                "INSERT INTO webhook_endpoints (url, secret, created_by, created_at)"
                " VALUES (?, ?, ?, ?)",
                (url, secrets.token_urlsafe(32), by_id, time.time()),
            )
            assert cur.lastrowid is not None
            who = actor or (Actor.user(by_id) if by_id is not None else Actor.cli())
            write(self._db, now_record(
                self._clock, who, Action.CREATED, ObjectKind.WEBHOOK, cur.lastrowid,
                after={"url": plain_url(url)}, label=plain_url(url),
            ))  # fmt: skip
        return self.endpoint(cur.lastrowid)

    def endpoint(self, endpoint_id: int) -> Endpoint:
        row = self._db.execute(
            "SELECT * FROM webhook_endpoints WHERE id = ?", (endpoint_id,)
        ).fetchone()
        if row is None:
            raise KeyError(endpoint_id)
        return Endpoint(row["id"], row["url"], row["secret"], row["created_at"], row["disabled_at"])

    def endpoints(self) -> list[Endpoint]:
        rows = self._db.execute("SELECT id FROM webhook_endpoints ORDER BY id").fetchall()
        return [self.endpoint(r[0]) for r in rows]

    def disable(self, endpoint_id: int, actor: Actor | None = None) -> None:
        """Stop delivering to the endpoint; with ``actor``, recorded in the same transaction
        (an endpoint disabled already stays as it was)."""
        with self._db:
            cur = self._db.execute(
                "UPDATE webhook_endpoints SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL",
                (time.time(), endpoint_id),
            )
            if cur.rowcount == 1 and actor is not None:
                url = self._db.execute(
                    "SELECT url FROM webhook_endpoints WHERE id = ?", (endpoint_id,)
                ).fetchone()[0]
                write(self._db, now_record(
                    self._clock, actor, Action.DISABLED, ObjectKind.WEBHOOK, endpoint_id,
                    {"disabled": False}, {"disabled": True}, plain_url(url),
                ))  # fmt: skip

    # -- collecting -----------------------------------------------------------------------------
    def collect(self, now: float) -> int:
        """New records of every source into the outbox of every active endpoint, merged in
        the order they happened; returns how many outbox rows were added."""
        active = [
            r[0]
            for r in self._db.execute(
                "SELECT id FROM webhook_endpoints WHERE disabled_at IS NULL"
            ).fetchall()
        ]
        if not active:
            return 0  # nobody listening: the cursors move on when someone registers
        positions: dict[str, int] = {}
        for source in Sources.NAMES:
            row = self._db.execute(
                "SELECT position FROM webhook_cursors WHERE source = ?", (source,)
            ).fetchone()
            positions[source] = row[0] if row is not None else self._skip_history(source)
        added = 0
        while positions:
            batch: list[tuple[Record, str]] = []
            for source in Sources.NAMES:
                if source in positions:
                    batch.extend(
                        (r, source) for r in self._sources.after(source, positions[source])
                    )
            if not batch:
                break
            batch.sort(key=lambda item: (item[0].happened, item[0].position))
            with self._db:
                for record, source in batch:
                    position = record.position
                    if record.shape is not None:
                        event, class_id, lane, payload = record.shape
                        body = json.dumps(
                            {"event": event, "source_id": f"{source}:{position}",
                             "data": payload},
                            ensure_ascii=False, sort_keys=True,
                        )  # fmt: skip
                        for endpoint_id in active:
                            self._db.execute(
                                "INSERT INTO webhook_outbox (endpoint_id, event, class_id, lane,"
                                " body, created_at, next_attempt_at)"
                                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                                (endpoint_id, event, class_id, lane, body, now, now),
                            )
                            added += 1
                    positions[source] = max(positions[source], position)
                for source, position in positions.items():
                    self._db.execute(
                        "UPDATE webhook_cursors SET position = ? WHERE source = ?",
                        (position, source),
                    )
        return added

    def _skip_history(self, source: str) -> int:
        """Move a source's cursor to its newest record; returns that position."""
        top = self._sources.top(source)
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO webhook_cursors VALUES (?, ?)", (source, top))
        return top

    # -- delivering -----------------------------------------------------------------------------
    def waiting(self) -> int:
        """Events not yet delivered to an active endpoint nor given up on."""
        row = self._db.execute(
            "SELECT count(*) FROM webhook_outbox o JOIN webhook_endpoints e"
            " ON e.id = o.endpoint_id WHERE o.delivered_at IS NULL AND o.failed_at IS NULL"
            " AND e.disabled_at IS NULL"
        ).fetchone()
        return int(row[0])

    def due(self, now: float, limit: int = 100) -> list[tuple[Delivery, Endpoint, str]]:
        """Rows to send now: per endpoint and lane only the oldest undelivered one."""
        rows = self._db.execute(
            "SELECT o.* FROM webhook_outbox o JOIN webhook_endpoints e ON e.id = o.endpoint_id"
            " WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND e.disabled_at IS NULL"
            " AND o.next_attempt_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM webhook_outbox p WHERE p.endpoint_id = o.endpoint_id"
            " AND p.lane = o.lane AND p.delivered_at IS NULL AND p.failed_at IS NULL"
            " AND p.id < o.id)"
            " ORDER BY o.id LIMIT ?",
            (now, limit),
        ).fetchall()
        return [(_delivery(r), self.endpoint(r["endpoint_id"]), r["body"]) for r in rows]

    def attempted(self, delivery_id: int, now: float, status: int | None, error: str) -> None:
        ok = status is not None and 200 <= status < 300
        with self._db:
            self._db.execute(
                "INSERT INTO webhook_attempts (outbox_id, at, status, error) VALUES (?, ?, ?, ?)",
                (delivery_id, now, status, error[:500]),
            )
            if ok:
                self._db.execute(
                    "UPDATE webhook_outbox SET delivered_at = ?, attempts = attempts + 1,"
                    " last_error = '' WHERE id = ?",
                    (now, delivery_id),
                )
            else:
                attempts = (
                    self._db.execute(
                        "SELECT attempts FROM webhook_outbox WHERE id = ?", (delivery_id,)
                    ).fetchone()[0]
                    + 1
                )
                self._db.execute(
                    "UPDATE webhook_outbox SET attempts = ?, next_attempt_at = ?, last_error = ?,"
                    " failed_at = ? WHERE id = ?",
                    (
                        attempts,
                        now + backoff(attempts),
                        error[:500],
                        now if attempts >= MAX_ATTEMPTS else None,  # given up: lane moves on
                        delivery_id,
                    ),
                )

    def deliveries(self, limit: int = 200) -> list[Delivery]:
        rows = self._db.execute(
            "SELECT * FROM webhook_outbox ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_delivery(r) for r in rows]

    def prune(self, before: float) -> int:
        """Forget events delivered or given up on before ``before`` (and their attempts), and
        those of endpoints disabled before then; returns how many. Events still to deliver to
        an active endpoint are kept however old."""
        # The newest row always stays: SQLite gives the next row the highest id plus one, and
        # an id is the X-Sabaq-Delivery a portal may drop duplicates by, so none is reused.
        done = (
            "(delivered_at < ?1 OR failed_at < ?1 OR endpoint_id IN (SELECT id FROM"
            " webhook_endpoints WHERE disabled_at < ?1))"
            " AND id < (SELECT MAX(id) FROM webhook_outbox)"
        )
        with self._db:
            self._db.execute(
                "DELETE FROM webhook_attempts WHERE outbox_id IN"  # noqa: S608
                f" (SELECT id FROM webhook_outbox WHERE {done})",
                (before,),
            )
            cur = self._db.execute(
                f"DELETE FROM webhook_outbox WHERE {done}",  # noqa: S608
                (before,),
            )
        return cur.rowcount


def _delivery(r: sqlite3.Row) -> Delivery:
    return Delivery(
        r["id"], r["endpoint_id"], r["event"], r["class_id"], r["created_at"], r["attempts"],
        r["delivered_at"], r["last_error"], r["failed_at"],
    )  # fmt: skip
