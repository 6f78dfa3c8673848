"""An investigation's state as a pure fold of its events: `apply(state, event) -> state`.

The same fold serves the joint record (the parent workflow, which sees every track's events) and an
authority's track (a child workflow, which sees its own events and the joint ones it is sent).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from functools import singledispatch
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from domain import events as ev
from domain import sealed as sealed_text
from domain.case import Issue, Party, Recipient
from domain.limits import STATE_KEPT

if TYPE_CHECKING:
    from domain.procedure import Procedure


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


class TrackStatus(StrEnum):
    INVESTIGATING = "investigating"
    ESCALATION = "escalation"
    INQUIRY = "inquiry"
    ORDER = "order"
    IN_COURT = "in-court"
    COMPLIANCE_AGREEMENT = "compliance-agreement"
    MONITORING = "monitoring"
    CLOSED = "closed"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class NoticeRecord(Frozen):
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


class DeadlineState(Frozen):
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
    # What the clock is about: an information request's id, an order's number.
    subject: str = ""
    status: Literal["open", "paused", "met", "missed", "elapsed", "cancelled"] = "open"
    # The period as the rule counted it (0 in records from before it was kept).
    count: int = 0
    unit: str = ""
    # The due date the clock first had, before any extension or stay moved it.
    initial_due: date | None = None
    remaining: int | None = None
    extensions: int = 0
    pauses: int = 0
    # The seq of the last event that changed this deadline: a running timer restarts when it moves.
    version: int = 0

    @property
    def running(self) -> bool:
        return self.status == "open"

    @property
    def label(self) -> str:
        """The status people read: an open clock that was extended says so."""
        return "extended" if self.status == "open" and self.extensions else self.status


class RecommendationState(Frozen):
    id: str
    text: str
    answer: Literal["pending", "accepted", "refused"] = "pending"
    deemed: bool = False
    verified: bool = False


class Order(Frozen):
    order: str
    on: date
    terms: str = ""
    comply_within_days: int | None = None
    status: Literal["in-force", "stayed", "upheld", "quashed", "partly-struck", "complied", "defaulted"] = "in-force"


class Track(Frozen):
    authority: str
    status: TrackStatus = TrackStatus.INVESTIGATING
    concurrence: Literal["lead", "pending", "concurred", "dissented", "none"] = "none"
    finding: str = ""
    dissent: str = ""
    orders: list[Order] = []
    court: list[str] = []
    outcome: str = ""
    comments: list[str] = []


class Evidence(Frozen):
    evidence_id: str
    authority: str
    description: str
    sha256: str
    scope: list[str]
    purpose: str
    # Who it has been shared with, and for what, as the sharing events recorded it.
    shared_with: list[str] = []

    def visible_to(self, party: str) -> bool:
        return party == self.authority or party in self.shared_with or ("all" in self.scope and party != "respondent")

    @property
    def is_sealed(self) -> bool:
        return sealed_text.is_sealed(self.description)

    def same_content(self, envelope: str) -> bool:
        """Whether `envelope` seals this item's very content (a re-seal of it)."""
        return sealed_text.same_content(self.description, envelope)


EVIDENCE_NUMBER = re.compile(r"^E-([1-9][0-9]{0,17})$")


def evidence_number(evidence_id: str) -> int | None:
    """The number in an evidence id as `record-evidence` gives it (E-1, E-2, ...), or None."""
    m = EVIDENCE_NUMBER.match(evidence_id)
    return int(m.group(1)) if m else None


class OldEvidence(Frozen):
    """An evidence item that has left the state's list, as much of it as a record still needs: who holds it,
    who may see it, and (sealed) the digest of its content that a re-seal of it must match. Its description,
    hash and purpose are the record's (the event store's EvidenceRecorded and EvidenceShared)."""

    evidence_id: str
    authority: str
    to_all: bool = False
    shared_with: list[str] = []
    digest: str = ""

    def visible_to(self, party: str) -> bool:
        return party == self.authority or party in self.shared_with or (self.to_all and party != "respondent")

    @property
    def is_sealed(self) -> bool:
        return bool(self.digest)

    def same_content(self, envelope: str) -> bool:
        return self.digest not in ("", "-") and sealed_text.digest(envelope) == self.digest


