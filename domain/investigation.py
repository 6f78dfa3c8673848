"""The investigation aggregate: checks what may happen against the state, records it as events, folds them.

The workflow owns one of these and supplies the clock; nothing here knows about Temporal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from domain.case import CaseFile
from domain.events import Event, InvestigationOpened
from domain.notices import NoticeRequest, notice_id, senders_for
from domain.procedure import Procedure
from domain.state import InvestigationState, fold

SYSTEM = "system"


class Investigation:
    def __init__(self, procedure: Procedure, events: Iterable[Event] = ()):
        self.procedure = procedure
        self.events: list[Event] = list(events)
        self.state: InvestigationState = fold(self.events)

    def record(self, event_type: type[Event], *, on: datetime, by: str, **fields) -> Event:
        event = event_type(seq=self.state.last_seq + 1, on=on, by=by, **fields)
        self.state = fold([event], self.state)
        self.events.append(event)
        return event

    def events_after(self, seq: int) -> list[Event]:
        return [e for e in self.events if e.seq > seq]

    # ---- opening

    def open(self, case: CaseFile, on: datetime) -> Event:
        if self.state.stage is not None:
            raise ValueError(f"investigation {self.state.slug} is already open")
        return self.record(
            InvestigationOpened,
            on=on,
            by=case.lead,
            slug=case.slug,
            title=case.title,
            procedure=case.procedure,
            respondent=case.respondent.party(),
            lead=case.lead,
            authorities=case.authorities,
            issues=case.issues,
            files=case.files,
            opened=case.opened,
            linked=case.linked,
        )

    def notice_of_investigation(self, case: CaseFile, opened: Event) -> NoticeRequest:
        """The joint notice every authority sends the respondent when the investigation opens."""
        s = self.state
        return NoticeRequest(
            notice_id=notice_id(s.slug, opened.seq, "notice-of-investigation", "respondent"),
            kind="notice-of-investigation",
            procedure=s.procedure,
            case_slug=s.slug,
            case_title=s.title,
            issues=s.issues,
            senders=senders_for(self.procedure, s.authorities, s.files, "notice"),
            to=case.respondent.recipient(),
            dated=opened.on.date(),
        )
