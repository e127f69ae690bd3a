"""Seeing at once that a media node's process is gone (DESIGN.md, "Two deployments").

Heartbeats judge a node by silence, so they must wait long enough for a loaded node's beat to
be late (``SABAQ_NODE_DEAD_AFTER_SECONDS``, 15 s). A killed process says more, and at once: the
kernel closes its sockets. The control node holds a watch on each live node — ``GET
/node/watch`` on the node's own address (``web.core.node_life``), an answer that starts with
the node's id and never ends while the process lives. When it ends without the node's
``stopping`` (a shutdown on purpose, which the node's leaving the registry takes care of), the
address is tried again at once:

- connection refused: nothing listens there any more — the process is gone;
- another node's id answers: the process was replaced by a new one — the old one is gone;
- no answer in time, or the same node: nothing is concluded (a box cut off, a loaded node).

Only a node reached once at that address is judged, so a wrong address never condemns a live
node; a node that is only slow — a loaded box, a stopped process — keeps its connection open and
is judged by heartbeats as before. What is gone is declared dead by the registry's watch
(``control.registry``), with the same cut-off as a silence."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import aiohttp

from streaming.cluster_keys import NodeInfo

log = logging.getLogger("sabaq.control.node_watch")

STOPPING = "stopping"


class NodeWatch:
    """The watches of the live nodes; ``gone`` holds the ids of those whose process is gone.
    ``woken`` is called when one is found gone (the cluster loop looks at once)."""

    def __init__(
        self,
        *,
        connect_timeout: float = 1.0,
        retry: float = 1.0,
        woken: Callable[[], None] = lambda: None,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._retry = retry
        self._woken = woken
        self._session: aiohttp.ClientSession | None = None
        self._watches: dict[str, asyncio.Task[None]] = {}
        self.gone: set[str] = set()

    def follow(self, nodes: Mapping[str, NodeInfo]) -> None:
        """Watch each of these nodes that names where (once); stop watching the others."""
        for node_id, info in nodes.items():
            if info.watch and node_id not in self._watches and node_id not in self.gone:
                self._watches[node_id] = asyncio.create_task(
                    self._watch(node_id, info.watch), name=f"sabaq-node-watch-{node_id}"
                )
        for node_id in set(self._watches) - set(nodes):
            self._watches.pop(node_id).cancel()
        self.gone &= set(nodes)

    async def close(self) -> None:
        watches = list(self._watches.values())
        self._watches.clear()
        for task in watches:
            task.cancel()
        if watches:
            await asyncio.wait(watches, timeout=2)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _found_gone(self, node_id: str, why: str) -> None:
        log.warning("media node %s: %s — its process is gone", node_id, why)
        self.gone.add(node_id)
        self._woken()

    async def _watch(self, node_id: str, url: str) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                # ssl=False: only the node's own id is read; what is concluded is the TCP answer.
                connector=aiohttp.TCPConnector(ssl=False, force_close=True),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
            )
        reached = False
        while True:
            held = False  # the node's answer was being read: its end is news
            try:
                async with self._session.get(url) as resp:
                    first = (await resp.content.readline()).decode(errors="replace").strip()
                    if resp.status != 200 or not first:
                        raise _Unclear(f"answered {resp.status}")
                    if first != node_id:
                        if reached:
                            return self._found_gone(node_id, f"{first} answers at {url}")
                        raise _Unclear(f"{first} answers at {url}")
                    reached = held = True
                    async for line in resp.content:
                        if line.strip() == STOPPING.encode():
                            log.info("media node %s stops on purpose", node_id)
                            return  # it leaves the registry itself
                log.info("media node %s: its watch ended; looking again", node_id)
            except aiohttp.ClientConnectorError as exc:
                if reached and isinstance(exc.os_error, ConnectionRefusedError):
                    return self._found_gone(node_id, f"{url} refuses connections")
                log.debug("media node %s: %s", node_id, exc)
            except (aiohttp.ClientError, TimeoutError, _Unclear) as exc:
                log.log(logging.INFO if held else logging.DEBUG, "media node %s: %s", node_id, exc)
            # A held answer that ended is looked at again at once; anything else a little later.
            await asyncio.sleep(0.05 if held else self._retry)


class _Unclear(Exception):
    """An answer that says nothing about the node's life."""