class EvidenceRun(Frozen):
    """Consecutive older evidence items, E-`first` to E-(`first` + `count` - 1), alike in who holds them, whether
    their scope is every authority, and whom they had been shared with when they left the state's list."""

    first: int
    count: int
    holder: str
    to_all: bool = False
    shared_with: list[str] = []
    # One digest per item (domain.sealed.digest; "" for an item in clear), or none at all when none is sealed.
    sealed: list[str] = []


class EvidenceIndex(Frozen):
    """The evidence items older than the state's list, in the least that deciding a share and hiding a party's
    evidence need: runs of items alike, the shares recorded since an item left the list, and a digest per
    sealed item. An item in clear costs nothing here while its neighbours are alike; a sealed one its digest."""

    runs: list[EvidenceRun] = []
    # Shares recorded after an item left the list: its id -> with whom (sorted), besides its run's.
    shared: dict[str, list[str]] = {}

    @property
    def count(self) -> int:
        return sum(r.count for r in self.runs)

    def _run(self, n: int) -> tuple[EvidenceRun, int] | None:
        i = bisect.bisect_right([r.first for r in self.runs], n) - 1
        if i < 0 or n >= self.runs[i].first + self.runs[i].count:
            return None
        return self.runs[i], n - self.runs[i].first

    def find(self, evidence_id: str) -> OldEvidence | None:
        n = evidence_number(evidence_id)
        found = self._run(n) if n is not None and self.runs else None
        if found is None:
            return None
        run, i = found
        return OldEvidence(
            evidence_id=evidence_id,
            authority=run.holder,
            to_all=run.to_all,
            shared_with=sorted({*run.shared_with, *self.shared.get(evidence_id, [])}),
            digest=run.sealed[i] if run.sealed else "",
        )

    def held_by(self, party: str) -> list[str]:
        return [f"E-{r.first + i}" for r in self.runs if r.holder == party for i in range(r.count)]

    def add(self, item: Evidence) -> EvidenceIndex:
        """With `item` (numbered after every item here) added."""
        n = evidence_number(item.evidence_id)
        if n is None or (self.runs and n < self.runs[-1].first + self.runs[-1].count):
            raise ValueError(f"evidence {item.evidence_id} cannot follow the older items")
        digest = sealed_text.digest(item.description)
        like = (item.authority, "all" in item.scope, sorted(item.shared_with))
        last = self.runs[-1] if self.runs else None
        if last is not None and last.first + last.count == n and (last.holder, last.to_all, last.shared_with) == like:
            sealed = [*(last.sealed or [""] * last.count), digest] if (digest or last.sealed) else []
            runs = [*self.runs[:-1], last.model_copy(update={"count": last.count + 1, "sealed": sealed})]
        else:
            run = EvidenceRun(
                first=n, count=1, holder=like[0], to_all=like[1], shared_with=like[2], sealed=[digest] if digest else []
            )
            runs = [*self.runs, run]
        return self.model_copy(update={"runs": runs})


class Message(Frozen):
    message_id: str
    sender: str
    to: list[str]
    subject: str
    on: datetime


class InformationRequest(Frozen):
    request_id: str
    authority: str
    items: list[str]
    provided: bool = False


class StepEntry(Frozen):
    """A procedure step as the case file's history shows it, in the procedure's own words."""

    seq: int
    on: datetime
    by: str
    step: str
    name: str
    label: str
    statute: str = ""
    subject: str = ""
    summary: str = ""
    to: list[str] = []


