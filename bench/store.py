"""What appending to the event store costs per event (SQLite), in batches of 1 and of 50. Prints figures.

.venv/bin/python -m bench.store   (as a module: run as a file, its name would hide the store package)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from domain.chain import GENESIS, link
from store import Store

N = 500


def body(seq: int) -> dict:
    return {"seq": seq, "type": "EvidenceRecorded", "on": "2021-02-02T00:00:00Z", "by": "opc", "note": "x" * 200}


def run(batch: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        store = Store(f"sqlite:///{Path(d) / 'record.db'}")
        prev, pairs = GENESIS, []
        for seq in range(1, N + 1):
            b = body(seq)
            prev = link(prev, b)
            pairs.append((b, prev))
        start = time.perf_counter()
        for i in range(0, N, batch):
            store.append("investigation-bench", pairs[i : i + batch])
        return (time.perf_counter() - start) / N


if __name__ == "__main__":
    for batch in (1, 50):
        print(f"sqlite  batch {batch:>3}: {run(batch) * 1e6:8.0f} µs per event ({N} events)")
