"""The investigation aggregate: checks what may happen against the state, records it as events, folds them,
and records what follows from them. One per workflow: the joint record, or one authority's track.

The workflow owns one of these and supplies the clock; nothing here knows about Temporal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from domain import events as ev
from domain.actions import CASE, Action, Ctx, New, decide
from domain.case import RESPONDENT, CaseFile
from domain.chain import GENESIS, link
from domain.errors import Rejected
from domain.limits import TAIL_BYTES, TAIL_EVENTS
from domain.policy import Cause, follow_ups, note_cause
from domain.procedure import Procedure
from domain.signing import Signed
from domain.state import InvestigationState, fold


def _size(body: dict) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


# What follows from what settles in a few rounds; more means a rule feeds itself.
MAX_ROUNDS = 8


class Investigation:
    """What a run holds: the state (the fold of every event recorded), the head of the record's hash chain,
    the causes a clock may still start from, and only the most recent events (at most TAIL_EVENTS, at most
    TAIL_BYTES in all). The whole record is not held here: the event store keeps it."""

    def __init__(self, procedure: Procedure, owner: str = CASE, events: Iterable[ev.Event] = ()):
        self.procedure = procedure
        self.owner = owner
        self.state: InvestigationState = InvestigationState()
        self.head: str = GENESIS
        self.causes: dict[int, Cause] = {}
        # The most recent events, oldest first, and each one's size in bytes (JSON).
        self.events: list[ev.Event] = []
        self.sizes: list[int] = []
        # How many recent events are kept (`keep_last`).
        self.tail_max = TAIL_EVENTS
        # Events recorded and not yet handed to the event store, each with its chain link, in seq order
        # (taken by `drain`, so this holds only what was recorded since).
        self.fresh: list[tuple[dict, str]] = []
        for e in events:
            self._take(e)

    @classmethod
    def resume(
        cls,
        procedure: Procedure,
        owner: str,
        state: InvestigationState,
        head: str,
        tail: Iterable[ev.Event],
        causes: Iterable[Cause],
    ) -> Investigation:
        """A record taken over from an earlier run: its state, chain head, recent events and open causes."""
        inv = cls(procedure, owner)
        inv.state, inv.head = state, head
        inv.causes = {c.seq: c for c in causes}
        for e in tail:
            inv._keep(e, _size(e.model_dump(mode="json")))
        return inv

    def _keep(self, event: ev.Event, size: int) -> None:
        self.events.append(event)
        self.sizes.append(size)
        self._trim()

    def _trim(self) -> None:
        while len(self.events) > 1 and (len(self.events) > self.tail_max or sum(self.sizes) > TAIL_BYTES):
            del self.events[0], self.sizes[0]

    def keep_last(self, n: int) -> None:
        """Keep at most the `n` most recent events from now on (at least one)."""
        if n != self.tail_max:
            self.tail_max = max(1, n)
            self._trim()

    def _take(self, event: ev.Event) -> None:
        """Fold one event in, link it into the chain, note it as a cause, and keep it among the recent."""
        self.state = fold([event], self.state)
        body = event.model_dump(mode="json")
        self.head = link(self.head, body)
        self.fresh.append((body, self.head))
        self.causes = note_cause(self.causes, self.procedure, self.owner, event)
        self._keep(event, _size(body))

    def drain(self) -> list[tuple[dict, str]]:
        """The (body, link) pairs recorded since the last call, in seq order, for the event store."""
        fresh, self.fresh = self.fresh, []
        return fresh

    def ctx(self, now: datetime) -> Ctx:
        return Ctx(procedure=self.procedure, now=now, owner=self.owner)

    def events_after(self, seq: int) -> list[ev.Event]:
        """The recent events after `seq` (only those still kept)."""
        return [e for e in self.events if e.seq > seq]

    def _record(self, new: New, on: datetime) -> ev.Event:
        event = new.type(seq=self.state.last_seq + 1, on=on, by=new.by, **new.fields)
        self._take(event)
        return event

    def record(self, news: Iterable[New], on: datetime) -> list[ev.Event]:
        """Record events and everything that follows from them; returns all that was recorded."""
        batch = [self._record(n, on) for n in news]
        recorded = list(batch)
        for _ in range(MAX_ROUNDS):
            more = follow_ups(self.state, self.causes, batch, self.ctx(on))
            if not more:
                return recorded
            batch = [self._record(n, on) for n in more]
            recorded += batch
        raise RuntimeError("follow-ups did not settle: a procedure rule feeds itself")

    def validate(self, action: Action, now: datetime) -> list[New]:
        """Decide, then record on a copy: whatever would fail in recording is refused here instead."""
        news = decide(action, self.state, self.ctx(now))
        trial = self._trial()
        try:
            trial.record(news, now)
        except Exception as e:  # a counting error, an invalid event: refused, never a failed workflow task
            raise Rejected(f"{action.name} cannot be recorded: {e}") from None
        return news

    def _trial(self) -> Investigation:
        trial = Investigation(self.procedure, self.owner)
        trial.events, trial.sizes, trial.state = list(self.events), list(self.sizes), self.state
        trial.tail_max = self.tail_max
        trial.head, trial.causes = self.head, self.causes
        return trial

    def check_mirror(self, events: Iterable[ev.Event]) -> None:
        """Take in `events` on a copy: whatever would fail in recording them is refused here instead."""
        trial = self._trial()
        for event in events:
            try:
                trial.mirror(event)
            except Exception as e:  # an invalid event, a counting error: refused, never a failed workflow task
                raise Rejected(f"{event.type} cannot be recorded: {e}") from None

    def execute(self, action: Action, now: datetime, signed: Signed | None = None) -> list[ev.Event]:
        """Decide and record an action; the events it decides keep its signature (what follows from them is
        the record's own doing, and unsigned)."""
        news = self.validate(action, now)
        if signed is not None:
            news = [New(n.type, n.by, {**n.fields, "signed": signed}) for n in news]
        return self.record(news, now)

    def mirror(self, event: ev.Event) -> list[ev.Event]:
        """Take in an event from another record of the same case (a track's, or the joint one)."""
        fields = {k: getattr(event, k) for k in type(event).model_fields if k not in ("seq", "on", "by", "type")}
        return self.record([New(type(event), event.by, fields)], event.on)

    # ---- opening

    def open(self, case: CaseFile, on: datetime) -> list[ev.Event]:
        if self.state.stage is not None:
            raise ValueError(f"investigation {self.state.slug} is already open")
        contacts = {RESPONDENT: case.respondent.recipient(), **case.contacts}
        return self.record(
            [
                New(
                    ev.InvestigationOpened,
                    case.lead,
                    {
                        "slug": case.slug,
                        "title": case.title,
                        "procedure": case.procedure,
                        "respondent": case.respondent.party(),
                        "lead": case.lead,
                        "authorities": case.authorities,
                        "issues": case.issues,
                        "files": case.files,
                        "opened": case.opened,
                        "linked": case.linked,
                        "contacts": contacts,
                    },
                )
            ],
            on,
        )
