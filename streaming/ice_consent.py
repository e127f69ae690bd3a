"""ICE consent freshness (RFC 7675) that a busy machine does not mistake for a lost peer.

aioice 0.13 checks consent every ~5 s with one STUN request and no retransmission, so a
response later than 500 ms counts as a failure; six failures in a row and it closes the
connection. On a loaded media node (its event loop some hundred milliseconds late, the
browsers' network threads starved too) that happens to live peers: measured with six Chromium
participants in a seminar on a 2-core box at load ~20, consent answers took 0.2-0.9 s, dozens
of checks "failed", and five of the six publishers' connections were closed at once. aiortc
reports such a close as ``closed``, not ``failed``, so the room noticed only when the
publisher's silence watchdog fired 15 s later and dropped the participant, whose page then
joined again as someone new: cameras vanished from every gallery and came back without video.

RFC 7675 says consent expires when no response to any consent request has arrived for 30
seconds. That is what this does: each check is retransmitted (answered within a few seconds it
counts), and the connection is closed only after ``CONSENT_EXPIRY`` seconds without any answer
and without any packet from the peer. The second half is ours: in the same seminar, with
retransmitted checks, some publishers' browsers answered no check for 33-39 s while their
camera's packets kept arriving on that very path (the publisher's silence watchdog had not
fired); a peer that sends us media on the pair has not gone away. Only packets from a
nominated pair's remote address count: anyone else who learns the port and sends to it does not
keep a departed peer's connection (and what it holds) alive.

It replaces ``aioice.ice.Connection.query_consent`` and wraps
``aioice.ice.StunProtocol.datagram_received`` (to note when, and from which address, the peer
was last heard) for the whole process: ``install()``, which ``aiortc_media`` calls at import. It
uses aioice's internals ``Connection._nominated``, ``build_request``, ``remote_password``,
``_query_consent_task``, ``close()`` and ``StunProtocol.receiver``; the version is pinned
(``aiortc_forward.AIOICE_VERSION``) and ``install()`` checks that they are there.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import aioice.ice
from aioice import stun

log = logging.getLogger("sabaq.streaming.media")

# Seconds with no answer to a consent check (RFC 7675 section 5.1) and no packet from the peer.
CONSENT_EXPIRY = 30.0
# A check is sent again after 0.5 s and 1.5 s: an answer within 3.5 s counts.
CONSENT_RETRANSMISSIONS = 2
# On a connection: when a packet (not STUN) last came from a nominated pair's remote address.
_HEARD = "_sabaq_heard_at"
_stock_datagram_received = aioice.ice.StunProtocol.datagram_received


class ConsentInternalsChanged(RuntimeError):
    pass


async def query_consent(self: aioice.ice.Connection) -> None:
    """Check consent every ``aioice.ice.CONSENT_INTERVAL`` (±20 %) seconds; close the
    connection once for ``CONSENT_EXPIRY`` seconds no check has been answered and no packet
    came from the peer."""
    assert self.remote_password is not None  # as aioice: checks start once connect() has it
    answered = time.monotonic()
    while True:
        jitter = 0.8 + 0.4 * random.random()  # noqa: S311 (spreads the checks, not a secret)
        await asyncio.sleep(aioice.ice.CONSENT_INTERVAL * jitter)
        for pair in list(self._nominated.values()):
            request = self.build_request(pair, nominate=False)
            try:
                await pair.protocol.request(
                    request,
                    pair.remote_addr,
                    integrity_key=self.remote_password.encode("utf8"),
                    retransmissions=CONSENT_RETRANSMISSIONS,
                )
                answered = time.monotonic()
            except stun.TransactionError:
                pass
            silent = time.monotonic() - max(answered, getattr(self, _HEARD, 0.0))
            if silent >= CONSENT_EXPIRY:
                log.info("ICE consent expired: nothing from the peer for %.1f s", silent)
                self._query_consent_task = None
                await self.close()
                return


def datagram_received(self: aioice.ice.StunProtocol, data: bytes | str, addr: Any) -> None:
    # RFC 7983: a first byte of 0-3 is STUN (answered or not, it is the check's business);
    # DTLS, RTP and RTCP come after it.
    if data and isinstance(data, bytes) and data[0] > 3:
        connection = self.receiver
        host, port = addr[0], addr[1]
        nominated = getattr(connection, "_nominated", None) or {}
        if any(p.remote_addr[0] == host and p.remote_addr[1] == port for p in nominated.values()):
            setattr(connection, _HEARD, time.monotonic())  # one float: nothing grows
    _stock_datagram_received(self, data, addr)


def install() -> None:
    """Use this consent check in every ICE connection of the process."""
    connection = aioice.ice.Connection
    missing = [
        name
        for name in ("query_consent", "build_request", "close")
        if not callable(getattr(connection, name, None))
    ]
    if not callable(getattr(aioice.ice.StunProtocol, "datagram_received", None)):
        missing.append("StunProtocol.datagram_received")
    if missing or not isinstance(getattr(aioice.ice, "CONSENT_INTERVAL", None), int | float):
        raise ConsentInternalsChanged(f"aioice's Connection lacks {missing or 'CONSENT_INTERVAL'}")
    connection.query_consent = query_consent  # type: ignore[method-assign]
    aioice.ice.StunProtocol.datagram_received = datagram_received  # type: ignore[method-assign]