class InvestigationState(Frozen):
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
    contacts: dict[str, Recipient] = {}
    notices: list[NoticeRecord] = []
    deadlines: dict[str, DeadlineState] = {}
    tracks: dict[str, Track] = {}
    draft_finding: str = ""
    findings_summary: str = ""
    recommendations: list[RecommendationState] = []
    requests: list[InformationRequest] = []
    # The evidence register: the most recent items in full (once a record compacts it, `compact_evidence`: the
    # last STATE_KEPT), how many were ever recorded (which numbers the next), and the least that deciding a
    # share and hiding a party's evidence need of the older ones (never shown: the record lists them).
    evidence: list[Evidence] = []
    evidence_recorded: int = 0
    evidence_older: EvidenceIndex = EvidenceIndex()
    # The most recent STATE_KEPT messages; how many were ever sent (which numbers the next).
    messages: list[Message] = []
    messages_sent: int = 0
    voluntary_measures: list[str] = []
    # A procedure of its own steps: the phase it is in, how many of each step event were recorded (which
    # numbers the next subject), the seq of the latest of each, and the most recent STATE_KEPT steps.
    phase: str = ""
    step_counts: dict[str, int] = {}
    step_last: dict[str, int] = {}
    steps: list[StepEntry] = []
    last_seq: int = 0

    @model_validator(mode="before")
    @classmethod
    def _count_evidence(cls, data: object) -> object:
        # A state carried over from before the register was counted holds every item it recorded.
        if isinstance(data, dict) and "evidence_recorded" not in data:
            data = {**data, "evidence_recorded": len(data.get("evidence") or [])}
        return data

    def evidence_item(self, evidence_id: str) -> Evidence | OldEvidence | None:
        """An evidence item by its id: in full when it is among the recent ones, else as its index keeps it."""
        kept = next((x for x in self.evidence if x.evidence_id == evidence_id), None)
        return kept if kept is not None else self.evidence_older.find(evidence_id)

    def evidence_held(self, party: str) -> list[str]:
        """The ids of the evidence items `party` holds, oldest first."""
        return self.evidence_older.held_by(party) + [x.evidence_id for x in self.evidence if x.authority == party]

    # ---- derived views, never stored

    @property
    def undelivered(self) -> list[NoticeRecord]:
        return [n for n in self.notices if n.status == "failed"]

    @property
    def open_deadlines(self) -> list[DeadlineState]:
        return sorted((d for d in self.deadlines.values() if d.status in ("open", "paused")), key=lambda d: d.due)

    @property
    def next_deadline(self) -> DeadlineState | None:
        running = [d for d in self.open_deadlines if d.running]
        return running[0] if running else None

    @property
    def co_authorities(self) -> list[str]:
        return [a for a in self.authorities if a != self.lead]

    @property
    def awaiting_concurrence(self) -> list[str]:
        return [a for a, t in self.tracks.items() if t.concurrence == "pending"]

    @property
    def unanswered(self) -> list[str]:
        return [r.id for r in self.recommendations if r.answer == "pending"]

    @property
    def open_tracks(self) -> list[str]:
        return [a for a, t in self.tracks.items() if t.status != TrackStatus.CLOSED]

    @property
    def stage_name(self) -> str:
        """The stage as people read it: a procedure of its own steps is at its phase, in its own words
        (`draft-decision`, `dispute-resolution`, `final-decision` in the GDPR's), until it closes."""
        if self.stage == Stage.CLOSED or not self.phase:
            return self.stage.value if self.stage else "opening"
        return self.phase

    @property
    def awaiting_party(self) -> str:
        """Whose move it is, as the record alone tells it (see `whose_move`)."""
        return self.whose_move()

    def whose_move(self, procedure: Procedure | None = None) -> str:
        """Whose move it is: an authority id, `respondent`, `authorities`, or `none`. Under a procedure of its
        own steps with no clock running, the procedure (when given) says who takes the next step of the phase;
        without it, the lead."""
        if self.stage in (None, Stage.CLOSED):
            return "none"
        owed = {d.owed_by if d.owed_by == "respondent" else d.authority for d in self.open_deadlines if d.running}
        if self.phase:
            # A procedure of its own steps: whoever owes the next running clock; a window for objections or
            # comments is the other authorities' to use.
            running = [d for d in self.open_deadlines if d.running]
            if "respondent" in owed:
                return "respondent"
            if running:
                return "authorities" if running[0].kind in ("objection", "comments") else running[0].authority
            # A clock that ran out with no step since is still its holder's to act on (the EDPB's periods).
            since = self.steps[-1].seq if self.steps else 0
            overdue = [d for d in self.deadlines.values() if d.status == "missed" and d.version > since]
            if overdue:
                return max(overdue, key=lambda d: d.version).authority
            return self._mover(procedure) if procedure else self.lead
        if self.stage == Stage.AWAITING_RESPONSE or self.stage == Stage.PRELIMINARY_REPORT:
            return "respondent"
        if self.stage == Stage.FINDINGS:
            pending = self.awaiting_concurrence
            return pending[0] if len(pending) == 1 else ("authorities" if pending else self.lead)
        if self.stage in (Stage.ESCALATION, Stage.COMPLIANCE_MONITORING):
            if "respondent" in owed:
                return "respondent"
            return "authorities" if len(self.open_tracks) > 1 else (self.open_tracks or ["none"])[0]
        return "respondent" if "respondent" in owed else self.lead

    def _mover(self, procedure: Procedure) -> str:
        """Who takes the first step the procedure lists for the phase (the board's steps are its own, a
        concerned authority's the authorities'); the lead where the phase has none."""
        actor = procedure.next_actor(self.phase)
        if actor == "board":
            boards = [a for a in self.authorities if (d := procedure.authorities.get(a)) and d.role == "board"]
            return boards[0] if boards else self.lead
        return {"concerned": "authorities", "respondent": "respondent"}.get(actor or "", self.lead)


