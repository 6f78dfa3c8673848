"""Domain events: small immutable facts. An investigation's state is a fold of them (see `domain.state`).

Every event carries `seq` (its place in the record), `type`, `on` (the case clock) and `by` (an authority id,
`respondent`, or `system` for timers). Documents never travel in events: they carry the document's hash.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_serializer

from domain.case import Issue, Party, Recipient, Recommendation
from domain.signing import Signed

# Fields added to events after records were kept: left out of an event's JSON when unset, so what was recorded
# before they existed dumps and hashes as it always did.
ABSENT_WHEN_NONE = ("signed", "sealed")


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    on: datetime
    by: str
    # The signature of the act that decided this event (`domain.signing`); none on what the record does itself
    # (timers, notices, follow-ups) and on events recorded before acts were signed.
    signed: Signed | None = None

    @model_serializer(mode="wrap")
    def _unsigned_as_before(self, handler):
        # An unsigned event dumps (and so hashes) exactly as it did before events could carry a signature.
        out = handler(self)
        if isinstance(out, dict):
            for k in ABSENT_WHEN_NONE:
                if k in out and out[k] is None:
                    del out[k]
        return out


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
    # Where each party's notices go (the respondent and any authority given a channel in the case file).
    contacts: dict[str, Recipient] = {}


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
    # The event that made this notice necessary; clocks that run from receipt start here.
    cause: int = 0
    cause_type: str = ""
    deadline: str = ""


class NoticeFailed(Event):
    type: Literal["NoticeFailed"] = "NoticeFailed"
    notice_id: str
    kind: str
    senders: list[str]
    to: Recipient
    channel: str
    reason: str
    cause: int = 0
    cause_type: str = ""


class InformationRequested(Event):
    type: Literal["InformationRequested"] = "InformationRequested"
    request_id: str
    authority: str
    items: list[str]


class InformationProvided(Event):
    type: Literal["InformationProvided"] = "InformationProvided"
    request_id: str
    summary: str = ""


class EvidenceRecorded(Event):
    type: Literal["EvidenceRecorded"] = "EvidenceRecorded"
    evidence_id: str
    authority: str
    description: str
    sha256: str = ""
    scope: list[str] = []
    purpose: str


class VoluntaryMeasureTaken(Event):
    type: Literal["VoluntaryMeasureTaken"] = "VoluntaryMeasureTaken"
    description: str


class PreliminaryReportIssued(Event):
    type: Literal["PreliminaryReportIssued"] = "PreliminaryReportIssued"
    summary: str


class RepresentationsReceived(Event):
    type: Literal["RepresentationsReceived"] = "RepresentationsReceived"
    authority: str = ""
    summary: str


class FindingsDrafted(Event):
    type: Literal["FindingsDrafted"] = "FindingsDrafted"
    finding: str
    summary: str


class FindingsConcurred(Event):
    type: Literal["FindingsConcurred"] = "FindingsConcurred"
    authority: str


class FindingsDissented(Event):
    type: Literal["FindingsDissented"] = "FindingsDissented"
    authority: str
    finding: str
    reasons: str


class FindingsCommented(Event):
    type: Literal["FindingsCommented"] = "FindingsCommented"
    authority: str
    comments: str


class EvidenceShared(Event):
    """PIPEDA s.23, GDPR Art. 61(3): information shared between authorities is used only for its purpose."""

    type: Literal["EvidenceShared"] = "EvidenceShared"
    evidence_id: str
    authority: str
    shared_with: list[str]
    purpose: str
    # Sealed evidence: its envelope re-sealed by the holder for those it is now shared with (same content).
    sealed: str | None = None


class MessageSent(Event):
    type: Literal["MessageSent"] = "MessageSent"
    message_id: str
    to: list[str]
    subject: str
    text: str


class FindingsIssued(Event):
    """One report, a finding per authority."""

    type: Literal["FindingsIssued"] = "FindingsIssued"
    findings: dict[str, str]
    summary: str


class RecommendationsIssued(Event):
    type: Literal["RecommendationsIssued"] = "RecommendationsIssued"
    recommendations: list[Recommendation]


class RecommendationAnswered(Event):
    type: Literal["RecommendationAnswered"] = "RecommendationAnswered"
    recommendation: str
    answer: Literal["accepted", "refused"]
    # No answer before the response deadline: a deemed refusal.
    deemed: bool = False


class DeadlineSet(Event):
    type: Literal["DeadlineSet"] = "DeadlineSet"
    deadline_id: str
    authority: str
    owner: str
    kind: str
    rule: str
    statute: str
    summary: str
    trigger: date
    due: date
    owed_by: str
    count: int
    unit: str
    subject: str = ""


class DeadlineExtended(Event):
    type: Literal["DeadlineExtended"] = "DeadlineExtended"
    deadline_id: str
    previous: date
    due: date
    reason: str
    notified: list[str]
    anticipated_completion: date | None = None


class DeadlinePaused(Event):
    type: Literal["DeadlinePaused"] = "DeadlinePaused"
    deadline_id: str
    cause: str
    remaining: int


class DeadlineResumed(Event):
    type: Literal["DeadlineResumed"] = "DeadlineResumed"
    deadline_id: str
    due: date
    remaining: int


class DeadlineMet(Event):
    type: Literal["DeadlineMet"] = "DeadlineMet"
    deadline_id: str


class DeadlineMissed(Event):
    type: Literal["DeadlineMissed"] = "DeadlineMissed"
    deadline_id: str
    consequence: str


class DeadlineCancelled(Event):
    type: Literal["DeadlineCancelled"] = "DeadlineCancelled"
    deadline_id: str
    reason: str


class DeadlineElapsed(Event):
    """A window closed (a period for others to act, such as objections): nobody missed anything."""

    type: Literal["DeadlineElapsed"] = "DeadlineElapsed"
    deadline_id: str
    consequence: str


class StepRecorded(Event):
    """A step of a procedure that has its own (domain/procedure.py `steps`): `name` is the event in the
    procedure's vocabulary (DraftDecisionCirculated), which its clocks and notices refer to."""

    type: Literal["StepRecorded"] = "StepRecorded"
    step: str
    name: str
    label: str
    statute: str = ""
    # The phase the case is in once it is recorded ("" leaves it where it is).
    phase: str = ""
    actor: str = ""
    subject: str = ""
    summary: str = ""
    to: list[str] = []
    # The day periods it starts count from, when not the day it was recorded: a step the record takes when a
    # period ends is dated that period's last day.
    dated: date | None = None


