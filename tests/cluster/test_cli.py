"""The ``sabaq`` command as an operator runs it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import free_port

SABAQ = [sys.executable, "-m", "web.cli"]
ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        SABAQ + args, input=stdin, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SABAQ_")}
    env["SABAQ_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def test_serve_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    r = _run(["serve"], _env(tmp_path))
    assert r.returncode == 2
    assert "SABAQ_SECRET_KEY is not set" in r.stderr


def test_serve_refuses_a_public_address_without_tls(tmp_path: Path) -> None:
    r = _run(["serve"], _env(tmp_path, SABAQ_SECRET_KEY="s" * 40, SABAQ_HOST="0.0.0.0"))
    assert r.returncode == 2
    assert "HTTPS" in r.stderr


def test_cluster_roles_say_what_they_lack(tmp_path: Path) -> None:
    base = {"SABAQ_SECRET_KEY": "s" * 40, "SABAQ_PORT": str(free_port())}
    r = _run(["control"], _env(tmp_path, **base))
    assert r.returncode == 2
    assert "set REDIS_URL" in r.stderr
    r = _run(["media"], _env(tmp_path, **base, REDIS_URL="redis://127.0.0.1:1/0"))
    assert r.returncode == 2
    assert "needs SABAQ_MEDIA_URL" in r.stderr
    # Redis cannot be reached: the control node does not start (it could not hold the lock).
    r = _run(["control"], _env(tmp_path, **base, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"))
    assert r.returncode == 2
    assert "cannot be reached" in r.stderr


def test_admin_create(tmp_path: Path) -> None:
    env = _env(tmp_path)
    ok = _run(["admin", "create", "--login", "root", "--name", "Админ", "--password-stdin"], env,
              "a long password, for root\n")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "Created admin root" in ok.stdout
    again = _run(["admin", "create", "--login", "root", "--name", "X", "--password-stdin"], env,
                 "a long password, for root\n")  # fmt: skip
    assert again.returncode == 2 and "taken" in again.stderr
    short = _run(["admin", "create", "--login", "r2", "--name", "X", "--password-stdin"], env,
                 "short\n")  # fmt: skip
    assert short.returncode == 2 and "at least" in short.stderr


def test_serve_starts_answers_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path, SABAQ_SECRET_KEY="s" * 40, SABAQ_PORT=str(port))
    proc = subprocess.Popen(
        [*SABAQ, "serve"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "sabaq serve did not become ready"
                time.sleep(0.2)
        assert (tmp_path / "data" / "sabaq.sqlite3").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert '"level": "error"' not in err


def test_serve_names_a_setting_that_is_not_a_number(tmp_path: Path) -> None:
    env = _env(tmp_path, SABAQ_SECRET_KEY="s" * 40, SABAQ_NODE_HEARTBEAT_SECONDS="often")
    r = _run(["serve"], env)
    assert r.returncode == 2
    assert "SABAQ_NODE_HEARTBEAT_SECONDS must be a number" in r.stderr


def test_backup_copies_a_running_database_consistently(tmp_path: Path) -> None:
    env = _env(tmp_path, SABAQ_SECRET_KEY="s" * 40)
    made = _run(["admin", "create", "--login", "root", "--name", "Админ", "--password-stdin"],
                env, stdin="a long enough password\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    live = sqlite3.connect(tmp_path / "data" / "sabaq.sqlite3")  # a writer holds it open
    live.execute("PRAGMA journal_mode = WAL")
    live.execute("UPDATE users SET full_name = 'Админ Сабақ' WHERE login = 'root'")
    live.commit()  # in the write-ahead log, not yet in the main file
    copy = tmp_path / "backup.sqlite3"
    r = _run(["backup", str(copy)], env)
    assert r.returncode == 0, r.stderr
    assert "integrity ok" in r.stdout
    saved = sqlite3.connect(copy)
    assert saved.execute("SELECT full_name FROM users WHERE login = 'root'").fetchone() == (
        "Админ Сабақ",
    )
    saved.close()
    again = _run(["backup", str(copy)], env)
    assert again.returncode == 2 and "exists" in again.stderr
    nowhere = _run(["backup", str(tmp_path / "no" / "such.sqlite3")], env)
    assert nowhere.returncode == 2 and "no folder" in nowhere.stderr
    missing = _run(["backup", str(tmp_path / "b2.sqlite3")], _env(tmp_path / "empty"))
    assert missing.returncode == 2 and "no database" in missing.stderr
    live.close()
