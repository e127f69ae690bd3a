"""The tables of attendance: the ledger (append-only), the media nodes' heartbeats, the mark
thresholds' history, the events the ledger could not store, and the classes' digests (derived from
the ledger, kept for reports)."""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "attendance_0001_ledger",
        """
        CREATE TABLE ledger_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            class_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            user_id INTEGER,
            participant_id TEXT,
            role TEXT,
            node TEXT NOT NULL,
            node_seq INTEGER NOT NULL,
            origin_time REAL NOT NULL,
            received_time REAL NOT NULL,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX ledger_events_class ON ledger_events(class_id, seq);
        CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
        BEGIN SELECT RAISE(ABORT, 'the attendance ledger is append-only'); END;
        CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events
        BEGIN SELECT RAISE(ABORT, 'the attendance ledger is append-only'); END;
        """,
    ),
    (
        "attendance_0002_node_heartbeats",
        """
        CREATE TABLE node_heartbeats (
            node TEXT PRIMARY KEY,
            started_at REAL NOT NULL,
            last_seen REAL NOT NULL
        );
        """,
    ),
    (
        "attendance_0003_mark_rules",
        """
        -- Thresholds staff set; every change is a new row (who, when), the latest applies.
        CREATE TABLE mark_rules (
            id INTEGER PRIMARY KEY,
            late_after_seconds REAL NOT NULL,
            present_share REAL NOT NULL,
            by_user_id INTEGER,
            by_name TEXT NOT NULL,
            at REAL NOT NULL
        );
        """,
    ),
    (
        "attendance_0004_dead_events",
        """
        -- Events the ledger could not store after several tries, set aside so that the events
        -- behind them flow on: kept whole (JSON, escaped) with the error, for an administrator.
        CREATE TABLE dead_events (
            id TEXT PRIMARY KEY,
            class_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            node TEXT NOT NULL,
            origin_time REAL NOT NULL,
            event TEXT NOT NULL,
            error TEXT NOT NULL,
            at REAL NOT NULL
        );
        """,
    ),
    (
        "attendance_0005_hr_dispatch",
        """
        -- When the agencies' HR services get their monthly mail (clauses 18, 19): one row per
        -- kind (timetable, attendance) once staff set it; no row: the default (hr_dispatch.py).
        CREATE TABLE hr_mail_schedule (
            kind TEXT PRIMARY KEY,
            day INTEGER NOT NULL CHECK (day BETWEEN 1 AND 31),
            hour INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
            enabled INTEGER NOT NULL DEFAULT 1
        );
        -- Every mail queued for an HR service: what, for which month, when, to whom, under
        -- which outbox key (its status is the outbox's), why and by whom (none: the schedule).
        CREATE TABLE hr_dispatches (
            id INTEGER PRIMARY KEY,
            agency_id INTEGER NOT NULL REFERENCES agencies(id),
            kind TEXT NOT NULL,
            month TEXT NOT NULL,  -- YYYY-MM
            at REAL NOT NULL,
            recipients TEXT NOT NULL,  -- a JSON list of addresses
            mail_key TEXT NOT NULL UNIQUE,
            reason TEXT NOT NULL,  -- scheduled, manual, resent
            by_user_id INTEGER,
            by_name TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX hr_dispatches_agency ON hr_dispatches(agency_id, at);
        """,
    ),
    (
        "attendance_0006_introduction",
        """
        -- The introduction a learner took (clause 5): the first time of each step (the device
        -- check passed in every part, the tour of the class page); later ones change nothing.
        CREATE TABLE introduction_steps (
            user_id INTEGER NOT NULL REFERENCES users(id),
            step TEXT NOT NULL CHECK (step IN ('check', 'tour')),
            at REAL NOT NULL,
            PRIMARY KEY (user_id, step)
        );
        """,
    ),
    (
        "attendance_0007_class_digests",
        """
        -- Derived, not a record: what each class's marks are made of (``marks.ClassDigest``),
        -- drawn from its chain as it stood (events, last_seq, head) with a reconnection grace.
        -- Read only while the chain is still that long with that head; else drawn anew.
        CREATE TABLE class_digests (
            class_id INTEGER NOT NULL,
            grace REAL NOT NULL,
            version INTEGER NOT NULL,
            events INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            head TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (class_id, grace)
        );
        """,
    ),
)
