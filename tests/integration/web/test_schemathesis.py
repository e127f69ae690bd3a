"""schemathesis against the running application over loopback: every operation of the OpenAPI
document, authenticated with an API key, with inputs generated from the document (valid ones
and, for bodies, invalid ones): no server error, and every answer as the document says."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from access.api_keys import Scope
from tests.conftest import free_port, seed_academy
from web.api.openapi import document
from web.core import keys
from web.core.app import ROUTE_TABLES, create_app
from web.core.settings import Settings

SCHEMA = schemathesis.openapi.from_dict(document(chain.from_iterable(ROUTE_TABLES)))
OPERATIONS: list[schemathesis.APIOperation[Any, Any, Any, Any]] = [
    result.ok()  # type: ignore[union-attr]  # the document is ours: every operation loads
    for result in SCHEMA.get_all_operations()
]


@pytest.fixture(scope="module")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The whole application on a loopback port, in a thread of its own (schemathesis calls
    it with blocking requests); yields its base URL and an API key with every scope."""
    data: Path = tmp_path_factory.mktemp("data")
    settings_ = Settings(
        data_dir=data, secret_key=secrets.token_bytes(32), ice_addresses=("127.0.0.1",),
        guarantee_interval_seconds=0, webhook_interval_seconds=0,
        signin_attempts=1000, join_tokens_per_minute=1000,
    )  # fmt: skip
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, object] = {}

    async def start() -> None:
        app = create_app(settings_)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        academy = seed_academy(app)
        _key, secret = app[keys.API_KEYS].create("schemathesis", frozenset(Scope), academy.staff_id)
        box.update(runner=runner, secret=secret)
        ready.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(20), "the application did not start"
    yield f"http://127.0.0.1:{port}", str(box["secret"])
    runner = box["runner"]
    assert isinstance(runner, web.AppRunner)
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(20)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_conforms(
    running_app: tuple[str, str],
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
) -> None:
    base_url, secret = running_app
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {secret}"

    @settings(
        max_examples=25, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode))
        if mode is GenerationMode.NEGATIVE:
            # Invalid input: never a server error, and an answer the document lists.
            response = case.call(base_url=base_url, session=session)
            assert response.status_code < 500, (case.path, response.status_code, response.text)
            assert str(response.status_code) in operation.definition.raw["responses"]
        else:
            # Rules the schema cannot say (a range's end before its start, a clash in the
            # timetable, a class in the past) may refuse valid-looking input with a documented
            # 4xx; everything else is checked: no 5xx, statuses, content types, bodies.
            case.call_and_validate(
                base_url=base_url,
                session=session,
                excluded_checks=[schemathesis.checks.positive_data_acceptance],
            )

    check()
