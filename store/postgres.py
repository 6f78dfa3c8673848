"""The PostgreSQL backend of the event store (psycopg 3), for a cluster with several workers.

`ENFORCE_RECORD_URL` is a libpq URI: `postgresql://user:password@host:port/db`, or
`postgresql://user@/db?host=/socket/dir&port=5432` over a unix socket; any libpq parameter may follow (`sslmode`,
`connect_timeout`, which defaults to 5 seconds here). The password is never put in an error message.

Appends to one record are serialised by a transaction-scoped advisory lock on the record's name
(`pg_advisory_xact_lock(hashtextextended(record, 0))`, a 64-bit key: two records sharing one only wait for each
other), so two workers appending the same batch at once write it once: the second waits, then finds the rows the
first committed (READ COMMITTED sees them) and writes nothing. The body is kept as TEXT, not JSONB: the stored
canonical text is what an idempotent re-append is compared with.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict

from store.schema import MIGRATIONS

CONNECT_TIMEOUT = 5  # seconds, unless the URL says `connect_timeout`


class Postgres:
    # Cannot connect, connection lost, serialization failure or deadlock (OperationalError); a unique
    # violation only if a writer skipped the lock: all worth retrying, the retry re-checks what is stored.
    UNAVAILABLE: tuple[type[BaseException], ...] = (
        psycopg.OperationalError,
        psycopg.InterfaceError,
        psycopg.IntegrityError,
    )

    def __init__(self, url: str, migrations: list[tuple[str, ...]] = MIGRATIONS) -> None:
        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError as e:
            raise ValueError(f"ENFORCE_RECORD_URL: not a PostgreSQL URL ({e})") from None
        self.url = url
        self.timeout = {} if "connect_timeout" in params else {"connect_timeout": CONNECT_TIMEOUT}
        host = params.get("host") or "localhost"
        self.where = f"postgresql {params.get('user') or ''}@{host}:{params.get('port') or 5432}/{params.get('dbname')}"
        self.migrations = migrations

    @staticmethod
    def sql(text: str) -> str:
        return text.replace("?", "%s")

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, **self.timeout)

    @contextmanager
    def transaction(self, conn: psycopg.Connection, key: str) -> Iterator[None]:
        """A transaction holding the advisory lock of `key` until it ends (commit or rollback)."""
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
            yield
