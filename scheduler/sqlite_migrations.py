"""The scheduler's tables, as migrations applied in order."""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "scheduler_0001_groups_classes",
        """
        CREATE TABLE institutes (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            director_id INTEGER REFERENCES users(id)
        );
        CREATE TABLE departments (
            id INTEGER PRIMARY KEY,
            institute_id INTEGER NOT NULL REFERENCES institutes(id),
            name TEXT NOT NULL,
            head_id INTEGER REFERENCES users(id)
        );
        CREATE TABLE groups (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            department_id INTEGER NOT NULL REFERENCES departments(id),
            language TEXT NOT NULL,
            timezone TEXT NOT NULL
        );
        CREATE TABLE group_members (
            group_id INTEGER NOT NULL REFERENCES groups(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            PRIMARY KEY (group_id, user_id)
        );
        CREATE INDEX group_members_user ON group_members(user_id);
        CREATE TABLE group_teachers (
            group_id INTEGER NOT NULL REFERENCES groups(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            PRIMARY KEY (group_id, user_id)
        );
        CREATE TABLE classes (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            kind TEXT NOT NULL,
            format TEXT NOT NULL,
            teacher_id INTEGER NOT NULL REFERENCES users(id),
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            status TEXT NOT NULL
        );
        CREATE INDEX classes_teacher ON classes(teacher_id, starts_at);
        CREATE TABLE class_groups (
            class_id INTEGER NOT NULL REFERENCES classes(id),
            group_id INTEGER NOT NULL REFERENCES groups(id),
            PRIMARY KEY (class_id, group_id)
        );
        CREATE INDEX class_groups_group ON class_groups(group_id);
        """,
    ),
    (
        "scheduler_0002_individual_classes",
        """
        CREATE TABLE class_learners (
            class_id INTEGER NOT NULL REFERENCES classes(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            PRIMARY KEY (class_id, user_id)
        );
        CREATE INDEX class_learners_user ON class_learners(user_id);
        CREATE INDEX classes_starts ON classes(starts_at);
        """,
    ),
    (
        "scheduler_0003_programmes_disciplines_log",
        """
        CREATE TABLE programmes (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            institute_id INTEGER NOT NULL REFERENCES institutes(id)
        );
        ALTER TABLE groups ADD COLUMN programme_id INTEGER REFERENCES programmes(id);
        ALTER TABLE groups ADD COLUMN starts_on TEXT;
        ALTER TABLE groups ADD COLUMN ends_on TEXT;
        ALTER TABLE groups ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE classes ADD COLUMN discipline TEXT NOT NULL DEFAULT '';
        ALTER TABLE classes ADD COLUMN series_id INTEGER;
        -- Every change to the timetable: who (or which job of Sabaq's), what, why.
        CREATE TABLE timetable_log (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            action TEXT NOT NULL,
            by_id INTEGER REFERENCES users(id),
            by_name TEXT NOT NULL,
            class_id INTEGER REFERENCES classes(id),
            group_id INTEGER REFERENCES groups(id),
            reason TEXT NOT NULL
        );
        CREATE INDEX timetable_log_class ON timetable_log(class_id, id);
        CREATE INDEX timetable_log_group ON timetable_log(group_id, id);
        """,
    ),
    (
        "scheduler_0004_guarantee_alerts",
        """
        -- A group-month the monthly guarantee could not settle; cleared once it is.
        CREATE TABLE guarantee_alerts (
            id INTEGER PRIMARY KEY,
            group_id INTEGER NOT NULL REFERENCES groups(id),
            month TEXT NOT NULL,
            reason TEXT NOT NULL,
            raised_at REAL NOT NULL,
            cleared_at REAL
        );
        CREATE UNIQUE INDEX guarantee_alerts_open ON guarantee_alerts(group_id, month)
            WHERE cleared_at IS NULL;
        CREATE INDEX classes_status_end ON classes(status, ends_at);
        """,
    ),
    (
        "scheduler_0005_emergency_switches",
        """
        CREATE TABLE emergency_switches (
            id INTEGER PRIMARY KEY,
            first_day TEXT NOT NULL,
            last_day TEXT NOT NULL,
            reason TEXT NOT NULL,
            by_id INTEGER REFERENCES users(id),
            by_name TEXT NOT NULL,
            at REAL NOT NULL,
            undone_at REAL,
            undone_by_name TEXT
        );
        CREATE TABLE emergency_switch_groups (
            switch_id INTEGER NOT NULL REFERENCES emergency_switches(id),
            group_id INTEGER NOT NULL REFERENCES groups(id),
            PRIMARY KEY (switch_id, group_id)
        );
        CREATE TABLE emergency_switch_classes (
            switch_id INTEGER NOT NULL REFERENCES emergency_switches(id),
            class_id INTEGER NOT NULL REFERENCES classes(id),
            PRIMARY KEY (switch_id, class_id)
        );
        """,
    ),
    (
        "scheduler_0006_disciplines",
        """
        -- A programme's disciplines and their credits: its credit mix (clause 6-1).
        CREATE TABLE disciplines (
            id INTEGER PRIMARY KEY,
            programme_id INTEGER NOT NULL REFERENCES programmes(id),
            name TEXT NOT NULL,
            credits INTEGER NOT NULL,
            format TEXT NOT NULL,
            UNIQUE (programme_id, name)
        );
        ALTER TABLE programmes ADD COLUMN distance INTEGER NOT NULL DEFAULT 1;
        """,
    ),
    (
        "scheduler_0007_structure_archive_agencies",
        """
        -- Nothing of the structure is deleted (history refers to it): it is archived.
        ALTER TABLE institutes ADD COLUMN archived_at REAL;
        ALTER TABLE departments ADD COLUMN archived_at REAL;
        -- The bodies that send learners, with their HR service's e-mail addresses (one a
        -- line). A learner names theirs by name (users.agency): every name a learner was given
        -- before this table existed becomes an agency, and so does every name given later.
        CREATE TABLE agencies (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL COLLATE NOCASE UNIQUE,
            contacts TEXT NOT NULL DEFAULT '',
            archived_at REAL
        );
        INSERT OR IGNORE INTO agencies (name)
            SELECT agency FROM users WHERE agency IS NOT NULL GROUP BY agency ORDER BY min(id);
        CREATE TRIGGER users_agency_added AFTER INSERT ON users WHEN NEW.agency IS NOT NULL
        BEGIN
            INSERT OR IGNORE INTO agencies (name) VALUES (NEW.agency);
        END;
        CREATE TRIGGER users_agency_changed AFTER UPDATE OF agency ON users
            WHEN NEW.agency IS NOT NULL
        BEGIN
            INSERT OR IGNORE INTO agencies (name) VALUES (NEW.agency);
        END;
        """,
    ),
    (
        "scheduler_0008_academy_calendar",
        """
        -- Days staff set in the academy calendar: off (a moved day off, the academy's own) or
        -- worked (a working Saturday, a public holiday worked). Public holidays are computed.
        CREATE TABLE calendar_days (
            day TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            by_id INTEGER REFERENCES users(id),
            by_name TEXT NOT NULL,
            at REAL NOT NULL
        );
        """,
    ),
    (
        "scheduler_0009_switches_in_force",
        """
        -- A switch is a rule in force until lifted: the log says which switch made a change.
        ALTER TABLE timetable_log ADD COLUMN switch_id INTEGER REFERENCES emergency_switches(id);
        CREATE INDEX emergency_switch_classes_class ON emergency_switch_classes(class_id);
        """,
    ),
    (
        "scheduler_0010_guarantee_proposals",
        """
        -- A class the monthly guarantee planned and no person has confirmed or moved yet (1);
        -- it is confirmed by the guarantee itself some days before it starts.
        ALTER TABLE classes ADD COLUMN proposed INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX classes_proposed ON classes(starts_at) WHERE proposed = 1;
        """,
    ),
)
