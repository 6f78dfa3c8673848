"""Domain events: small immutable facts. An investigation's state is a fold of them (see `domain.state`).

Every event carries `seq` (its place in the record), `type`, `on` (the case clock) and `by` (an authority id,
`respondent`, or `system` for timers). Documents never travel in events: they carry the document's hash.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from domain.case import Issue, Party, Recipient


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    on: datetime
    by: str


class InvestigationOpened(Event):
    type: Literal["InvestigationOpened"] = "InvestigationOpened"
    slug: str
    title: str
    procedure: str
    respondent: Party
    lead: str
    authorities: list[str]
    issues: list[Issue]
    files: dict[str, str] = {}
    opened: date
    linked: list[str] = []


class NoticeServed(Event):
    """Proof of service: what was sent, by whom, under which section, to whom, how, and when it arrived."""

    type: Literal["NoticeServed"] = "NoticeServed"
    notice_id: str
    kind: str
    senders: list[str]
    section: str
    to: Recipient
    channel: str
    message_id: str
    delivered_at: datetime
    document: str
    sha256: str


class NoticeFailed(Event):
    type: Literal["NoticeFailed"] = "NoticeFailed"
    notice_id: str
    kind: str
    senders: list[str]
    to: Recipient
    channel: str
    reason: str


AnyEvent = Annotated[
    InvestigationOpened | NoticeServed | NoticeFailed,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
EVENT_TYPES: tuple[str, ...] = tuple(
    cls.model_fields["type"].default for cls in (InvestigationOpened, NoticeServed, NoticeFailed)
)
