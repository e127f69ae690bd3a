"""Signed webhooks for the academy's portal.

What happened is read from the records Sabaq already keeps, each append-only with an
increasing id: the timetable's log (class planned, moved, cancelled, switched online; the
guarantee's alerts), the attendance ledger (class started and ended with its chain head,
participant joined and left), the steps of guest requests and of excuse requests. A collector
turns new records into one outbox row per registered endpoint, advancing its cursor in the
same transaction, so nothing is lost across restarts. A deliverer POSTs each row as JSON with
an HMAC-SHA256 signature over the timestamp and the body, retries with backoff until the
endpoint answers 2xx (at least once), and keeps each class's events in order: a class's next
event waits until the one before it is delivered. Every attempt is logged for staff."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from attendance.models import IGNORED, counts

log = logging.getLogger("sabaq.web.webhooks")

SIGNATURE_HEADER = "X-Sabaq-Signature"
TIMESTAMP_HEADER = "X-Sabaq-Timestamp"
EVENT_HEADER = "X-Sabaq-Event"
DELIVERY_HEADER = "X-Sabaq-Delivery"
MAX_BACKOFF = 3600.0
MAX_URL = 500

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
PASS_BUDGET = 5.0  # seconds one delivery pass may take


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


# -- what each source's records become ----------------------------------------------------------
Row = sqlite3.Row
Shape = tuple[str, int | None, str, dict[str, Any]]  # event, class id, lane, payload


def _timetable(r: Row) -> Shape | None:
    names = {
        "planned": "class.planned",
        "moved": "class.moved",
        "cancelled": "class.cancelled",
        "switched_online": "class.switched_online",
        "switch_undone": "class.switch_undone",
        "missed": "class.missed",
        "alert": "guarantee.alert",
    }
    event = names.get(r["action"])
    if event is None:
        return None
    lane = f"class:{r['class_id']}" if r["class_id"] else f"group:{r['group_id']}"
    return event, r["class_id"], lane, {
        "class_id": r["class_id"], "group_id": r["group_id"], "by": r["by_name"],
        "reason": r["reason"], "at": r["at"],
    }  # fmt: skip


def _ledger(r: Row) -> Shape | None:
    kinds = {
        "class_started": "class.started",
        "class_ended": "class.ended",
        "joined": "participant.joined",
        "reconnected": "participant.joined",
        "left": "participant.left",
        "disconnected": "participant.left",
        "removed": "participant.left",
    }
    event = kinds.get(r["kind"])
    if event is None:
        return None
    if IGNORED in (r["data"] or "") and not counts(json.loads(r["data"])):
        return None  # kept in the register, not counted: the portal is not told
    payload: dict[str, Any] = {
        "class_id": r["class_id"], "at": r["origin_time"], "user_id": r["user_id"],
        "role": r["role"],
    }  # fmt: skip
    if r["kind"] == "class_ended":  # the chain head, to check the register against
        payload["chain_head"] = {"events": r["seq_in_class"], "hash": r["hash"]}
    if r["kind"] in ("left", "disconnected", "removed", "reconnected"):
        payload["how"] = r["kind"]
    if r["role"] in ("guest", "presenter") and r["kind"] == "joined":
        event = "guest.joined"
    return event, r["class_id"], f"class:{r['class_id']}", payload


def _guests(r: Row) -> Shape | None:
    if r["action"] not in ("filed", "approved", "rejected", "revoked"):
        return None
    return f"guest_request.{r['action']}", r["class_id"], f"class:{r['class_id']}", {
        "request_id": r["request_id"], "class_id": r["class_id"], "by": r["actor_name"],
        "comment": r["comment"], "at": r["at"],
    }  # fmt: skip


def _excuses(r: Row) -> Shape | None:
    if r["action"] not in ("approved", "rejected"):
        return None
    return "excuse_request.decided", None, f"excuse:{r['request_id']}", {
        "request_id": r["request_id"], "learner_id": r["learner_id"], "decision": r["action"],
        "by": r["actor_name"], "comment": r["comment"], "at": r["at"],
    }  # fmt: skip


def _admission(r: Row) -> Shape | None:
    return "admission.changed", None, f"learner:{r['learner_id']}", {
        "change_id": r["id"], "learner_id": r["learner_id"], "programme_id": r["programme_id"],
        "discipline_id": r["discipline_id"], "admitted": bool(r["admitted"]),
        "reason": r["reason"], "note": r["note"], "by": r["by_name"], "at": r["at"],
    }  # fmt: skip


SOURCES: tuple[tuple[str, str, Callable[[Row], Shape | None]], ...] = (
    (
        "timetable",
        "SELECT id AS position, at AS happened, * FROM timetable_log WHERE id > ?"
        " ORDER BY id LIMIT 500",
        _timetable,
    ),
    (
        "ledger",
        "SELECT e.seq AS position, e.received_time AS happened, e.*,"
        " CASE WHEN e.kind = 'class_ended' THEN (SELECT COUNT(*) FROM ledger_events x"
        " WHERE x.class_id = e.class_id AND x.seq <= e.seq) END AS seq_in_class"
        " FROM ledger_events e WHERE e.seq > ? ORDER BY e.seq LIMIT 500",
        _ledger,
    ),
    (
        "guests",
        "SELECT s.id AS position, s.at AS happened, s.*, g.class_id FROM guest_steps s"
        " JOIN guest_requests g ON g.id = s.request_id WHERE s.id > ? ORDER BY s.id LIMIT 500",
        _guests,
    ),
    (
        "excuses",
        "SELECT s.id AS position, s.at AS happened, s.*, x.learner_id FROM excuse_steps s"
        " JOIN excuse_requests x ON x.id = s.request_id WHERE s.id > ? ORDER BY s.id LIMIT 500",
        _excuses,
    ),
    (
        "admission",
        "SELECT id AS position, at AS happened, * FROM admission_changes WHERE id > ?"
        " ORDER BY id LIMIT 500",
        _admission,
    ),
)


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# A host whose last label is a number is an IPv4 address to browsers (the URL standard) and to
# resolvers (inet_aton): 127.1, 2130706433, 0x7f000001, 0177.0.0.1 are all 127.0.0.1.
_NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


class AddressRefused(ValueError):
    """A webhook address refused because of the IP address its host stands for: ``problem``
    is ``this_machine`` (this machine, link-local, multicast or unspecified) or
    ``unusual_number`` (an IPv4 address not written as four decimal numbers)."""

    def __init__(self, problem: str, host: str, address: IPAddress) -> None:
        message = {
            "this_machine": "Not this machine, a link-local or a multicast address",
            "unusual_number": "An IP address is written as four decimal numbers",
        }[problem]
        super().__init__(f"{message}: {host} is {address}")
        self.problem = problem
        self.host = host
        self.address = address


def host_address(host: str) -> tuple[IPAddress | None, bool]:
    """The IP address a URL's host stands for, however it is spelled (None for a name), and
    whether it is spelled the usual way."""
    try:
        return ipaddress.ip_address(host.strip("[]")), True
    except ValueError:
        pass
    if not _NUMBER.fullmatch(host.rsplit(".", 1)[-1]):
        return None, True
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host)), False
    except OSError:
        raise ValueError("Not a valid address") from None


def check_url(url: str, allowed_hosts: frozenset[str] = frozenset()) -> str:
    """A webhook address: http(s), a host that can be encoded, not this machine or a
    link-local or multicast address (the academy's LAN is fine) unless explicitly allowed —
    in whatever spelling (127.1, 2130706433, [::ffff:127.0.0.1] are this machine too); an IPv4
    address is written as four decimal numbers."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise ValueError("The address is too long")
    try:
        parsed = yarl.URL(url)
        host = parsed.host or ""
        host.encode("idna")
        for label in host.split("."):
            if not label or len(label) > 63:
                raise ValueError(host)
    except (ValueError, UnicodeError) as exc:
        raise ValueError("Not a valid address") from exc
    if parsed.scheme not in ("https", "http") or not host or parsed.user or parsed.password:
        raise ValueError("A webhook address is https://host/path (or http://)")
    if host in allowed_hosts:
        return url
    if host == "localhost" or host.endswith(".localhost"):
        raise ValueError("Not this machine")
    ip, usual = host_address(host)
    if ip is None:
        return url  # a name: its addresses are checked each time it is resolved to send
    if unreachable(ip):
        raise AddressRefused("this_machine", host, ip)
    if not usual:
        raise AddressRefused("unusual_number", host, ip)
    return url


_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def unreachable(ip: IPAddress) -> bool:
    """An address webhooks do not go to: this machine, link-local (cloud metadata), multicast,
    unspecified — also as the IPv4 address inside an IPv6 one (mapped, compatible, NAT64,
    6to4)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_loopback or ip.is_unspecified:
            return True
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _IPV4_COMPATIBLE or ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip in CLOUD_METADATA
    )


# Instance metadata services that are not link-local (AWS's over IPv6).
CLOUD_METADATA = frozenset({ipaddress.ip_address("fd00:ec2::254")})


class GuardedResolver(AbstractResolver):
    """Resolves a webhook's host keeping only the addresses ``check_url`` would accept, and the
    connection goes to one of those: a name that resolves (or is re-pointed, DNS rebinding) to
    this machine or a link-local address after it was registered is not reached."""

    def __init__(
        self, allowed_hosts: frozenset[str] = frozenset(), inner: AbstractResolver | None = None
    ) -> None:
        self._allowed = allowed_hosts
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if host in self._allowed:
            return found
        kept = [r for r in found if not unreachable(ipaddress.ip_address(r["host"]))]
        if not kept:
            raise OSError(f"{host} resolves only to addresses webhooks may not go to")
        return kept

    async def close(self) -> None:
        await self._inner.close()


class Webhooks:
    """Endpoints, the outbox and the delivery log in SQLite."""

    def __init__(self, db: sqlite3.Connection, allowed_hosts: frozenset[str] = frozenset()) -> None:
        self._db = db
        self._allowed = allowed_hosts

    @property
    def allowed_hosts(self) -> frozenset[str]:
        return self._allowed

    # -- endpoints ------------------------------------------------------------------------------
    def add(self, url: str, by_id: int | None) -> Endpoint:
        """Register an endpoint; it receives what happens from now on (not the past)."""
        url = check_url(url, self._allowed)
        self.collect(time.time())  # what happened before goes to the endpoints there were
        for source, _sql, _shape in SOURCES:  # and nothing of it to the new one
            self._skip_history(source)
        with self._db:
            cur = self._db.execute(
                "INSERT INTO webhook_endpoints (url, secret, created_by, created_at)"
                " VALUES (?, ?, ?, ?)",
                (url, secrets.token_urlsafe(32), by_id, time.time()),
            )
        assert cur.lastrowid is not None
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

    def disable(self, endpoint_id: int) -> None:
        with self._db:
            self._db.execute(
                "UPDATE webhook_endpoints SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL",
                (time.time(), endpoint_id),
            )

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
        for source, _sql, _shape in SOURCES:
            row = self._db.execute(
                "SELECT position FROM webhook_cursors WHERE source = ?", (source,)
            ).fetchone()
            positions[source] = row[0] if row is not None else self._skip_history(source)
        added = 0
        while positions:
            batch: list[tuple[float, int, str, Row, Shape | None]] = []
            for source, sql, shape in SOURCES:
                if source in positions:
                    for r in self._db.execute(sql, (positions[source],)).fetchall():
                        batch.append((r["happened"], r["position"], source, r, shape(r)))
            if not batch:
                break
            batch.sort(key=lambda item: (item[0], item[1]))
            with self._db:
                for _at, position, source, _row, shaped in batch:
                    if shaped is not None:
                        event, class_id, lane, payload = shaped
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
        top = self._top(source)
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO webhook_cursors VALUES (?, ?)", (source, top))
        return top

    def _top(self, source: str) -> int:
        table = {
            "timetable": "SELECT MAX(id) FROM timetable_log",
            "ledger": "SELECT MAX(seq) FROM ledger_events",
            "guests": "SELECT MAX(id) FROM guest_steps",
            "excuses": "SELECT MAX(id) FROM excuse_steps",
            "admission": "SELECT MAX(id) FROM admission_changes",
        }[source]
        return int(self._db.execute(table).fetchone()[0] or 0)

    # -- delivering -----------------------------------------------------------------------------
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


def _delivery(r: Row) -> Delivery:
    return Delivery(
        r["id"], r["endpoint_id"], r["event"], r["class_id"], r["created_at"], r["attempts"],
        r["delivered_at"], r["last_error"], r["failed_at"],
    )  # fmt: skip


async def _send(
    store: Webhooks, session: aiohttp.ClientSession, delivery: Delivery, endpoint: Endpoint,
    body: str, allowed: frozenset[str],
) -> bool:  # fmt: skip
    raw = body.encode()
    stamp = int(time.time())  # when it is sent, not when the pass began
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(endpoint.secret, stamp, raw),
        TIMESTAMP_HEADER: str(stamp),
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.id),
    }
    status: int | None = None
    error = ""
    try:
        check_url(endpoint.url, allowed)  # again: the rules may have changed since it was added
    except ValueError:
        store.attempted(delivery.id, time.time(), None, "address refused")
        return False
    try:
        async with session.post(
            endpoint.url, data=raw, headers=headers, allow_redirects=False
        ) as resp:
            status = resp.status
            if not 200 <= status < 300:
                error = f"HTTP {status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        error = type(exc).__name__
    except Exception as exc:  # a bad address must not stop the others' deliveries
        error = type(exc).__name__
    store.attempted(delivery.id, time.time(), status, error)
    if error:
        log.info("webhook delivery %s to endpoint %s failed: %s", delivery.id, endpoint.id, error)
    return not error


async def deliver_once(store: Webhooks, session: aiohttp.ClientSession, now: float) -> int:
    """Collect, then send what is due — endpoints side by side, each endpoint's lanes one
    after another, a lane's next event as soon as the one before it is through; an endpoint
    that fails is left alone for the rest of the pass. Returns how many were delivered."""
    store.collect(now)
    delivered = 0
    resting: set[int] = set()
    deadline = time.monotonic() + PASS_BUDGET
    while time.monotonic() < deadline:
        due = [d for d in store.due(now) if d[1].id not in resting]
        if not due:
            break
        by_endpoint: dict[int, list[tuple[Delivery, Endpoint, str]]] = {}
        for item in due:
            by_endpoint.setdefault(item[1].id, []).append(item)

        async def run(items: list[tuple[Delivery, Endpoint, str]]) -> int:
            done = 0
            for delivery, endpoint, body in items:
                if await _send(store, session, delivery, endpoint, body, store.allowed_hosts):
                    done += 1
                else:
                    resting.add(endpoint.id)
                    break
            return done

        results = await asyncio.gather(*(run(items) for items in by_endpoint.values()))
        if not sum(results):
            break
        delivered += sum(results)
    return delivered


@contextlib.asynccontextmanager
async def running(store: Webhooks, every: float) -> AsyncIterator[None]:
    """The deliverer, while the application runs."""
    timeout = aiohttp.ClientTimeout(total=10)

    async def loop() -> None:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(store.allowed_hosts))
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            pruned = 0.0
            while True:
                try:
                    await deliver_once(store, session, time.time())
                    if time.time() - pruned > PRUNE_EVERY:
                        pruned = time.time()
                        store.prune(pruned - KEEP_LOG)
                except Exception:
                    log.exception("webhook delivery failed; trying again")
                await asyncio.sleep(every)

    task = asyncio.create_task(loop(), name="sabaq-webhooks")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
