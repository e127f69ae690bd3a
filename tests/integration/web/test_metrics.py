"""``/metrics`` of a live single process while a class with real aiortc peers runs: what it
reports matches the class, the forwarding counters move, the histograms fill; and who may read
it (this machine, or the bearer of the metrics token)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from tests.conftest import Academy, SignIn, free_port
from tests.peers import join, publish
from tests.scrape import scrape, value
from web.core.app import create_app
from web.core.settings import Settings

pytestmark = pytest.mark.timeout(30)


async def test_a_live_class_as_the_metrics_show_it(
    served: TestServer, academy: Academy, sign_in: SignIn
) -> None:
    teacher = await join(sign_in(academy.teacher_id), academy.class_id)
    await publish(teacher)
    students = [await join(sign_in(u), academy.class_id) for u in academy.student_ids[:2]]
    for s in students:
        await s.wait_frames(5)
    first = await scrape(str(served.make_url("/metrics")))
    assert value(first, "sabaq_info", role="serve", node="media-1") == 1
    assert value(first, "sabaq_rooms") == 1
    assert value(first, "sabaq_participants", role="host") == 1
    assert value(first, "sabaq_participants", role="learner") == 2
    assert value(first, "sabaq_participants", role="guest") == 0
    # Three joins, each counted once, from its join message to its welcome.
    assert value(first, "sabaq_join_latency_seconds_count") == 3
    assert value(first, "sabaq_join_latency_seconds_bucket", le="+Inf") == 3
    assert 0 < value(first, "sabaq_join_latency_seconds_sum") < 3 * 5
    # Counted, though there may be none yet: a viewer that comes in just after a keyframe is
    # started from it without asking the publisher.
    assert value(first, "sabaq_keyframe_requests_total") >= 0
    for name in ("sabaq_send_errors_total", "sabaq_backlog_skips_total"):
        assert value(first, name) == 0, name
    assert value(first, "sabaq_nacks_total") >= value(first, "sabaq_retransmitted_packets_total")
    assert value(first, "sabaq_event_loop_lag_seconds_count") > 0
    assert value(first, "sabaq_events_dead_lettered") == 0
    assert value(first, "sabaq_mail_queue") == 0  # no SMTP: nothing is queued
    assert value(first, "sabaq_webhook_queue") == 0
    assert value(first, "process_cpu_seconds_total") > 0

    before = students[0].frames
    await students[0].wait_frames(before + 5)
    second = await scrape(str(served.make_url("/metrics")))
    for name in ("sabaq_forwarded_packets_total", "sabaq_forwarded_bytes_total"):
        assert value(second, name) > value(first, name) > 0, name
    assert value(second, "sabaq_event_loop_lag_seconds_count") > value(
        first, "sabaq_event_loop_lag_seconds_count"
    )

    # A student leaves: the participants follow; what was forwarded to them is still counted.
    await students[1].send("leave")
    await students[1].wait_closed()
    async with asyncio.timeout(5):
        while (
            value(
                third := await scrape(str(served.make_url("/metrics"))),
                "sabaq_participants",
                role="learner",
            )
            != 1
        ):
            await asyncio.sleep(0.05)
    assert value(third, "sabaq_forwarded_packets_total") >= value(
        second, "sabaq_forwarded_packets_total"
    )
    for p in (teacher, *students):
        await p.close()


@pytest.fixture
async def server_with(settings: Settings) -> AsyncIterator[list[TestServer]]:
    """Servers of the application with other settings, beside the test's own (each with its
    own registry: several in one process do not collide)."""
    servers: list[TestServer] = []
    yield servers
    for s in servers:
        await s.close()


async def start(servers: list[TestServer], settings: Settings) -> TestServer:
    own = dataclasses.replace(
        settings, data_dir=settings.data_dir.with_name(f"other-{len(servers)}")
    )
    server = TestServer(create_app(own), host="127.0.0.1", port=free_port())
    await server.start_server()
    servers.append(server)
    return server


async def status(server: TestServer, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        ClientSession() as http,
        http.get(server.make_url("/metrics"), headers=headers) as resp,
    ):
        return resp.status, await resp.text()


async def test_only_this_machine_reads_the_metrics_without_a_token(
    served: TestServer, settings: Settings, server_with: list[TestServer]
) -> None:
    assert (await status(served, {}))[0] == 200
    # Through a proxy (the TLS front adds its headers), the client is elsewhere: refused.
    code, text = await status(served, {"X-Forwarded-For": "203.0.113.7"})
    assert code == 403
    assert "SABAQ_METRICS_TOKEN" in text
    assert (await status(served, {"Forwarded": "for=203.0.113.7"}))[0] == 403
    # Behind the front as compose runs it: the client's own address is believed, and refused.
    behind = await start(server_with, dataclasses.replace(settings, behind_proxy=True))
    code, _ = await status(behind, {"X-Forwarded-For": "198.51.100.20"})
    assert code == 403
    assert (await status(behind, {}))[0] == 200


async def test_with_a_token_only_its_bearer_reads_the_metrics(
    settings: Settings, server_with: list[TestServer]
) -> None:
    token = "m" * 40
    server = await start(server_with, dataclasses.replace(settings, metrics_token=token))
    code, text = await status(server, {})
    assert code == 401
    assert "Bearer" in text
    assert (await status(server, {"Authorization": "Bearer " + "x" * 40}))[0] == 403
    assert (await status(server, {"Authorization": "Basic " + token}))[0] == 401
    right = {"Authorization": f"Bearer {token}"}
    assert (await status(server, right))[0] == 200
    # From elsewhere too, with the token (a Prometheus on another machine).
    assert (await status(server, {**right, "X-Forwarded-For": "203.0.113.7"}))[0] == 200
    samples = await scrape(str(server.make_url("/metrics")), right)
    assert value(samples, "sabaq_rooms") == 0