def _set_track(s: InvestigationState, aid: str, **changes) -> dict:
    track = s.tracks.get(aid, Track(authority=aid))
    return {"tracks": {**s.tracks, aid: track.model_copy(update=changes)}}


def _set_deadline(s: InvestigationState, e: ev.Event, did: str, **changes) -> dict:
    d = s.deadlines[did].model_copy(update={**changes, "version": e.seq})
    return {"deadlines": {**s.deadlines, did: d}}


def _set_order(s: InvestigationState, aid: str, order: str, status: str) -> dict:
    track = s.tracks[aid]
    orders = [o.model_copy(update={"status": status}) if o.order == order or not order else o for o in track.orders]
    return _set_track(s, aid, orders=orders)


@singledispatch
def _evolve(event: ev.Event, state: InvestigationState) -> dict:
    raise TypeError(f"no rule to apply {type(event).__name__}")


@_evolve.register
def _(e: ev.InvestigationOpened, s: InvestigationState) -> dict:
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
        contacts=e.contacts,
        tracks={a: Track(authority=a) for a in e.authorities},
    )


def _replace_notice(s: InvestigationState, record: NoticeRecord) -> dict:
    # A notice that failed and is later served again keeps one line, its latest status. Every undelivered
    # notice stays; of the served ones, the most recent STATE_KEPT.
    notices = [n for n in s.notices if n.notice_id != record.notice_id] + [record]
    served = sum(n.status == "served" for n in notices)
    while served > STATE_KEPT:
        oldest = next(i for i, n in enumerate(notices) if n.status == "served")
        del notices[oldest]
        served -= 1
    return {"notices": notices}


@_evolve.register
def _(e: ev.NoticeServed, s: InvestigationState) -> dict:
    fields = e.model_dump(
        include={
            "notice_id",
            "kind",
            "senders",
            "to",
            "channel",
            "on",
            "section",
            "message_id",
            "delivered_at",
            "document",
            "sha256",
        }
    )
    return _replace_notice(s, NoticeRecord(status="served", **fields))


@_evolve.register
def _(e: ev.NoticeFailed, s: InvestigationState) -> dict:
    fields = e.model_dump(include={"notice_id", "kind", "senders", "to", "channel", "on", "reason"})
    return _replace_notice(s, NoticeRecord(status="failed", **fields))


@_evolve.register
def _(e: ev.InformationRequested, s: InvestigationState) -> dict:
    return {
        "requests": [*s.requests, InformationRequest(request_id=e.request_id, authority=e.authority, items=e.items)]
    }


@_evolve.register
def _(e: ev.InformationProvided, s: InvestigationState) -> dict:
    return {
        "requests": [r.model_copy(update={"provided": True}) if r.request_id == e.request_id else r for r in s.requests]
    }


@_evolve.register
def _(e: ev.EvidenceRecorded, s: InvestigationState) -> dict:
    item = Evidence(**e.model_dump(include={"evidence_id", "authority", "description", "sha256", "scope", "purpose"}))
    return {"evidence": [*s.evidence, item], "evidence_recorded": s.evidence_recorded + 1}


