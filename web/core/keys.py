"""Every typed application key, in one place."""

from __future__ import annotations

import gettext
import sqlite3
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import jinja2
from aiohttp import web
from prometheus_client import CollectorRegistry

from access.api_keys import SqliteApiKeys
from access.passwords import Passwords
from access.sqlite_audit import SqliteAudit
from access.sqlite_people import SqlitePeople
from access.sqlite_store import SqliteAccounts
from access.throttle import Limits
from access.tokens import TokenSigner
from admission.sqlite_excuses import SqliteExcuses
from admission.sqlite_guests import SqliteGuests
from admission.sqlite_status import SqliteAdmission
from attendance.heads_folder import HeadsFolder
from attendance.sqlite_hr_dispatch import SqliteHrDispatch
from attendance.sqlite_introduction import SqliteIntroduction
from attendance.sqlite_ledger import SqliteLedger
from attendance.sqlite_mark_rules import SqliteMarkRules
from control.changes import Changes
from control.cluster import Cluster
from control.commands import MediaControl
from control.idempotency import Idempotency
from control.mail import Mailbox
from control.notices import Notices
from control.webhooks import Webhooks
from scheduler.guarantee import Guarantee
from scheduler.sqlite_store import SqliteTimetable
from streaming.cluster import MediaAgent
from streaming.practice import Echoes
from streaming.room import MediaBackend
from streaming.signaling import NODE_KEY

from .settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", sqlite3.Connection)  # a control.database.PerThread in an application
# The control plane's worker threads (control.workers): reports, exports, imports, jobs.
THREADS = web.AppKey("threads", ThreadPoolExecutor)
PROCESSES = web.AppKey("processes", ProcessPoolExecutor)  # reports' and exports' workers
ACCOUNTS = web.AppKey("accounts", SqliteAccounts)
API_KEYS = web.AppKey("api_keys", SqliteApiKeys)
PEOPLE = web.AppKey("people", SqlitePeople)
AUDIT = web.AppKey("audit", SqliteAudit)
PASSWORDS = web.AppKey("passwords", Passwords)
SIGNER = web.AppKey("signer", TokenSigner)
TIMETABLE = web.AppKey("timetable", SqliteTimetable)
GUARANTEE = web.AppKey("guarantee", Guarantee)
EXCUSES = web.AppKey("excuses", SqliteExcuses)
GUESTS = web.AppKey("guests", SqliteGuests)
ADMISSION = web.AppKey("admission", SqliteAdmission)
LEDGER = web.AppKey("ledger", SqliteLedger)
HEADS = web.AppKey("heads", HeadsFolder)
CHANGES = web.AppKey("changes", Changes)
LIMITS = web.AppKey("limits", Limits)
WEBHOOKS = web.AppKey("webhooks", Webhooks)
IDEMPOTENCY = web.AppKey("idempotency", Idempotency)
MAIL = web.AppKey("mail", Mailbox)  # the e-mail outbox (off when no SMTP host is set)
NOTICES = web.AppKey("notices", Notices)
MARK_RULES = web.AppKey("mark_rules", SqliteMarkRules)
INTRODUCTION = web.AppKey("introduction", SqliteIntroduction)  # clause 5: the steps taken
# The HR services' monthly mail: the schedule and the log (clauses 18, 19).
HR_DISPATCH = web.AppKey("hr_dispatch", SqliteHrDispatch)
PRACTICE = web.AppKey("practice", Echoes)  # the practice room's echo on the media node
MEDIA_NODE = NODE_KEY  # the signaling sub-application finds the node under this key
# Commands to the node hosting a class: this process's node, or the cluster's (pub/sub).
MEDIA_CONTROL = web.AppKey("media_control", MediaControl)
CLUSTER = web.AppKey("cluster", Cluster)  # `sabaq control` only
AGENT = web.AppKey("agent", MediaAgent)  # `sabaq media` only
# What stops the process (the command line sets it): a control node that lost its lock stops.
STOP: web.AppKey[Callable[[], None]] = web.AppKey("stop")
TEMPLATES = web.AppKey("templates", jinja2.Environment)
CATALOGUES = web.AppKey("catalogues", dict[str, gettext.NullTranslations])
# Replaces the forwarding media backend when set (benchmarks compare stock aiortc with it).
MEDIA_BACKEND: web.AppKey[MediaBackend | None] = web.AppKey("media_backend")
# /metrics: this application's registry (not the process's global one), and what reads the values
# that need an await (Redis) just before a scrape.
METRICS = web.AppKey("metrics", CollectorRegistry)
METRICS_REFRESH: web.AppKey[Callable[[], Awaitable[None]]] = web.AppKey("metrics_refresh")
