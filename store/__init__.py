"""The case record's own durable copy: an append-only event store, keyed by (record id, seq).

Every stored event passes through `Store.append`. Each row keeps the event's JSON (`model_dump(mode="json")`),
its type, its case-clock date (`on`) and its hash-chain link, `domain.chain.link(previous link, body)`.
Appending is idempotent: the identical event again at an existing (record, seq) is accepted silently; a
different event there raises `RecordConflict` (never an overwrite); a link that does not follow the stored
chain raises `ChainBroken`; a store that cannot be reached raises `StoreUnavailable` (worth retrying).

Built by hand rather than on the `eventsourcing` library: its recorders give optimistic concurrency on
(originator, version), but a second insert at an existing version is an IntegrityError whatever it holds,
so telling an idempotent re-append from a conflict, and checking the chain on append, would be done here
anyway around its schema; a table of our own with one unique key is smaller and keeps no extra dependency.

One setting chooses the database, `ENFORCE_RECORD_URL`:

- `sqlite:///path` (the default is `<ENFORCE_DATA_DIR or .data>/record.db`, created 0600): one file, for one
  machine (`store/sqlite.py`);
- `postgresql://user:password@host:port/db` (or `postgresql://user@/db?host=/socket/dir`): for a cluster of
  workers (`store/postgres.py`).

`Store` is the one facade: the rules (idempotence, conflict, chain) and the queries are written once here; a
backend gives a connection, a write transaction that holds the record's lock, its placeholder style and the
errors that mean "unavailable". Both run the same statements.

The schema is the project's own: a `schema_version` table and the ordered `MIGRATIONS` of `store/schema.py`
(version n is the n-th entry), applied at a process's first connection, in one transaction under the schema
lock, so two workers starting together apply each version once. Migrations are only ever appended and
additive, so a worker of the previous release still runs on a newer schema. Not Alembic: it brings SQLAlchemy,
an env.py and a migrations folder for what is here two tables and one index, and it would be a second way to
reach the database beside the plain DB-API used for the appends.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from domain.chain import GENESIS, link


class StoreError(Exception):
    pass


class RecordConflict(StoreError):
    """A different event is already stored at this (record, seq)."""


class ChainBroken(StoreError):
    """An event's link does not follow the stored chain."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or written now; retry later."""


@dataclass(frozen=True)
class Row:
    record: str
    seq: int
    type: str
    on: str
    body: dict
    link: str


def _canonical(body: dict) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def case_of(record: str) -> str:
    """`investigation-<slug>[.<authority>]` -> `<slug>`."""
    return record.removeprefix("investigation-").split(".", 1)[0]


def default_url() -> str:
    url = os.environ.get("ENFORCE_RECORD_URL")
    if url:
        return url
    data = Path(os.environ.get("ENFORCE_DATA_DIR", ".data")).resolve()
    return f"sqlite:///{data / 'record.db'}"


def backend(url: str, **options: Any):
    """The backend for a URL (`options` go to it: `migrations=` in the tests)."""
    if url.startswith("sqlite:///"):
        from store.sqlite import SQLite

        return SQLite(url, **options)
    if url.startswith(("postgresql://", "postgres://")):
        from store.postgres import Postgres

        return Postgres(url, **options)
    raise ValueError(
        f"ENFORCE_RECORD_URL: unsupported store {url.split(':', 1)[0]!r} (sqlite:///path or postgresql://...)"
    )


# The lock key of the schema's migrations (a record id never has this form).
SCHEMA_LOCK = "enforce/schema"
_COLUMNS = "record, seq, type, on_, body, link"
# Records asked for in one query by `Store.firsts` (well under SQLite's and PostgreSQL's parameter limits).
FIRSTS_BATCH = 500


# A stored body sealed by the cipher: this prefix, then the sealed bytes in base64 (a column of text on both
# databases). A body without it is one stored in clear before the store was sealed, read as it is.
SEALED = "sealed:"


class Cipher:
    """Every stored body passes through here: sealed on append, opened on read. The default is the payload
    codec's key set (`enforce.codec`, AES-256-GCM with a key id, rotation as for payloads), so the store holds
    nothing of a case readable without the key; the record id, seq, type, date and chain link stay in clear,
    for the store's own checks and queries."""

    def __init__(self, keys: Any = None) -> None:
        from enforce import codec  # the one key set of the deployment; loaded once per store

        self._codec, self._keys = codec, keys or codec.load_keys()

    def seal(self, text: str) -> str:
        return SEALED + base64.b64encode(self._codec.seal_bytes(text.encode(), self._keys)).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(SEALED):
            return stored
        raw = base64.b64decode(stored.removeprefix(SEALED))
        return self._codec.open_bytes(raw, self._keys, "a stored event").decode()


