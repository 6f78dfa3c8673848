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

The embedded default is SQLite at `<ENFORCE_DATA_DIR or .data>/record.db` (created 0600);
`ENFORCE_RECORD_URL` (`sqlite:///path`) names another file.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

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


SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    record TEXT NOT NULL,
    seq INTEGER NOT NULL,
    case_slug TEXT NOT NULL,
    type TEXT NOT NULL,
    on_ TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL,
    PRIMARY KEY (record, seq)
)
"""


def default_url() -> str:
    url = os.environ.get("ENFORCE_RECORD_URL")
    if url:
        return url
    data = Path(os.environ.get("ENFORCE_DATA_DIR", ".data")).resolve()
    return f"sqlite:///{data / 'record.db'}"


class Store:
    """An SQLite event store (one file)."""

    def __init__(self, url: str | None = None) -> None:
        url = url or default_url()
        if not url.startswith("sqlite:///"):
            raise ValueError(f"ENFORCE_RECORD_URL: unsupported store {url.split(':', 1)[0]!r} (sqlite:///path)")
        self.path = Path(url.removeprefix("sqlite:///"))
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        try:
            if not self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            if not self._ready:
                conn.execute(SCHEMA)
                self._ready = True
            return conn
        except (sqlite3.OperationalError, OSError) as e:
            raise StoreUnavailable(f"event store {self.path}: {e}") from e

    def append(self, record: str, events: list[tuple[dict, str]]) -> int:
        """Append (body, link) pairs, in seq order; returns how many rows were new."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            new = 0
            for body, lnk in events:
                seq = body["seq"]
                row = conn.execute("SELECT body, link FROM events WHERE record=? AND seq=?", (record, seq)).fetchone()
                if row is not None:
                    if row[0] != _canonical(body) or row[1] != lnk:
                        raise RecordConflict(f"{record} event {seq}: a different event is stored there")
                    continue
                prev = conn.execute("SELECT link FROM events WHERE record=? AND seq=?", (record, seq - 1)).fetchone()
                if prev is None and seq != 1:
                    raise ChainBroken(f"{record} event {seq}: event {seq - 1} is not stored")
                expected = link(prev[0] if prev else GENESIS, body)
                if lnk != expected:
                    raise ChainBroken(f"{record} event {seq}: its link does not follow event {seq - 1}")
                conn.execute(
                    "INSERT INTO events (record, seq, case_slug, type, on_, body, link) VALUES (?,?,?,?,?,?,?)",
                    (record, seq, case_of(record), body["type"], body["on"], _canonical(body), lnk),
                )
                new += 1
            conn.execute("COMMIT")
            return new
        except StoreError:
            conn.execute("ROLLBACK")
            raise
        except sqlite3.OperationalError as e:
            raise StoreUnavailable(f"event store {self.path}: {e}") from e
        finally:
            conn.close()

    def read(self, record: str, upto: date | None = None) -> list[Row]:
        """A record's events in seq order; with `upto`, only those on or before that case-clock date."""
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT record, seq, type, on_, body, link FROM events WHERE record=? ORDER BY seq", (record,)
            ).fetchall()
        finally:
            conn.close()
        out = [Row(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]
        if upto is not None:
            out = [r for r in out if datetime.fromisoformat(r.on).date() <= upto]
        return out

    def records(self, case: str) -> list[str]:
        conn = self._connect()
        try:
            rows = conn.execute("SELECT DISTINCT record FROM events WHERE case_slug=? ORDER BY record", (case,))
            return [r[0] for r in rows.fetchall()]
        finally:
            conn.close()

    def cases(self) -> list[str]:
        conn = self._connect()
        try:
            return [r[0] for r in conn.execute("SELECT DISTINCT case_slug FROM events ORDER BY case_slug")]
        finally:
            conn.close()
