"""The tables of admission: excuse requests and their history, guest requests and theirs,
learners' admission statuses as their history, and the refusals at the door."""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "admission_0001_excuse_requests",
        """
        CREATE TABLE excuse_requests (
            id INTEGER PRIMARY KEY,
            learner_id INTEGER NOT NULL REFERENCES users(id),
            group_id INTEGER NOT NULL REFERENCES groups(id),
            reason TEXT NOT NULL,
            first_day TEXT NOT NULL,
            last_day TEXT NOT NULL,
            document TEXT NOT NULL,
            details TEXT NOT NULL,
            status TEXT NOT NULL,
            filed_by INTEGER NOT NULL REFERENCES users(id),
            filed_at REAL NOT NULL
        );
        CREATE INDEX excuse_requests_learner ON excuse_requests(learner_id, status);
        CREATE INDEX excuse_requests_status ON excuse_requests(status, filed_at);
        CREATE TABLE excuse_steps (
            id INTEGER PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES excuse_requests(id),
            at REAL NOT NULL,
            actor_id INTEGER NOT NULL REFERENCES users(id),
            actor_name TEXT NOT NULL,
            action TEXT NOT NULL,
            comment TEXT NOT NULL,
            class_id INTEGER REFERENCES classes(id)
        );
        CREATE INDEX excuse_steps_request ON excuse_steps(request_id, id);
        -- No update or delete of a request's history.
        CREATE TRIGGER excuse_steps_no_update BEFORE UPDATE ON excuse_steps
        BEGIN SELECT RAISE(ABORT, 'the history of a request is append-only'); END;
        CREATE TRIGGER excuse_steps_no_delete BEFORE DELETE ON excuse_steps
        BEGIN SELECT RAISE(ABORT, 'the history of a request is append-only'); END;
        """,
    ),
    (
        "admission_0002_guest_requests",
        """
        CREATE TABLE guest_requests (
            id INTEGER PRIMARY KEY,
            class_id INTEGER NOT NULL REFERENCES classes(id),
            filed_by INTEGER NOT NULL REFERENCES users(id),
            guest_name TEXT NOT NULL,
            organisation TEXT NOT NULL,
            position TEXT NOT NULL,
            contact TEXT NOT NULL,
            topic TEXT NOT NULL,
            justification TEXT NOT NULL,
            presents INTEGER NOT NULL,
            status TEXT NOT NULL,
            filed_at REAL NOT NULL,
            token_hash TEXT UNIQUE,  -- SHA-256 of the invite; the invite itself is not kept
            bound_device TEXT  -- SHA-256 of the browser that redeemed it first
        );
        CREATE INDEX guest_requests_class ON guest_requests(class_id);
        CREATE INDEX guest_requests_status ON guest_requests(status, filed_at);
        CREATE TABLE guest_steps (
            id INTEGER PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES guest_requests(id),
            at REAL NOT NULL,
            actor_id INTEGER REFERENCES users(id),
            actor_name TEXT NOT NULL,
            action TEXT NOT NULL,
            comment TEXT NOT NULL
        );
        CREATE INDEX guest_steps_request ON guest_steps(request_id, id);
        CREATE TRIGGER guest_steps_no_update BEFORE UPDATE ON guest_steps
        BEGIN SELECT RAISE(ABORT, 'the history of a request is append-only'); END;
        CREATE TRIGGER guest_steps_no_delete BEFORE DELETE ON guest_steps
        BEGIN SELECT RAISE(ABORT, 'the history of a request is append-only'); END;
        """,
    ),
    (
        "admission_0003_admission_status",
        """
        -- A learner's admission status per discipline (postgraduate) or course (additional
        -- education), as the history of its changes: the status is the latest.
        CREATE TABLE admission_changes (
            id INTEGER PRIMARY KEY,
            learner_id INTEGER NOT NULL REFERENCES users(id),
            programme_id INTEGER NOT NULL REFERENCES programmes(id),
            discipline_id INTEGER REFERENCES disciplines(id),
            admitted INTEGER NOT NULL,
            reason TEXT,
            note TEXT NOT NULL,
            by_id INTEGER REFERENCES users(id),
            by_name TEXT NOT NULL,
            at REAL NOT NULL
        );
        CREATE INDEX admission_changes_learner ON admission_changes(learner_id, id);
        CREATE TRIGGER admission_changes_no_update BEFORE UPDATE ON admission_changes
        BEGIN SELECT RAISE(ABORT, 'the admission history is append-only'); END;
        CREATE TRIGGER admission_changes_no_delete BEFORE DELETE ON admission_changes
        BEGIN SELECT RAISE(ABORT, 'the admission history is append-only'); END;
        -- Every time a learner was turned away at the door of a class.
        CREATE TABLE admission_refusals (
            id INTEGER PRIMARY KEY,
            class_id INTEGER NOT NULL REFERENCES classes(id),
            learner_id INTEGER NOT NULL REFERENCES users(id),
            change_id INTEGER NOT NULL REFERENCES admission_changes(id),
            at REAL NOT NULL
        );
        CREATE INDEX admission_refusals_class ON admission_refusals(class_id, learner_id);
        CREATE INDEX admission_refusals_learner ON admission_refusals(learner_id, id);
        """,
    ),
    (
        "admission_0004_excuse_documents",
        """
        -- The documents attached to an excuse request: kept as files under the data folder
        -- (stored_as: a random name), described here.
        CREATE TABLE excuse_documents (
            id INTEGER PRIMARY KEY,
            request_id INTEGER NOT NULL REFERENCES excuse_requests(id),
            n INTEGER NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            stored_as TEXT NOT NULL UNIQUE,
            UNIQUE (request_id, n)
        );
        """,
    ),
)
