"""Join latency: a burst of N simultaneous aiortc viewers, WebSocket open → first video frame.

The server runs in its own process (``sabaq``'s app on a loopback port, seeded with one class
and N students); the viewers run in this process. The baseline in the same run is a single
viewer joining alone, so a burst's cost shows as its distance from that row.

    .venv/bin/python -m bench.join --bursts 1,10,25
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, WSMsgType, web
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from access.models import ClassRole, Role
from scheduler.models import ClassFormat, ClassKind
from streaming.aiortc_media import advertise_host_addresses
from streaming.room import MediaBackend
from web import keys
from web.app import create_app
from web.settings import Settings


async def seed_bench_class(
    data_dir: str, students: int, media: MediaBackend | None = None
) -> dict[str, Any]:
    """Serve the app on a free loopback port with one class of ``students`` learners.

    Returns the WebSocket URL and join tokens (teacher, then each student)."""
    settings = Settings(
        data_dir=Path(data_dir),
        secret_key=secrets.token_bytes(32),
        port=0,
        ice_addresses=("127.0.0.1",),
    )
    app = create_app(settings, media)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    acc, tt, signer = app[keys.ACCOUNTS], app[keys.TIMETABLE], app[keys.SIGNER]
    teacher = acc.create_user(login="teacher", full_name="Teacher", role=Role.TEACHER).id
    inst = tt.add_institute("I", None)
    dept = tt.add_department(inst.id, "D", None)
    group = tt.add_group("G", dept.id, "ru", "Asia/Almaty")
    tt.add_teacher(group.id, teacher)
    ids = [
        acc.create_user(login=f"s{i:04d}", full_name=f"S{i}", role=Role.STUDENT).id
        for i in range(students)
    ]
    tt.add_members(group.id, ids)
    now = datetime.now(UTC)
    c = tt.add_class(
        title="Bench",
        kind=ClassKind.LECTURE,
        format=ClassFormat.LIVE_ONLINE,
        teacher_id=teacher,
        starts_at=now,
        ends_at=now + timedelta(hours=2),
        group_ids=(group.id,),
    )

    def token(uid: int, role: ClassRole) -> str:
        return signer.mint_join(
            user_id=uid, class_id=c.id, role=role, display_name=str(uid), media_url="", ttl=3600
        )

    return {
        "url": f"ws://127.0.0.1:{port}/media/classes/{c.id}/ws",
        "teacher": token(teacher, ClassRole.HOST),
        "students": [token(u, ClassRole.LEARNER) for u in ids],
    }


def _serve(data_dir: str, students: int, out: Any) -> None:
    async def main() -> None:
        out.send(await seed_bench_class(data_dir, students))
        await asyncio.Event().wait()

    asyncio.run(main())


class _Participant:
    def __init__(self, session: ClientSession, url: str, token: str) -> None:
        self.session, self.url, self.token = session, url, token
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.first_frame = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task[None]] = set()

    async def watch(self) -> float:
        """Join as a viewer; seconds from WebSocket open to the first video frame."""
        start = time.perf_counter()
        ws = await self.session.ws_connect(self.url)
        await ws.send_str(json.dumps({"v": 1, "type": "join", "token": self.token}))

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self._tasks.add(asyncio.create_task(self._first(track)))

        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                break
            doc = json.loads(msg.data)
            if doc["type"] == "offer":
                await self.pc.setRemoteDescription(RTCSessionDescription(doc["sdp"], "offer"))
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                sdp = self.pc.localDescription.sdp
                await ws.send_str(
                    json.dumps({"v": 1, "type": "answer", "sdp": sdp, "offer_id": doc["offer_id"]})
                )
                await asyncio.wait_for(self.first_frame, 30)
                return time.perf_counter() - start
        raise RuntimeError("the server closed before sending media")

    async def _first(self, track: MediaStreamTrack) -> None:
        await track.recv()
        if not self.first_frame.done():
            self.first_frame.set_result(None)


async def _publish(session: ClientSession, url: str, token: str) -> asyncio.Task[None]:
    """The teacher publishes; the returned task keeps their WebSocket read until cancelled."""
    from tests.peers import MovingVideo

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(MovingVideo())
    ws = await session.ws_connect(url)
    await ws.send_str(json.dumps({"v": 1, "type": "join", "token": token}))
    await pc.setLocalDescription(await pc.createOffer())
    await ws.send_str(json.dumps({"v": 1, "type": "publish", "sdp": pc.localDescription.sdp}))
    answered = asyncio.get_running_loop().create_future()

    async def read() -> None:
        try:
            async for msg in ws:  # reading also answers the server's heartbeat pings
                doc = json.loads(msg.data)
                if doc["type"] == "answer":
                    await pc.setRemoteDescription(RTCSessionDescription(doc["sdp"], "answer"))
                    answered.set_result(None)
        finally:
            await pc.close()
            await ws.close()

    task = asyncio.create_task(read())
    await asyncio.wait_for(answered, 10)
    return task


async def run(
    bursts: list[int], grant: dict[str, Any]
) -> list[tuple[str, int, float, float, float]]:
    advertise_host_addresses(["127.0.0.1"])  # the load generator's peers stay on loopback too
    rows = []
    async with ClientSession() as session:
        teacher = await _publish(session, grant["url"], grant["teacher"])
        tokens = iter(grant["students"])
        for n in bursts:
            viewers = [_Participant(session, grant["url"], next(tokens)) for _ in range(n)]
            times = sorted(await asyncio.gather(*(v.watch() for v in viewers)))
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            label = "alone (baseline)" if n == 1 else "burst"
            rows.append((label, n, statistics.median(times) * 1000, p95 * 1000, times[-1] * 1000))
            await asyncio.gather(*(v.pc.close() for v in viewers))
        teacher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await teacher
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bursts", default="1,10,25", help="comma-separated burst sizes")
    args = parser.parse_args()
    bursts = [int(b) for b in args.bursts.split(",")]
    if bursts[0] != 1:
        bursts.insert(0, 1)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = multiprocessing.get_context("spawn")  # a clean interpreter, no inherited loop state
        parent, child = ctx.Pipe()
        server = ctx.Process(target=_serve, args=(tmp, sum(bursts), child), daemon=True)
        server.start()
        child.close()  # so that a server that dies makes recv() raise instead of waiting
        try:
            if not parent.poll(60):
                raise SystemExit("bench: the server did not start within 60 s")
            grant = parent.recv()
            rows = asyncio.run(run(bursts, grant))
        finally:
            server.terminate()
            server.join(5)
    print("| join | viewers | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for label, n, p50, p95, worst in rows:
        print(f"| {label} | {n} | {p50:.0f} | {p95:.0f} | {worst:.0f} |")


if __name__ == "__main__":
    main()