@_evolve.register
def _(e: ev.EvidenceShared, s: InvestigationState) -> dict:
    older = s.evidence_older
    if not any(x.evidence_id == e.evidence_id for x in s.evidence) and older.find(e.evidence_id) is not None:
        # An older item: its share joins the index (a re-seal keeps its content, so its digest stands).
        with_whom = sorted({*older.shared.get(e.evidence_id, []), *e.shared_with})
        return {"evidence_older": older.model_copy(update={"shared": {**older.shared, e.evidence_id: with_whom}})}
    return {
        "evidence": [
            x.model_copy(
                update={
                    "shared_with": sorted({*x.shared_with, *e.shared_with}),
                    **({"description": e.sealed} if e.sealed else {}),
                }
            )
            if x.evidence_id == e.evidence_id
            else x
            for x in s.evidence
        ]
    }


@_evolve.register
def _(e: ev.MessageSent, s: InvestigationState) -> dict:
    message = Message(message_id=e.message_id, sender=e.by, to=e.to, subject=e.subject, on=e.on)
    return {"messages": [*s.messages, message][-STATE_KEPT:], "messages_sent": s.messages_sent + 1}


@_evolve.register
def _(e: ev.FindingsCommented, s: InvestigationState) -> dict:
    return _set_track(s, e.authority, comments=[*s.tracks[e.authority].comments, e.comments][-STATE_KEPT:])


@_evolve.register
def _(e: ev.VoluntaryMeasureTaken, s: InvestigationState) -> dict:
    # Recorded, and nothing closes: a partial remedy leaves the investigation open.
    return {"voluntary_measures": [*s.voluntary_measures, e.description][-STATE_KEPT:]}


@_evolve.register
def _(e: ev.PreliminaryReportIssued, s: InvestigationState) -> dict:
    return {"stage": Stage.PRELIMINARY_REPORT}


@_evolve.register
def _(e: ev.RepresentationsReceived, s: InvestigationState) -> dict:
    return {}


@_evolve.register
def _(e: ev.FindingsDrafted, s: InvestigationState) -> dict:
    tracks = {
        a: t.model_copy(update={"concurrence": "lead" if a == s.lead else "pending"}) for a, t in s.tracks.items()
    }
    return {"stage": Stage.FINDINGS, "draft_finding": e.finding, "findings_summary": e.summary, "tracks": tracks}


@_evolve.register
def _(e: ev.FindingsConcurred, s: InvestigationState) -> dict:
    return _set_track(s, e.authority, concurrence="concurred")


@_evolve.register
def _(e: ev.FindingsDissented, s: InvestigationState) -> dict:
    return _set_track(s, e.authority, concurrence="dissented", finding=e.finding, dissent=e.reasons)


@_evolve.register
def _(e: ev.FindingsIssued, s: InvestigationState) -> dict:
    tracks = {a: t.model_copy(update={"finding": e.findings.get(a, t.finding)}) for a, t in s.tracks.items()}
    return {"stage": Stage.RECOMMENDATIONS, "tracks": tracks, "findings_summary": e.summary}


@_evolve.register
def _(e: ev.RecommendationsIssued, s: InvestigationState) -> dict:
    recs = [RecommendationState(id=r.id, text=r.text) for r in e.recommendations]
    return {"stage": Stage.AWAITING_RESPONSE, "recommendations": recs}


@_evolve.register
def _(e: ev.RecommendationAnswered, s: InvestigationState) -> dict:
    recs = [
        r.model_copy(update={"answer": e.answer, "deemed": e.deemed}) if r.id == e.recommendation else r
        for r in s.recommendations
    ]
    changes: dict = {"recommendations": recs}
    if all(r.answer == "accepted" for r in recs):
        changes["stage"] = Stage.COMPLIANCE_MONITORING
        changes["tracks"] = _moved(s, {TrackStatus.INVESTIGATING}, TrackStatus.MONITORING)
    return changes


def _moved(s: InvestigationState, among: set[TrackStatus], to: TrackStatus, only: list[str] | None = None) -> dict:
    """Tracks at one of `among` move to `to`; the others (a closed track, one already further) stay."""
    return {
        a: t.model_copy(update={"status": to}) if t.status in among and (only is None or a in only) else t
        for a, t in s.tracks.items()
    }


@_evolve.register
def _(e: ev.DeadlineSet, s: InvestigationState) -> dict:
    d = DeadlineState(
        **e.model_dump(
            include={
                "deadline_id",
                "authority",
                "owner",
                "kind",
                "rule",
                "statute",
                "summary",
                "trigger",
                "due",
                "owed_by",
                "subject",
                "count",
                "unit",
            }
        ),
        initial_due=e.due,
        version=e.seq,
    )
    return {"deadlines": {**s.deadlines, e.deadline_id: d}}


