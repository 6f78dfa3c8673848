"""Reading a case's record, the one place the commands do it: the event store's copy first, then the live
workflow's `events` query for whatever has not reached the store yet. A case whose workflows are gone (deleted,
or past the namespace's retention) is read from the store alone, its state the fold of its stored events; a
record read as of a date is the fold of its events up to that date of the case clock.

What a function needs it imports itself: `enforce list` calls `respondent_names` alone, and needs neither the
domain's models nor the Temporal client's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.client import Client

    from domain import events as ev
    from domain.state import Evidence, InvestigationState
    from workflows.messages import StateView

# How long the live workflow may take to answer before the store's copy is taken as the record.
LIVE_TIMEOUT_S = 20


class NotFound(Exception):
    """Neither the store nor the server knows this record."""


class BadDate(ValueError):
    pass


def parse_day(text: str, option: str) -> date:
    """A case-clock date given on the command line: YYYY-MM-DD, between EARLIEST and LATEST."""
    from domain.limits import EARLIEST, LATEST

    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadDate(f"{option}: {text[:40]!r} is not a date (write YYYY-MM-DD)") from None
    if day < EARLIEST:
        raise BadDate(f"{option}: {day} is before {EARLIEST}, the earliest date allowed")
    if day > LATEST:
        raise BadDate(f"{option}: {day} is after {LATEST}, the latest date allowed")
    return day


@dataclass
class Record:
    """A record's events, in seq order from the first, and where they came from."""

    record: str
    events: list[ev.Event]
    stored: int
    live: bool


def _stored(record: str) -> list[ev.Event]:
    """The stored events; none when the store cannot be opened here (the live record then answers alone, and
    a record it cannot give whole is refused where it must be whole)."""
    from domain.events import EVENT_ADAPTER
    from store import Store, StoreUnavailable

    try:
        rows = Store().read(record)
    except StoreUnavailable as e:
        _unavailable(e)
        return []
    return [EVENT_ADAPTER.validate_python(r.body) for r in rows]


def _unavailable(e: Exception) -> None:
    from enforce import logs

    logs.get_logger("enforce.record").warning("event store unavailable", error=str(e))


def respondent_names(records: list[str]) -> dict[str, str]:
    """The respondent of each case (by the workflow id of its joint record), where it is an organisation, from
    its stored opening: `enforce list` shows it without its name being in a search attribute or memo (neither
    of which a store of the case's own needs). A case the store here does not hold (yet) is missing from the
    answer."""
    from store import Store, StoreUnavailable

    found: dict[str, str] = {}
    if not records:
        return found  # nothing listed: the store is not opened
    try:
        openings = Store().firsts(records)
        for record in records:
            row = openings.get(record)
            respondent = row.body.get("respondent") if row and row.type == "InvestigationOpened" else None
            if isinstance(respondent, dict) and respondent.get("kind", "organisation") == "organisation":
                found[record] = str(respondent.get("name", ""))
    except StoreUnavailable as e:
        _unavailable(e)
    return found


async def _live_after(client: Client | None, slug: str, record: str, after: int) -> list[ev.Event] | None:
    """The live workflow's events after `after`, or None when it does not answer (gone, no worker)."""
    from temporalio.service import RPCError, RPCStatusCode

    from enforce import investigations

    if client is None:
        return None
    try:
        view = await asyncio.wait_for(investigations.events(client, slug, after, record=record), LIVE_TIMEOUT_S)
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    except TimeoutError:
        return None
    return view.events


async def read(client: Client | None, slug: str, record: str | None = None) -> Record:
    """The whole record: stored events, then the live ones after the last stored (when the workflow answers).
    Raises NotFound when neither has any."""
    from workflows.messages import workflow_id

    record = record or workflow_id(slug)
    stored = await asyncio.to_thread(_stored, record)
    last = stored[-1].seq if stored else 0
    live = await _live_after(client, slug, record, last)
    if live and live[0].seq > last + 1:
        # A batch reached the store after it was read, and left the run's tail since (a run keeps the events
        # not yet stored and only a margin besides, domain.limits.TAIL_KEPT): the store has them now.
        stored = await asyncio.to_thread(_stored, record)
        last = stored[-1].seq if stored else 0
        live = await _live_after(client, slug, record, last)
    events = stored + [e for e in (live or []) if e.seq > last]
    if not events and live is None:
        raise NotFound(record)
    return Record(record, events, len(stored), live is not None)


def evidence_register(events: list[ev.Event], party: str | None = None) -> list[Evidence]:
    """Every evidence item of a record, in full, or those `party` may see (`Evidence.visible_to`, the rule the
    state's own view applies): what `enforce show` lists, the older items being no longer in the live state."""
    from domain.state import register

    items = register(events)
    return items if not party else [x for x in items if x.visible_to(party)]


def until(events: list[ev.Event], day: date | None) -> list[ev.Event]:
    return events if day is None else [e for e in events if e.on.date() <= day]


def as_party(events: list[ev.Event], state: InvestigationState, party: str | None) -> list[ev.Event]:
    from domain.state import events_visible_to

    return events if not party else events_visible_to(events, state, party)


async def state(client: Client | None, slug: str, party: str | None = None, as_of: date | None = None) -> StateView:
    """The joint record's state: the live workflow's own answer when it answers and no date is asked; else the
    fold of the record (up to `as_of`), on the case clock of that date (or of its last event)."""
    from temporalio.service import RPCError, RPCStatusCode

    from domain.limits import STATE_KEPT
    from domain.state import fold, visible_to
    from enforce import investigations
    from workflows.messages import StateView

    if as_of is None and client is not None:
        try:
            view = await asyncio.wait_for(investigations.state(client, slug, party), LIVE_TIMEOUT_S)
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
        except TimeoutError:
            pass
        else:
            if view.state.evidence_recorded <= STATE_KEPT:
                return view
            # The live state holds only the most recent evidence items in full: the register is the record's.
            found = await read(client, slug)
            evidence = evidence_register(found.events, party)
            return view.model_copy(update={"state": view.state.model_copy(update={"evidence": evidence})})
    found = await read(client, slug)
    events = until(found.events, as_of)
    folded = fold(events)
    if party:
        folded = visible_to(folded, party)
    if as_of is not None:
        clock = datetime.combine(as_of, time(0), tzinfo=UTC)
    else:
        clock = events[-1].on if events else datetime.now(UTC)
    return StateView(state=folded, clock=clock, events=folded.last_seq)
