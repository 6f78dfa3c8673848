"""An exported record as a hash chain: each line carries the hash of the line before it, so an edited,
dropped or reordered line shows. The last line is the head: which record this is (case and record), how many
events it held and the hash of the last one, and when it was exported; a file cut short has no head, and a
head that does not match its lines shows. Pure functions over text; the CLI does the file and server I/O.

What a file alone can prove: its lines are the ones the head was written over, unedited, in order, none
missing. What it cannot: that the head itself was written by `enforce export` (anyone can recompute every
hash, head included). `compare` checks a file against the live record's own chain for that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

GENESIS = "0" * 64
# The head line's format tag: the value of its `head` field.
HEAD = "enforce-export/1"
HEAD_FIELDS = ("head", "case", "record", "events", "last_hash", "exported_at")


def _digest(prev: str, body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev + canonical).encode()).hexdigest()


def link(prev: str, body: dict) -> str:
    """The chain link after `prev` for one event body (`model_dump(mode="json")`): what `chain` writes as
    `hash`, and what the event store keeps per row, so a workflow can compute the same head deterministically."""
    return _digest(prev, body)


def chain(events: Iterable[dict]) -> list[str]:
    """JSON lines: the event's fields, `prev` (the previous line's hash) and `hash` (of prev and the event)."""
    lines, prev = [], GENESIS
    for body in events:
        h = _digest(prev, body)
        lines.append(json.dumps({**body, "prev": prev, "hash": h}, ensure_ascii=False))
        prev = h
    return lines


def head_line(lines: Sequence[str], *, case: str, record: str, exported_at: str) -> str:
    """The head that ends an export of `lines` (as `chain` wrote them), chained after the last of them."""
    prev = json.loads(lines[-1])["hash"] if lines else GENESIS
    body = {
        "head": HEAD,
        "case": case,
        "record": record,
        "events": len(lines),
        "last_hash": prev,
        "exported_at": exported_at,
    }
    return json.dumps({**body, "prev": prev, "hash": _digest(prev, body)}, ensure_ascii=False)


def export_lines(events: Iterable[dict], *, case: str, record: str, exported_at: str) -> list[str]:
    """A whole export: the chained events, then their head."""
    lines = chain(events)
    return [*lines, head_line(lines, case=case, record=record, exported_at=exported_at)]


@dataclass(frozen=True)
class Head:
    case: str
    record: str
    events: int
    last_hash: str
    exported_at: str
    line: int


@dataclass
class Checked:
    """What `verify` found: the problems (each naming its line; none means the file holds), the head if the
    file has a well-formed one, and each event line's number and hash, in order."""

    problems: list[str]
    head: Head | None
    hashes: list[tuple[int, str]]


def _head_of(record: dict, n: int) -> Head | str:
    """The head a record is, or why it is a malformed one."""
    missing = [f for f in HEAD_FIELDS if f not in record]
    if missing:
        return f"line {n}: a head without {', '.join(missing)}"
    if record["head"] != HEAD:
        return f"line {n}: a head of an unknown format {str(record['head'])[:40]!r} (this is {HEAD})"
    extra = sorted(set(record) - set(HEAD_FIELDS))
    if extra:
        return f"line {n}: a head with fields no export writes: {', '.join(extra)[:80]}"
    events = record["events"]
    if not isinstance(events, int) or isinstance(events, bool) or events < 0:
        return f"line {n}: the head's event count is not a number"
    if not all(isinstance(record[f], str) for f in ("case", "record", "last_hash", "exported_at")):
        return f"line {n}: the head's case, record, last_hash and exported_at must be text"
    return Head(record["case"], record["record"], events, record["last_hash"], record["exported_at"], n)


def verify(lines: Iterable[str]) -> list[str]:
    """Problems found, one line each naming the line number; an empty list means the file holds."""
    return check(lines).problems


def check(lines: Iterable[str]) -> Checked:
    problems: list[str] = []
    hashes: list[tuple[int, str]] = []
    head: Head | None = None
    prev, last_seq, last_n, ends_with_head = GENESIS, 0, 0, False
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        last_n, ends_with_head = n, False
        if head is not None:
            problems.append(f"line {n}: a line after the head (line {head.line}), which must be the last")
            head = None
        try:
            record = json.loads(line)
            claimed_prev, claimed = record.pop("prev"), record.pop("hash")
            if not isinstance(claimed_prev, str) or not isinstance(claimed, str):
                raise TypeError
        except (ValueError, KeyError, AttributeError, TypeError, RecursionError):
            problems.append(f"line {n}: not a record of this export")
            prev = ""
            continue
        if claimed_prev != prev:
            problems.append(f"line {n}: does not follow line {n - 1} (a line was dropped, added or reordered)")
        if _digest(claimed_prev, record) != claimed:
            problems.append(f"line {n}: its content does not match its hash (edited)")
        prev = claimed
        if "head" in record:
            ends_with_head = True
            found = _head_of(record, n)
            if isinstance(found, str):
                problems.append(found)
                continue
            head = found
            if head.events != len(hashes):
                problems.append(f"line {n}: the head counts {head.events} events, the file holds {len(hashes)}")
            last = hashes[-1][1] if hashes else GENESIS
            if head.last_hash != last:
                problems.append(f"line {n}: the head's last hash is not the hash of the last event")
            continue
        hashes.append((n, claimed))
        seq = record.get("seq")
        if isinstance(seq, int) and seq != last_seq + 1:
            problems.append(f"line {n}: event {seq} after event {last_seq}")
        last_seq = seq if isinstance(seq, int) else last_seq
    if last_n == 0:
        problems.append("the file is empty: not an export")
    elif not ends_with_head:
        problems.append(f"line {last_n}: the file ends without its head (cut short?)")
    return Checked(problems, head, hashes)


def compare(checked: Checked, live: Sequence[str]) -> str | None:
    """The first difference between a verified file and the live record's own chain (`chain` of its events),
    or None when the file is exactly the live record's first `head.events` events."""
    assert checked.head is not None
    count = checked.head.events
    if len(live) < count:
        return f"the file holds {count} events, the live record only {len(live)}: events were added to the file"
    for i, (n, claimed) in enumerate(checked.hashes):
        if json.loads(live[i])["hash"] != claimed:
            return f"line {n}: differs from event {i + 1} of the live record"
    return None
