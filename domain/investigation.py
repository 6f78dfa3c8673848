"""The investigation aggregate: checks what may happen against the state, records it as events, folds them,
and records what follows from them. One per workflow: the joint record, or one authority's track.

The workflow owns one of these and supplies the clock; nothing here knows about Temporal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from domain import events as ev
from domain.actions import CASE, Action, Ctx, New, decide
from domain.case import RESPONDENT, CaseFile
from domain.errors import Rejected
from domain.policy import follow_ups
from domain.procedure import Procedure
from domain.state import InvestigationState, fold

# What follows from what settles in a few rounds; more means a rule feeds itself.
MAX_ROUNDS = 8


class Investigation:
    def __init__(self, procedure: Procedure, owner: str = CASE, events: Iterable[ev.Event] = ()):
        self.procedure = procedure
        self.owner = owner
        self.events: list[ev.Event] = list(events)
        self.state: InvestigationState = fold(self.events)

    def ctx(self, now: datetime) -> Ctx:
        return Ctx(procedure=self.procedure, now=now, owner=self.owner)

    def events_after(self, seq: int) -> list[ev.Event]:
        return [e for e in self.events if e.seq > seq]

    def _record(self, new: New, on: datetime) -> ev.Event:
        event = new.type(seq=self.state.last_seq + 1, on=on, by=new.by, **new.fields)
        self.state = fold([event], self.state)
        self.events.append(event)
        return event

    def record(self, news: Iterable[New], on: datetime) -> list[ev.Event]:
        """Record events and everything that follows from them; returns all that was recorded."""
        batch = [self._record(n, on) for n in news]
        recorded = list(batch)
        for _ in range(MAX_ROUNDS):
            more = follow_ups(self.state, self.events, batch, self.ctx(on))
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
        trial.events, trial.state = list(self.events), self.state
        return trial

    def check_mirror(self, events: Iterable[ev.Event]) -> None:
        """Take in `events` on a copy: whatever would fail in recording them is refused here instead."""
        trial = self._trial()
        for event in events:
            try:
                trial.mirror(event)
            except Exception as e:  # an invalid event, a counting error: refused, never a failed workflow task
                raise Rejected(f"{event.type} cannot be recorded: {e}") from None

    def execute(self, action: Action, now: datetime) -> list[ev.Event]:
        return self.record(self.validate(action, now), now)

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