@_evolve.register
def _(e: ev.DeadlineExtended, s: InvestigationState) -> dict:
    d = s.deadlines[e.deadline_id]
    return _set_deadline(s, e, e.deadline_id, due=e.due, extensions=d.extensions + 1)


@_evolve.register
def _(e: ev.DeadlinePaused, s: InvestigationState) -> dict:
    d = s.deadlines[e.deadline_id]
    return _set_deadline(s, e, e.deadline_id, status="paused", remaining=e.remaining, pauses=d.pauses + 1)


@_evolve.register
def _(e: ev.DeadlineResumed, s: InvestigationState) -> dict:
    return _set_deadline(s, e, e.deadline_id, status="open", due=e.due, remaining=None)


@_evolve.register
def _(e: ev.DeadlineMet, s: InvestigationState) -> dict:
    return _set_deadline(s, e, e.deadline_id, status="met")


@_evolve.register
def _(e: ev.DeadlineMissed, s: InvestigationState) -> dict:
    return _set_deadline(s, e, e.deadline_id, status="missed")


@_evolve.register
def _(e: ev.DeadlineElapsed, s: InvestigationState) -> dict:
    return _set_deadline(s, e, e.deadline_id, status="elapsed")


@_evolve.register
def _(e: ev.StepRecorded, s: InvestigationState) -> dict:
    entry = StepEntry(
        seq=e.seq,
        on=e.on,
        by=e.by,
        **e.model_dump(include={"step", "name", "label", "statute", "subject", "summary", "to"}),
    )
    return {
        "phase": e.phase or s.phase,
        "step_counts": {**s.step_counts, e.name: s.step_counts.get(e.name, 0) + 1},
        "step_last": {**s.step_last, e.name: e.seq},
        "steps": [*s.steps, entry][-STATE_KEPT:],
    }


@_evolve.register
def _(e: ev.DeadlineCancelled, s: InvestigationState) -> dict:
    return _set_deadline(s, e, e.deadline_id, status="cancelled")


@_evolve.register
def _(e: ev.EscalationStarted, s: InvestigationState) -> dict:
    opening = {TrackStatus.INVESTIGATING, TrackStatus.MONITORING}
    return {"stage": Stage.ESCALATION, "tracks": _moved(s, opening, TrackStatus.ESCALATION, e.authorities)}


@_evolve.register
def _(e: ev.InquiryOpened, s: InvestigationState) -> dict:
    return _set_track(s, e.authority, status=TrackStatus.INQUIRY)


@_evolve.register
def _(e: ev.OrderIssued, s: InvestigationState) -> dict:
    order = Order(order=e.order, on=e.on.date(), terms=e.terms, comply_within_days=e.comply_within_days)
    return _set_track(s, e.authority, status=TrackStatus.ORDER, orders=[*s.tracks[e.authority].orders, order])


@_evolve.register
def _(e: ev.JudicialReviewFiled, s: InvestigationState) -> dict:
    track = s.tracks[e.authority]
    return _set_track(s, e.authority, status=TrackStatus.IN_COURT, court=[*track.court, e.court])


@_evolve.register
def _(e: ev.StayGranted, s: InvestigationState) -> dict:
    return _set_order(s, e.authority, e.order, "stayed")


ORDER_AFTER_COURT = {"upheld": "upheld", "dismissed": "upheld", "quashed": "quashed", "partly-struck": "partly-struck"}
# The court outcomes that leave an order standing (and a stayed clock running again).
ORDER_STANDS = frozenset(k for k, v in ORDER_AFTER_COURT.items() if v != "quashed")


@_evolve.register
def _(e: ev.CourtDecisionRecorded, s: InvestigationState) -> dict:
    track = s.tracks[e.authority]
    orders = track.orders
    if orders and e.outcome in ORDER_AFTER_COURT:
        orders = [*orders[:-1], orders[-1].model_copy(update={"status": ORDER_AFTER_COURT[e.outcome]})]
    return _set_track(s, e.authority, status=TrackStatus.ORDER if orders else track.status, orders=orders)


