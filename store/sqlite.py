"""The SQLite backend of the event store: one file, created 0600; one writer at a time (BEGIN IMMEDIATE)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from store.schema import MIGRATIONS


class SQLite:
    # A file that cannot be opened, a lock not had within the timeout, a disk that is full: retry later.
    UNAVAILABLE: tuple[type[BaseException], ...] = (sqlite3.OperationalError, sqlite3.IntegrityError, OSError)

    def __init__(self, url: str, migrations: list[tuple[str, ...]] = MIGRATIONS) -> None:
        self.path = Path(url.removeprefix("sqlite:///"))
        self.where = str(self.path)
        self.migrations = migrations

    @staticmethod
    def sql(text: str) -> str:
        return text

    def connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    @contextmanager
    def transaction(self, conn: sqlite3.Connection, key: str) -> Iterator[None]:
        """A write transaction. BEGIN IMMEDIATE takes the file's write lock at once, for every `key`."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
