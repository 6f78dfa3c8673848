"""The event store's schema, one ordered list of migrations for both backends: version n is MIGRATIONS[n - 1].

Only ever append to it, and only what adds (a table, a column with a default, an index), so a worker of the
previous release still runs on a newer schema. The statements are the SQL that SQLite and PostgreSQL share;
tests/test_store.py applies them on both. Version 1 says IF NOT EXISTS so that an SQLite file written before the
schema was versioned (the same table) is adopted as it is.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE IF NOT EXISTS events (
            record TEXT NOT NULL,
            seq INTEGER NOT NULL,
            case_slug TEXT NOT NULL,
            type TEXT NOT NULL,
            on_ TEXT NOT NULL,
            body TEXT NOT NULL,
            link TEXT NOT NULL,
            PRIMARY KEY (record, seq)
        )""",
    ),
    ("CREATE INDEX IF NOT EXISTS events_case ON events (case_slug, record)",),
]
