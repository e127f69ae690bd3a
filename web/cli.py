"""The ``sabaq`` command: serve, control, media, demo, admin create, verify, guarantee, backup."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import getpass
import logging
import os
import secrets
import signal
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from aiohttp import web

from control import logs, offline
from control.demo import seed, signin_links
from control.environment import ConfigError

from .core import keys
from .core.app import create_app, create_media_app
from .core.i18n import load_catalogues
from .core.settings import Settings


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(settings.tls_cert, settings.tls_key)
    return ctx


Process = Literal["serve", "control", "media"]


async def _serve(
    settings: Settings, on_ready: str | None = None, demo: bool = False, role: Process = "serve"
) -> None:
    stop = asyncio.Event()
    if role == "media":
        app = create_media_app(settings)
    else:
        app = create_app(settings, role="control" if role == "control" else "serve")
        app[keys.STOP] = stop.set  # a control node that lost its lock stops
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    scheme = "https" if settings.tls else "http"
    base = f"{scheme}://{settings.host}:{settings.port}"
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=_ssl_context(settings))
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    if demo:
        seed(app[keys.ACCOUNTS], app[keys.TIMETABLE], app[keys.PASSWORDS], settings.clock)
        print("\nSabaq demo academy is running at", base, "\n", flush=True)
        for who, name, link in signin_links(
            app[keys.ACCOUNTS], app[keys.TIMETABLE], app[keys.SIGNER], base
        ):
            print(f"  {who:<20} {name:<28} {link}", flush=True)
        print("\nOpen the teacher's link in one browser and a student's in another.", flush=True)
        print("Each link signs in once; run the demo again for fresh links.", flush=True)
        print("Stop with Ctrl+C.\n", flush=True)
    if on_ready:
        print(on_ready, base, flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def cmd_serve(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    logs.configure()
    if settings.redis_url:
        logging.getLogger("sabaq.web.cli").warning(
            "REDIS_URL is set, but `sabaq serve` holds both planes in one process and does not"
            " use it; a cluster runs `sabaq control` and `sabaq media`"
        )
    asyncio.run(_serve(settings, on_ready="Sabaq is serving at"))
    return 0


def cmd_control(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    logs.configure()
    asyncio.run(_serve(settings, on_ready="Sabaq control node is serving at", role="control"))
    return 0


def cmd_media(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    logs.configure()
    asyncio.run(_serve(settings, on_ready="Sabaq media node is serving at", role="media"))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    # The demo generates its own secret on each run; its sign-in links last as long as it runs.
    env.setdefault("SABAQ_SECRET_KEY", secrets.token_urlsafe(48))
    env["SABAQ_DATA_DIR"] = str(args.data_dir)
    env["SABAQ_PORT"] = str(args.port)
    env.setdefault("SABAQ_ICE_ADDRESSES", "127.0.0.1")
    settings = Settings.from_env(env)
    logs.configure()
    asyncio.run(_serve(settings, demo=True))
    return 0


def _refused(exc: offline.Refused) -> int:
    print(f"sabaq: {exc}", file=sys.stderr)
    return exc.status


def _data_dir() -> Path:
    return Path(os.environ.get("SABAQ_DATA_DIR", "data"))


def cmd_admin_create(args: argparse.Namespace) -> int:
    data_dir = _data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
    try:
        print(offline.create_admin(data_dir, args.login, args.name, password))
    except offline.Refused as exc:
        return _refused(exc)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        status, said = offline.verify_at(_data_dir(), args.report)
    except offline.Refused as exc:
        return _refused(exc)
    for line in said:
        print(line)
    return status


def cmd_guarantee(args: argparse.Namespace) -> int:
    """The monthly guarantee now: ``--dry-run`` prints what it would plan and the alerts it
    would raise, on a read-only connection (nothing can be written); ``--run`` does it. Live
    classes long past their end are left to the server's pass (it has the ledger's evidence)."""
    settings = Settings.from_env()
    if args.at is not None and not args.dry_run:
        # A run writes as of its moment (missed classes marked, months planned): only now.
        print("sabaq: --at is for --dry-run only; a run is as of now", file=sys.stderr)
        return 2
    if args.at is not None:
        try:
            now = dt.datetime.fromisoformat(args.at)
        except ValueError:
            print(f"sabaq: --at {args.at!r} is not an ISO 8601 moment", file=sys.stderr)
            return 2
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
    else:
        now = dt.datetime.fromtimestamp(settings.clock(), dt.UTC)
    catalogues = load_catalogues(settings.languages)
    try:
        said = offline.guarantee(
            settings.data_dir, settings.guarantee_rules, catalogues, now, args.dry_run
        )
    except offline.Refused as exc:
        return _refused(exc)
    for line in said:
        print(line)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the database while Sabaq runs (SQLite's online backup: the
    write-ahead log included), checked before it is put in place."""
    try:
        print(offline.backup(_data_dir(), args.dest))
    except offline.Refused as exc:
        return _refused(exc)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sabaq", description="Live classes for an academy.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve both planes in one process (configured by SABAQ_*)")
    s.set_defaults(func=cmd_serve)
    ctl = sub.add_parser(
        "control",
        help="a cluster's control node: pages, API, scheduler, ledger (REDIS_URL; exactly one)",
    )
    ctl.set_defaults(func=cmd_control)
    med = sub.add_parser(
        "media", help="a cluster's media node: rooms and signaling (REDIS_URL; one per core)"
    )
    med.set_defaults(func=cmd_media)
    d = sub.add_parser("demo", help="seed a demo academy and serve it on 127.0.0.1")
    d.add_argument("--data-dir", type=Path, default=Path("demo-data"))
    d.add_argument("--port", type=int, default=8080)
    d.set_defaults(func=cmd_demo)
    a = sub.add_parser("admin", help="manage administrators")
    asub = a.add_subparsers(dest="admin_command", required=True)
    c = asub.add_parser("create", help="create an administrator account")
    c.add_argument("--login", required=True)
    c.add_argument("--name", required=True)
    c.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    c.set_defaults(func=cmd_admin_create)
    v = sub.add_parser(
        "verify", help="check every attendance chain, or that a report agrees with the ledger"
    )
    v.add_argument("--report", type=Path, help="a CSV or XLSX report made by Sabaq")
    v.set_defaults(func=cmd_verify)
    g = sub.add_parser(
        "guarantee", help="run the monthly guarantee now, or print what it would do (--dry-run)"
    )
    how = g.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--dry-run", action="store_true", help="print what it would plan; write nothing"
    )
    how.add_argument("--run", action="store_true", help="plan the classes and raise the alerts")
    g.add_argument("--at", help="as if at this moment (ISO 8601; UTC unless it says)")
    g.set_defaults(func=cmd_guarantee)
    b = sub.add_parser("backup", help="copy the database consistently while Sabaq runs")
    b.add_argument("dest", type=Path, help="the new file to write the copy to")
    b.set_defaults(func=cmd_backup)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"sabaq: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"sabaq: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
