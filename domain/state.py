"""An investigation's state as a pure fold of its events: `apply(state, event) -> state`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from functools import singledispatch
from typing import Literal

from pydantic import BaseModel, ConfigDict

from domain.case import Issue, Party, Recipient
from domain.events import Event, InvestigationOpened, NoticeFailed, NoticeServed


class Stage(StrEnum):
    OPENED = "opened"
    INVESTIGATING = "investigating"
    PRELIMINARY_REPORT = "preliminary-report"
    FINDINGS = "findings"
    RECOMMENDATIONS = "recommendations"
    AWAITING_RESPONSE = "awaiting-response"
    COMPLIANCE_MONITORING = "compliance-monitoring"
    ESCALATION = "escalation"
    CLOSED = "closed"


class NoticeRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    notice_id: str
    kind: str
    senders: list[str]
    to: Recipient
    status: Literal["served", "failed"]
    channel: str
    on: datetime
    section: str = ""
    message_id: str = ""
    delivered_at: datetime | None = None
    document: str = ""
    sha256: str = ""
    reason: str = ""


class InvestigationState(BaseModel):
    model_config = ConfigDict(frozen=True)

    slug: str = ""
    title: str = ""
    procedure: str = ""
    stage: Stage | None = None
    respondent: Party | None = None
    lead: str = ""
    authorities: list[str] = []
    issues: list[Issue] = []
    files: dict[str, str] = {}
    opened: date | None = None
    linked: list[str] = []
    notices: list[NoticeRecord] = []
    last_seq: int = 0

    @property
    def undelivered(self) -> list[NoticeRecord]:
        return [n for n in self.notices if n.status == "failed"]

    @property
    def awaiting_party(self) -> str:
        """Whose move it is: an authority id, `respondent`, or `none`."""
        if self.stage in (None, Stage.CLOSED):
            return "none"
        # Investigating, or a notice the case officer must see to: the lead authority holds the pen.
        return self.lead


@singledispatch
def _evolve(event: Event, state: InvestigationState) -> dict:
    raise TypeError(f"no rule to apply {type(event).__name__}")


@_evolve.register
def _(e: InvestigationOpened, s: InvestigationState) -> dict:
    return dict(
        slug=e.slug,
        title=e.title,
        procedure=e.procedure,
        stage=Stage.INVESTIGATING,
        respondent=e.respondent,
        lead=e.lead,
        authorities=e.authorities,
        issues=e.issues,
        files=e.files,
        opened=e.opened,
        linked=e.linked,
    )


def _replace_notice(s: InvestigationState, record: NoticeRecord) -> list[NoticeRecord]:
    # A notice that failed and is later served again keeps one line, its latest status.
    return [n for n in s.notices if n.notice_id != record.notice_id] + [record]


@_evolve.register
def _(e: NoticeServed, s: InvestigationState) -> dict:
    record = NoticeRecord(
        notice_id=e.notice_id,
        kind=e.kind,
        senders=e.senders,
        to=e.to,
        status="served",
        channel=e.channel,
        on=e.on,
        section=e.section,
        message_id=e.message_id,
        delivered_at=e.delivered_at,
        document=e.document,
        sha256=e.sha256,
    )
    return dict(notices=_replace_notice(s, record))


@_evolve.register
def _(e: NoticeFailed, s: InvestigationState) -> dict:
    record = NoticeRecord(
        notice_id=e.notice_id,
        kind=e.kind,
        senders=e.senders,
        to=e.to,
        status="failed",
        channel=e.channel,
        on=e.on,
        reason=e.reason,
    )
    return dict(notices=_replace_notice(s, record))


def apply(state: InvestigationState, event: Event) -> InvestigationState:
    if event.seq != state.last_seq + 1:
        raise ValueError(f"event {event.seq} applied after {state.last_seq}: the record has a gap")
    return state.model_copy(update={**_evolve(event, state), "last_seq": event.seq})


def fold(events: Iterable[Event], state: InvestigationState | None = None) -> InvestigationState:
    state = state or InvestigationState()
    for event in events:
        state = apply(state, event)
    return state
