"""What appending to the event store costs per event, in batches of 1 and of 50. Prints figures.

.venv/bin/python -m bench.store                          SQLite, in a temporary file
.venv/bin/python -m bench.store postgresql://u@h/db      and PostgreSQL (writes records investigation-bench-<id>)

(As a module: run as a file, its name would hide the store package.)
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path

from domain.chain import GENESIS, link
from store import Store

N = 500


def body(seq: int) -> dict:
    return {"seq": seq, "type": "EvidenceRecorded", "on": "2021-02-02T00:00:00Z", "by": "opc", "note": "x" * 200}


def timed(store: Store, batch: int) -> float:
    record = f"investigation-bench-{uuid.uuid4().hex[:8]}"
    prev, pairs = GENESIS, []
    for seq in range(1, N + 1):
        b = body(seq)
        prev = link(prev, b)
        pairs.append((b, prev))
    store.count()  # connect and migrate outside the timing
    start = time.perf_counter()
    for i in range(0, N, batch):
        store.append(record, pairs[i : i + batch])
    return (time.perf_counter() - start) / N


if __name__ == "__main__":
    for batch in (1, 50):
        with tempfile.TemporaryDirectory() as d:
            per = timed(Store(f"sqlite:///{Path(d) / 'record.db'}"), batch)
        print(f"sqlite      batch {batch:>3}: {per * 1e6:8.0f} µs per event ({N} events)")
    for url in sys.argv[1:]:
        for batch in (1, 50):
            print(f"postgresql  batch {batch:>3}: {timed(Store(url), batch) * 1e6:8.0f} µs per event ({N} events)")
