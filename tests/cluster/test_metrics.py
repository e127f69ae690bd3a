"""/metrics on a cluster's real processes: the control node and a media node, scraped and parsed
while a class runs on the media node."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import ClientSession

from tests.cluster_procs import Cluster, cluster, teacher_and_student
from tests.conftest import Academy
from tests.redis_server import RedisServer
from tests.scrape import names, scrape, value

__all__ = ["cluster"]

pytestmark = pytest.mark.timeout(60)


async def test_the_control_node_and_a_media_node_are_scraped(
    cluster: tuple[Cluster, RedisServer, Academy],
) -> None:
    c, _, a = cluster
    media = c.media("media-1")
    media.start()
    await media.ready()
    control = c.control()
    control.start()
    await control.ready()
    _, student = await teacher_and_student(c, control, a)
    assert student.peer is not None
    await student.peer.wait_frames(5, timeout=20)

    on_media = await scrape(f"{media.base}/metrics")
    assert value(on_media, "sabaq_info", role="media", node="media-1") == 1
    assert value(on_media, "sabaq_rooms") == 1
    assert value(on_media, "sabaq_participants", role="host") == 1
    assert value(on_media, "sabaq_participants", role="learner") == 1
    assert value(on_media, "sabaq_join_latency_seconds_count") == 2
    assert value(on_media, "sabaq_forwarded_packets_total") > 0
    assert value(on_media, "sabaq_event_loop_lag_seconds_count") > 0
    assert value(on_media, "sabaq_events_dead_lettered") == 0
    assert "sabaq_webhook_queue" not in names(on_media)  # no database on a media node

    # The joins reach the ledger: nothing waits in the stream then.
    async with asyncio.timeout(10):
        while (
            value(on_control := await scrape(f"{control.base}/metrics"), "sabaq_events_pending")
            != 0
        ):
            await asyncio.sleep(0.1)
    assert value(on_control, "sabaq_info", role="control", node="") == 1
    assert value(on_control, "sabaq_ingest_lag_seconds") == 0
    assert value(on_control, "sabaq_events_dead_lettered") == 0
    assert value(on_control, "sabaq_webhook_queue") == 0
    assert value(on_control, "sabaq_mail_queue") == 0
    assert value(on_control, "sabaq_event_loop_lag_seconds_count") > 0
    assert "sabaq_rooms" not in names(on_control)  # the media is elsewhere

    # Through the TLS front (which routes /nodes/<name>/ to a media node), refused.
    async with ClientSession() as http:
        for base in (media.base, control.base):
            headers = {"X-Forwarded-For": "203.0.113.7"}
            async with http.get(f"{base}/metrics", headers=headers) as resp:
                assert resp.status == 403, base
