"""Every size and date limit of the engine, stated once. Whatever a client sends (an action, a signal, a
case file, a procedure file) is held to these, well below Temporal's limits (2 MB per payload, 4 MB per
gRPC message), so that no input can make a query, an update or a continue-as-new fail.

Long content (representations, evidence) belongs in the document store, referenced by its SHA-256.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from domain.sealed import is_sealed

# One text field a party writes (a summary, reasons, a description): 64 KiB of characters.
TEXT_MAX = 64 * 1024
# Content between authorities (evidence, messages, mutual-assistance requests) arrives sealed for its readers
# (domain.sealed): a text of TEXT_MAX characters in its envelope, base64 twice, with a wrap of its key for each
# of up to LIST_MAX recipients, stays under this; the text itself is still held to TEXT_MAX before sealing.
SEALED_MAX = 3 * TEXT_MAX
# The identity a client gives Temporal (user, party, command, process): one line.
CLIENT_IDENTITY_MAX = 200
# A name, a title, a subject, a court, an id: one line.
SHORT_MAX = 300
# A case's slug (its workflow id is `investigation-<slug>`): lower-case letters, digits and hyphens.
SLUG_MAX = 63
# An identifier (an authority, an issue, a recommendation, a request id).
ID_MAX = 100
# One recommendation's text, and how many one report makes: 100 x 2000 characters stays under ACTION_BYTES_MAX.
PARAGRAPH_MAX = 2000
RECOMMENDATIONS_MAX = 100
# One list in an action or a case file (items, recipients, recommendations, issues, steps).
LIST_MAX = 200
# The encoded payload of one action (an update) or one batch of events between records (a signal).
ACTION_BYTES_MAX = 256 * 1024
SIGNAL_BYTES_MAX = 1024 * 1024
# A query's input is a handful of fields.
QUERY_BYTES_MAX = 4 * 1024
# Case files and procedure files on disk. Opening a case sends both in one payload, where JSON may at most
# double a string (`"` and `\\` escaped): 2 x (256 + 256) KiB stays well under Temporal's 2 MB.
CASE_FILE_BYTES_MAX = 256 * 1024
PROCEDURE_FILE_BYTES_MAX = 256 * 1024
# The update ids a record remembers (through continue-as-new), so that a retried action records nothing twice.
UPDATE_IDS_KEPT = 1000
# The request ids of signed acts a record remembers (through continue-as-new), so that a signed act sent again
# records nothing: past this many, an act signed no later than the newest one forgotten is refused as too old.
SIGNED_IDS_KEPT = 1000
# A public key or a signature in base64, in a signature or a keyring entry (Ed25519/X25519: 44 and 88 chars).
KEY_B64_MAX = 128
# What a run keeps of its record besides the state: the most recent events, at most this many and at most this
# many bytes (JSON) in all. The whole record is the event store's to keep, not the workflow's; until the
# commands read the store, a run keeps enough for a case's whole life (Clearview to closure: 72 events).
TAIL_EVENTS = 1000
TAIL_BYTES = 512 * 1024
# ... and what a run that copies its record to the event store keeps: the events not yet stored, and the most
# recent this many besides (a reader that read the store just before a batch landed there finds the rest here).
TAIL_KEPT = 100
# The most recent of each history list the state shows (messages, notices served, each track's comments on the
# findings, voluntary measures): the state stays bounded by the case's open business, the record keeps the rest.
STATE_KEPT = 100
# Events a record keeps as possible causes of a clock run from service (domain.policy.Cause), while not yet set.
CAUSES_KEPT = 200
# What a continue-as-new input (workflows.messages.Carried) stays under for a case of thousands of events whose
# text fields are short (tests/test_small_runs.py); well under Temporal's 2 MB payload limit.
CARRIED_BYTES_MAX = TAIL_BYTES + 256 * 1024
# ... and for a case whose every text field is at its limit: the tail's bytes and as much again for the rest.
CARRIED_FULL_BYTES_MAX = 2 * TAIL_BYTES
# The events one append to the event store carries (activities.store.append_events), in JSON bytes; a batch
# holds at least one event (an event is at most an action's size, ACTION_BYTES_MAX): under Temporal's 2 MB.
STORE_BATCH_BYTES = 512 * 1024
# Callers a record lets wait at once for it to be quiet (the `quiet` update): a simulation asks once per record.
QUIET_WAITERS_MAX = 16
# JSON/TOML nesting: no document of the engine is deeper than this.
NESTING_MAX = 12
# The earliest date a case, a step or a deadline may carry: before PIPEDA (2000) and the GDPR (2016),
# a date this old is a typo. The latest is the case clock's today (checked where today is known).
EARLIEST = date(1990, 1, 1)

Text = Annotated[str, Field(max_length=TEXT_MAX)]
Short = Annotated[str, Field(max_length=SHORT_MAX)]


def _text_unless_sealed(v: str) -> str:
    if len(v) > TEXT_MAX and not is_sealed(v):
        raise ValueError(f"at most {TEXT_MAX} characters")
    return v


# A text field that may arrive sealed: TEXT_MAX characters in clear, SEALED_MAX in its envelope.
Content = Annotated[str, Field(max_length=SEALED_MAX), AfterValidator(_text_unless_sealed)]
Id = Annotated[str, Field(max_length=ID_MAX)]


def depth(value: object, limit: int = NESTING_MAX) -> int:
    """How deeply `value` nests lists and dicts, counting no further than `limit` + 1 (no recursion)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return d
        deepest = max(deepest, d)
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list | tuple):
            stack.extend((x, d + 1) for x in v)
    return deepest


