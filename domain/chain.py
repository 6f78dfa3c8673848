"""An exported record as a hash chain: each line carries the hash of the line before it, so an edited,
dropped or reordered line shows. Pure functions over text; the CLI does the file I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

GENESIS = "0" * 64


def _digest(prev: str, body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev + canonical).encode()).hexdigest()


def chain(events: Iterable[dict]) -> list[str]:
    """JSON lines: the event's fields, `prev` (the previous line's hash) and `hash` (of prev and the event)."""
    lines, prev = [], GENESIS
    for body in events:
        h = _digest(prev, body)
        lines.append(json.dumps({**body, "prev": prev, "hash": h}, ensure_ascii=False))
        prev = h
    return lines


def verify(lines: Iterable[str]) -> list[str]:
    """Problems found, one line each naming the line number; an empty list means the chain holds."""
    problems, prev, last_seq = [], GENESIS, 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            claimed_prev, claimed = record.pop("prev"), record.pop("hash")
        except (ValueError, KeyError, AttributeError):
            problems.append(f"line {n}: not a record of this export")
            prev = ""
            continue
        if claimed_prev != prev:
            problems.append(f"line {n}: does not follow line {n - 1} (a line was dropped, added or reordered)")
        if _digest(claimed_prev, record) != claimed:
            problems.append(f"line {n}: its content does not match its hash (edited)")
        seq = record.get("seq")
        if isinstance(seq, int) and seq != last_seq + 1:
            problems.append(f"line {n}: event {seq} after event {last_seq}")
        last_seq = seq if isinstance(seq, int) else last_seq
        prev = claimed
    return problems
