"""The application factory: every resource is a cleanup context, wired in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from aiohttp import web

from access.passwords import Passwords
from access.throttle import Limits
from access.tokens import TokenSigner
from control.changes import Changes
from control.environment import ConfigError
from streaming.room import MediaBackend
from streaming.signaling import create_signaling_app

from ..api import admission as admission_api
from ..api import audit as audit_api
from ..api import calendar as calendar_api
from ..api import classes as classes_api
from ..api import excuses as excuses_api
from ..api import groups as groups_api
from ..api import guests as guests_api
from ..api import notices as notices_api
from ..api import openapi as openapi_api
from ..api import people as people_api
from ..api import reports as reports_api
from ..api import structure as structure_api
from ..api import switches as switches_api
from ..api import timetable as timetable_api
from ..pages import (
    academy_calendar,
    agencies,
    attendance,
    audit,
    group_import,
    health,
    home,
    invites,
    notices,
    people,
    people_import,
    planning,
    profile,
    signin,
    structure,
)
from ..pages.admission import routes as admission_routes
from ..pages.apikeys import routes as apikey_routes
from ..pages.classes import routes as class_routes
from ..pages.excuses import routes as excuse_routes
from ..pages.groups import routes as group_routes
from ..pages.guests import routes as guest_routes
from ..pages.ical import routes as ical_routes
from ..pages.mail import routes as mail_routes
from ..pages.practice import routes as practice_routes
from ..pages.programmes import routes as programme_routes
from ..pages.reports import routes as report_routes
from ..pages.timetable import routes as timetable_routes
from . import keys, node_life
from .contexts import (
    chain_digests,
    cluster_media_node,
    control_node,
    disconnect_participants,
    hr_mail,
    mail_delivery,
    media_plane,
    metrics,
    monthly_guarantee,
    notice_collector,
    notice_mail,
    open_database,
    practice_rooms,
    recording_retention,
    webhook_delivery,
)
from .http import MAX_BODY, templates
from .i18n import load_catalogues
from .metrics import metrics_view
from .middlewares import body_deadline, middlewares, server_limits
from .offload import control_threads
from .settings import Settings

STATIC = Path(__file__).parents[1] / "static"
# Every route of the application, in the order they are added; the API's document is built
# from its routes (web/openapi.py).
ROUTE_TABLES = (
    health.routes, signin.routes, home.routes, class_routes, attendance.routes, report_routes,
    reports_api.routes, excuse_routes, excuses_api.routes, admission_routes, admission_api.routes,
    practice_routes, timetable_routes, planning.routes, timetable_api.routes, openapi_api.routes,
    group_routes, group_import.routes, programme_routes, guest_routes, invites.routes,
    apikey_routes, classes_api.routes, groups_api.routes, guests_api.routes, ical_routes,
    structure.routes, agencies.routes, structure_api.routes,
    people_import.routes, people.routes, profile.routes, people_api.routes,
    notices.routes, notices_api.routes, academy_calendar.routes, calendar_api.routes,
    switches_api.routes,
    notices.routes, notices_api.routes, audit.routes, audit_api.routes, mail_routes,
)  # fmt: skip
Role = Literal["serve", "control"]


def create_app(
    settings: Settings, media: MediaBackend | None = None, role: Role = "serve"
) -> web.Application:
    """The application: ``serve`` holds both planes; ``control`` is a cluster's control node
    (its media nodes are ``create_media_app``). ``media`` replaces the forwarding backend
    (benchmarks compare)."""
    if role == "control" and not settings.redis_url:
        raise ConfigError(
            "`sabaq control` runs a cluster: set REDIS_URL (or run `sabaq serve`, one process)."
        )
    app = web.Application(
        middlewares=middlewares(settings),
        client_max_size=MAX_BODY,
        handler_args=server_limits(settings),
    )
    app[keys.SETTINGS] = settings
    app[keys.MEDIA_BACKEND] = media
    app[keys.PASSWORDS] = Passwords()
    app[keys.SIGNER] = TokenSigner(settings.secret_key, settings.clock)
    app[keys.TEMPLATES] = templates()
    app[keys.CHANGES] = Changes()
    app[keys.LIMITS] = Limits.of(
        max(1, settings.signin_attempts),
        settings.signin_window_seconds,
        max(1, settings.join_tokens_per_minute),
        settings.signin_wait_seconds,
    )
    app[keys.CATALOGUES] = load_catalogues(settings.languages)
    app.cleanup_ctx.append(metrics(role))
    app.cleanup_ctx.append(open_database)
    app.cleanup_ctx.append(control_threads)
    app.cleanup_ctx.append(control_node if role == "control" else media_plane)
    app.cleanup_ctx.append(practice_rooms)
    app.cleanup_ctx.append(recording_retention)
    app.cleanup_ctx.append(chain_digests)
    app.cleanup_ctx.append(monthly_guarantee)
    app.cleanup_ctx.append(webhook_delivery)
    app.cleanup_ctx.append(mail_delivery)
    app.cleanup_ctx.append(notice_collector)
    app.cleanup_ctx.append(notice_mail)
    app.cleanup_ctx.append(hr_mail)
    app.on_shutdown.append(disconnect_participants)
    for table in ROUTE_TABLES:
        app.add_routes(table)
    if role == "serve":
        app.add_subapp("/media/", create_signaling_app())
    app.router.add_static("/static", STATIC, name="static", append_version=True)
    app.router.add_get("/favicon.ico", _favicon)
    app.router.add_get("/metrics", metrics_view)
    return app


async def _favicon(request: web.Request) -> web.Response:
    """Where a browser that guesses the icon's address finds it (the pages name it)."""
    raise web.HTTPMovedPermanently("/static/favicon.svg")


async def _alive(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_media_app(settings: Settings, media: MediaBackend | None = None) -> web.Application:
    """`sabaq media`: a cluster's media node — rooms and signaling, no database."""
    if not settings.redis_url:
        raise ConfigError(
            "`sabaq media` runs a cluster: set REDIS_URL (or run `sabaq serve`, one process)."
        )
    if not settings.media_url:
        raise ConfigError(
            "`sabaq media` needs SABAQ_MEDIA_URL: the address browsers reach this node's"
            " signaling at (like https://sabaq.example.edu/nodes/media-1/media)."
        )
    app = web.Application(
        middlewares=[body_deadline(settings.body_timeout_seconds)],
        client_max_size=MAX_BODY,
        handler_args=server_limits(settings),
    )
    app[keys.SETTINGS] = settings
    app[keys.MEDIA_BACKEND] = media
    app[keys.SIGNER] = TokenSigner(settings.secret_key, settings.clock)
    app.cleanup_ctx.append(metrics("media"))
    app.cleanup_ctx.append(cluster_media_node)
    app.cleanup_ctx.append(recording_retention)
    app[node_life.LIFE] = node_life.NodeLife()
    app.on_shutdown.append(node_life.stopping)
    app.on_shutdown.append(disconnect_participants)
    app.router.add_get("/healthz", _alive)
    app.router.add_get("/readyz", health.media_readyz)
    app.router.add_get("/node/watch", node_life.node_watch)
    app.router.add_get("/metrics", metrics_view)
    app.add_subapp("/media/", create_signaling_app())
    return app