@_evolve.register
def _(e: ev.CourtApplicationFiled, s: InvestigationState) -> dict:
    track = s.tracks[e.authority]
    return _set_track(s, e.authority, status=TrackStatus.IN_COURT, court=[*track.court, e.court])


@_evolve.register
def _(e: ev.ComplianceAgreementSigned, s: InvestigationState) -> dict:
    return _set_track(s, e.authority, status=TrackStatus.COMPLIANCE_AGREEMENT)


@_evolve.register
def _(e: ev.ComplianceVerified, s: InvestigationState) -> dict:
    if any(r.id == e.subject for r in s.recommendations):
        return {
            "recommendations": [
                r.model_copy(update={"verified": True}) if r.id == e.subject else r for r in s.recommendations
            ]
        }
    return _set_order(s, e.authority, e.subject, "complied")


@_evolve.register
def _(e: ev.NonComplianceFound, s: InvestigationState) -> dict:
    if any(o.order == e.subject for o in s.tracks[e.authority].orders):
        return _set_order(s, e.authority, e.subject, "defaulted")
    return {}


@_evolve.register
def _(e: ev.TrackClosed, s: InvestigationState) -> dict:
    return _set_track(s, e.authority, status=TrackStatus.CLOSED, outcome=e.outcome)


@_evolve.register
def _(e: ev.InvestigationClosed, s: InvestigationState) -> dict:
    return {"stage": Stage.CLOSED}


def compact_evidence(state: InvestigationState, keep: int) -> InvestigationState:
    """The state with only the most recent `keep` evidence items in full, the older ones in its index (an item
    whose id `record-evidence` did not give, E-n, stays in full)."""
    cut = len(state.evidence) - keep
    if cut <= 0:
        return state
    index, stay = state.evidence_older, []
    for x in state.evidence[:cut]:
        if evidence_number(x.evidence_id) is None:
            stay.append(x)
        else:
            index = index.add(x)
    return state.model_copy(update={"evidence": [*stay, *state.evidence[cut:]], "evidence_older": index})


def shown(state: InvestigationState) -> InvestigationState:
    """The state as the `state` query answers: without the index of older evidence (the record lists those)."""
    return state.model_copy(update={"evidence_older": EvidenceIndex()}) if state.evidence_older.runs else state


def visible_to(state: InvestigationState, party: str) -> InvestigationState:
    """What one party may see: evidence it owns or that was shared with it, messages it sent or received. The
    index of older evidence is left out (it says who holds what): a party reads those items in the record,
    `events_visible_to`."""
    return shown(state).model_copy(
        update={
            "evidence": [x for x in state.evidence if x.visible_to(party)],
            "messages": [m for m in state.messages if party == m.sender or party in m.to],
        }
    )


def register(events: Iterable[ev.Event]) -> list[Evidence]:
    """Every evidence item in full, folded from a record's EvidenceRecorded and EvidenceShared events alone (the
    event store's copy): what the state no longer holds of the older ones."""
    s = InvestigationState()
    for e in events:
        if isinstance(e, ev.EvidenceRecorded | ev.EvidenceShared):
            s = s.model_copy(update=_evolve(e, s))
    return s.evidence


def events_visible_to(events: Iterable[ev.Event], state: InvestigationState, party: str) -> list[ev.Event]:
    """The record as one party may read it: other parties' evidence and messages left out."""
    kept = {x.evidence_id: x.visible_to(party) for x in state.evidence}
    out = []
    for e in events:
        if isinstance(e, ev.EvidenceRecorded | ev.EvidenceShared):
            seen = kept.get(e.evidence_id)
            if seen is None:
                item = state.evidence_older.find(e.evidence_id)
                seen = item is None or item.visible_to(party)
            if not seen:
                continue
        if isinstance(e, ev.MessageSent) and party != e.by and party not in e.to:
            continue
        out.append(e)
    return out


def apply(state: InvestigationState, event: ev.Event) -> InvestigationState:
    if event.seq != state.last_seq + 1:
        raise ValueError(f"event {event.seq} applied after {state.last_seq}: the record has a gap")
    return state.model_copy(update={**_evolve(event, state), "last_seq": event.seq})


def fold(events: Iterable[ev.Event], state: InvestigationState | None = None) -> InvestigationState:
    state = state or InvestigationState()
    for event in events:
        state = apply(state, event)
    return state