class EscalationStarted(Event):
    type: Literal["EscalationStarted"] = "EscalationStarted"
    authorities: list[str]
    reason: str


class InquiryOpened(Event):
    type: Literal["InquiryOpened"] = "InquiryOpened"
    authority: str


class OrderIssued(Event):
    type: Literal["OrderIssued"] = "OrderIssued"
    authority: str
    order: str
    terms: str = ""
    comply_within_days: int | None = None


class JudicialReviewFiled(Event):
    type: Literal["JudicialReviewFiled"] = "JudicialReviewFiled"
    authority: str
    court: str
    kind: Literal["judicial-review", "appeal"] = "judicial-review"
    order: str = ""


class StayGranted(Event):
    type: Literal["StayGranted"] = "StayGranted"
    authority: str
    court: str
    order: str = ""


class CourtDecisionRecorded(Event):
    type: Literal["CourtDecisionRecorded"] = "CourtDecisionRecorded"
    authority: str
    court: str
    outcome: Literal["upheld", "quashed", "partly-struck", "dismissed", "granted"]
    citation: str = ""


class CourtApplicationFiled(Event):
    type: Literal["CourtApplicationFiled"] = "CourtApplicationFiled"
    authority: str
    court: str


class ComplianceAgreementSigned(Event):
    type: Literal["ComplianceAgreementSigned"] = "ComplianceAgreementSigned"
    authority: str
    terms: str


class ComplianceVerified(Event):
    type: Literal["ComplianceVerified"] = "ComplianceVerified"
    authority: str
    # A recommendation id (joint monitoring) or an order number (a track's own).
    subject: str


class NonComplianceFound(Event):
    type: Literal["NonComplianceFound"] = "NonComplianceFound"
    authority: str
    subject: str
    reason: str


class TrackClosed(Event):
    type: Literal["TrackClosed"] = "TrackClosed"
    authority: str
    outcome: str


class InvestigationClosed(Event):
    type: Literal["InvestigationClosed"] = "InvestigationClosed"
    outcomes: dict[str, str]


ALL_EVENTS = (
    InvestigationOpened,
    NoticeServed,
    NoticeFailed,
    InformationRequested,
    InformationProvided,
    EvidenceRecorded,
    VoluntaryMeasureTaken,
    PreliminaryReportIssued,
    RepresentationsReceived,
    FindingsDrafted,
    FindingsConcurred,
    FindingsDissented,
    FindingsCommented,
    EvidenceShared,
    MessageSent,
    FindingsIssued,
    RecommendationsIssued,
    RecommendationAnswered,
    DeadlineSet,
    DeadlineExtended,
    DeadlinePaused,
    DeadlineResumed,
    DeadlineMet,
    DeadlineMissed,
    DeadlineCancelled,
    DeadlineElapsed,
    StepRecorded,
    EscalationStarted,
    InquiryOpened,
    OrderIssued,
    JudicialReviewFiled,
    StayGranted,
    CourtDecisionRecorded,
    CourtApplicationFiled,
    ComplianceAgreementSigned,
    ComplianceVerified,
    NonComplianceFound,
    TrackClosed,
    InvestigationClosed,
)

AnyEvent = Annotated[
    InvestigationOpened
    | NoticeServed
    | NoticeFailed
    | InformationRequested
    | InformationProvided
    | EvidenceRecorded
    | VoluntaryMeasureTaken
    | PreliminaryReportIssued
    | RepresentationsReceived
    | FindingsDrafted
    | FindingsConcurred
    | FindingsDissented
    | FindingsCommented
    | EvidenceShared
    | MessageSent
    | FindingsIssued
    | RecommendationsIssued
    | RecommendationAnswered
    | DeadlineSet
    | DeadlineExtended
    | DeadlinePaused
    | DeadlineResumed
    | DeadlineMet
    | DeadlineMissed
    | DeadlineCancelled
    | DeadlineElapsed
    | StepRecorded
    | EscalationStarted
    | InquiryOpened
    | OrderIssued
    | JudicialReviewFiled
    | StayGranted
    | CourtDecisionRecorded
    | CourtApplicationFiled
    | ComplianceAgreementSigned
    | ComplianceVerified
    | NonComplianceFound
    | TrackClosed
    | InvestigationClosed,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
EVENT_TYPES: dict[str, type[Event]] = {cls.model_fields["type"].default: cls for cls in ALL_EVENTS}


def event_name(e: Event) -> str:
    """The name clocks and notices know an event by: its type, or a procedure step's own name."""
    return e.name if isinstance(e, StepRecorded) else e.type  # type: ignore[attr-defined]
