"""Datagram sockets drained in batches: each time a UDP socket is readable, up to ``DRAIN``
datagrams are read, not one.

asyncio's selector datagram transport reads a single datagram per readiness, so a socket gets
one read per turn of the event loop. On a media node a turn can take milliseconds (a frame
forwarded to every viewer), and a publisher's socket then drains at a few hundred datagrams a
second: a keyframe's burst of 40 packets, plus the next frames, overflows the socket's buffer
and is lost, the viewers ask for another keyframe, and the stage's frame rate collapses. Read in
batches, the socket keeps up with the burst, and the loop does one turn's overhead for many
datagrams.

``install()`` (called by ``aiortc_media`` at import) replaces ``_read_ready`` of asyncio's
``_SelectorDatagramTransport`` for the whole process; ``install()`` checks that the class and
its ``_read_ready`` and ``max_size`` are there (the instance's ``_sock``, ``_protocol``,
``_conn_lost``, ``_closing`` and ``_fatal_error`` have been asyncio's since Python 3.4).
"""

from __future__ import annotations

import asyncio.selector_events as selector_events
from typing import Any

DRAIN = 64  # datagrams read at most per readiness: bounded, so one socket cannot hog a turn

_Transport: Any = getattr(selector_events, "_SelectorDatagramTransport", None)


class DatagramInternalsChanged(RuntimeError):
    pass


def _read_ready(self: Any) -> None:
    for _ in range(DRAIN):
        if self._conn_lost or self._closing:  # closed by the protocol inside the batch
            return
        try:
            data, addr = self._sock.recvfrom(self.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._protocol.error_received(exc)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on datagram transport")
            return
        self._protocol.datagram_received(data, addr)


def install() -> None:
    """Drain every datagram socket of the process in batches (see the module's docstring)."""
    if _Transport is None or not callable(getattr(_Transport, "_read_ready", None)):
        raise DatagramInternalsChanged("asyncio has no _SelectorDatagramTransport._read_ready")
    if not isinstance(getattr(_Transport, "max_size", None), int):
        raise DatagramInternalsChanged("asyncio's datagram transport has no max_size")
    _Transport._read_ready = _read_ready
