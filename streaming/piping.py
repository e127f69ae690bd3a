"""What a participant's socket is to the room's machinery, and a relay node's pipe to a class's
origin (``cascade``): ports, so that ``signaling`` and ``node`` know no relay link."""

from __future__ import annotations

from typing import Protocol

from aiohttp import WSMessage


class Socket(Protocol):
    """A participant's WebSocket as ``signaling`` uses it: aiohttp's, or one piped over a
    relay's link to the class's origin (``cascade_origin.PipedSocket``)."""

    @property
    def closed(self) -> bool: ...
    async def receive(self) -> WSMessage: ...
    async def send_str(self, data: str) -> None: ...
    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


class RelayPipe(Protocol):
    """A relay node's link to the origin of a class it relays (``cascade.RelayLink``)."""

    @property
    def viewers(self) -> int:
        """The viewers whose sockets are piped now."""
        ...

    async def pipe(self, ws: Socket, first: str) -> None:
        """Serve one viewer's socket through the origin: ``first`` (its join or rejoin
        message, authenticated here) and its messages go to the origin's room, what the room
        tells it comes back, its media is served from this node."""
        ...