class Store:
    """The event store at `url` (default: `default_url()`)."""

    def __init__(self, url: str | None = None, cipher: Cipher | None = None, **options: Any) -> None:
        self.url = url or default_url()
        self._db = backend(self.url, **options)
        self._cipher = cipher
        self.path: Path | None = getattr(self._db, "path", None)  # the file, on SQLite
        self._ready = False

    @property
    def cipher(self) -> Cipher:
        if self._cipher is None:
            self._cipher = Cipher()
        return self._cipher

    def _row(self, r) -> Row:
        return Row(r[0], r[1], r[2], r[3], json.loads(self.cipher.open(r[4])), r[5])

    def _unavailable(self, e: BaseException) -> StoreUnavailable:
        return StoreUnavailable(f"event store {self._db.where}: {e}")

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        if self.path is not None and not self.path.exists():
            self._ready = False  # a SQLite file removed since (a simulation's folder made anew): a new schema
        try:
            conn = self._db.connect()
        except self._db.UNAVAILABLE as e:
            raise self._unavailable(e) from e
        try:
            if not self._ready:
                self._migrate(conn)
                self._ready = True
            yield conn
        except self._db.UNAVAILABLE as e:
            # The next call checks the schema again: a database replaced under a running worker (a restore, a
            # simulation's folder made anew) gets its tables back instead of failing until the worker restarts.
            self._ready = False
            raise self._unavailable(e) from e
        finally:
            try:
                conn.close()
            except self._db.UNAVAILABLE:
                pass

    def _q(self, conn, sql: str, params: tuple = ()):
        return conn.execute(self._db.sql(sql), params)

    def _migrate(self, conn) -> None:
        with self._db.transaction(conn, SCHEMA_LOCK):
            self._q(conn, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
            current = self._q(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
            for version, statements in enumerate(self._db.migrations[current:], start=current + 1):
                for statement in statements:
                    self._q(conn, statement)
                now = datetime.now(UTC).isoformat()
                self._q(conn, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, now))

    def append(self, record: str, events: list[tuple[dict, str]]) -> int:
        """Append (body, link) pairs, in seq order; returns how many rows were new."""
        with self._connect() as conn, self._db.transaction(conn, record):
            new = 0
            for body, lnk in events:
                seq = body["seq"]
                row = self._q(conn, "SELECT body, link FROM events WHERE record=? AND seq=?", (record, seq)).fetchone()
                if row is not None:
                    if self.cipher.open(row[0]) != _canonical(body) or row[1] != lnk:
                        raise RecordConflict(f"{record} event {seq}: a different event is stored there")
                    continue
                prev = self._q(conn, "SELECT link FROM events WHERE record=? AND seq=?", (record, seq - 1)).fetchone()
                if prev is None and seq != 1:
                    raise ChainBroken(f"{record} event {seq}: event {seq - 1} is not stored")
                if lnk != link(prev[0] if prev else GENESIS, body):
                    raise ChainBroken(f"{record} event {seq}: its link does not follow event {seq - 1}")
                self._q(
                    conn,
                    "INSERT INTO events (record, seq, case_slug, type, on_, body, link) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (record, seq, case_of(record), body["type"], body["on"], self.cipher.seal(_canonical(body)), lnk),
                )
                new += 1
            return new

    def read(self, record: str, upto: date | None = None) -> list[Row]:
        """A record's events in seq order; with `upto`, only those on or before that case-clock date."""
        with self._connect() as conn:
            rows = self._q(conn, f"SELECT {_COLUMNS} FROM events WHERE record=? ORDER BY seq", (record,)).fetchall()
        out = [self._row(r) for r in rows]
        if upto is not None:
            out = [r for r in out if datetime.fromisoformat(r.on).date() <= upto]
        return out

    def firsts(self, records: list[str]) -> dict[str, Row]:
        """Each record's first event (for a joint record, its opening), by record; a record not stored is
        missing. One connection, a query per FIRSTS_BATCH records (`enforce list` asks for a page of 200)."""
        found: dict[str, Row] = {}
        with self._connect() as conn:
            for i in range(0, len(records), FIRSTS_BATCH):
                batch = records[i : i + FIRSTS_BATCH]
                marks = ", ".join("?" * len(batch))
                sql = f"SELECT {_COLUMNS} FROM events WHERE seq=1 AND record IN ({marks})"
                for r in self._q(conn, sql, tuple(batch)).fetchall():
                    found[r[0]] = self._row(r)
        return found

    def read_all(self) -> list[Row]:
        """Every stored event, record by record in seq order (for figures over all cases)."""
        with self._connect() as conn:
            rows = self._q(conn, f"SELECT {_COLUMNS} FROM events ORDER BY record, seq").fetchall()
        return [self._row(r) for r in rows]

    def count(self, record: str | None = None) -> int:
        """How many events are stored (of one record, or in all)."""
        with self._connect() as conn:
            if record is None:
                return self._q(conn, "SELECT COUNT(*) FROM events").fetchone()[0]
            return self._q(conn, "SELECT COUNT(*) FROM events WHERE record=?", (record,)).fetchone()[0]

    def records(self, case: str) -> list[str]:
        with self._connect() as conn:
            rows = self._q(conn, "SELECT DISTINCT record FROM events WHERE case_slug=? ORDER BY record", (case,))
            return [r[0] for r in rows.fetchall()]

    def cases(self) -> list[str]:
        with self._connect() as conn:
            return [r[0] for r in self._q(conn, "SELECT DISTINCT case_slug FROM events ORDER BY case_slug")]

    def schema(self) -> list[tuple[int, str]]:
        """The migrations applied: (version, when, ISO 8601 UTC), in order."""
        with self._connect() as conn:
            rows = self._q(conn, "SELECT version, applied_at FROM schema_version ORDER BY version").fetchall()
            return [(r[0], r[1]) for r in rows]