# A request id (`enforce act --request-id`, the update id that makes a retry record nothing new): letters,
# digits and `._:-`, starting with a letter or digit, at most ID_MAX characters.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
# How long `enforce act` may wait for a worker before it says the action is pending.
ACT_WAIT_MAX_S = 600
# An exported record read back by `enforce verify`.
EXPORT_FILE_BYTES_MAX = 256 * 1024 * 1024

# The latest date any action or step may name (a due date, an extension): far beyond any statutory clock,
# far before date arithmetic overflows (year 9999).
LATEST = date(2199, 12, 31)


def _no_numbers(v: object) -> object:
    # pydantic reads an integer as a Unix time; a date is written as a date (2020-02-21).
    if isinstance(v, bool | int | float):
        raise ValueError(f"{v!r} is not a date (write YYYY-MM-DD)")
    return v


def _in_range(d: date) -> date:
    if d < EARLIEST:
        raise ValueError(f"{d} is before {EARLIEST}, the earliest date allowed")
    if d > LATEST:
        raise ValueError(f"{d} is after {LATEST}, the latest date allowed")
    return d


Day = Annotated[date, BeforeValidator(_no_numbers), AfterValidator(_in_range)]


def limit_message(err: dict) -> str | None:
    """Pydantic's size errors, said as the limit: `at most 65536 characters`."""
    ctx = err.get("ctx") or {}
    if err["type"] == "string_too_long":
        return f"at most {ctx.get('max_length')} characters"
    if err["type"] == "too_long":
        return f"at most {ctx.get('max_length')} items"
    return None


def check_file(raw: bytes, source: str, limit: int) -> str:
    """A file's bytes as text, refused when too large or not UTF-8 (before any parsing)."""
    from domain.errors import DataError

    if len(raw) > limit:
        raise DataError(source, "(file)", f"{len(raw)} bytes; at most {limit} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(source, "(file)", f"not UTF-8 (byte {e.start})") from None


def check_depth(data: object, source: str) -> None:
    from domain.errors import DataError

    if depth(data) > NESTING_MAX:
        raise DataError(source, "(file)", f"nested deeper than {NESTING_MAX} levels")
