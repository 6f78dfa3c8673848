"""One vocabulary of commands for the update API, the CLI (`enforce act`) and a case file's scripted steps.

Each action is a pydantic model named by `name`; `decide(state, ctx)` checks it against the investigation's
current state, the actor and the procedure, and returns the events to record, or raises `Rejected` saying
why and what is allowed now. Nothing here records anything: the workflow does, after deciding.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain import events as ev
from domain import sealed
from domain.case import RESPONDENT, Recommendation
from domain.deadlines import extended_by_period, extended_due
from domain.errors import BadInput, Rejected
from domain.limits import (
    ACTION_BYTES_MAX,
    ID_MAX,
    LIST_MAX,
    RECOMMENDATIONS_MAX,
    STATE_KEPT,
    Content,
    Day,
    Id,
    Short,
    Text,
    limit_message,
)
from domain.procedure import DeadlineUnit, Power, Procedure
from domain.state import DeadlineState, InvestigationState, Stage, TrackStatus

CASE = "case"  # the owner of the joint record: the parent workflow
SYSTEM = "system"  # what the record decides by itself, and what timers do
# No statutory period or extension runs this long; beyond it, a typo (4000000 days) is refused, not counted.
MAX_DAYS = 3650
FINDINGS = (
    "well-founded",
    "well-founded-and-conditionally-resolved",
    "well-founded-and-resolved",
    "not-well-founded",
    "settled",
    "early-resolved",
    "discontinued",
    "declined",
)
Finding = Literal[FINDINGS]  # type: ignore[valid-type]


@dataclass(frozen=True)
class New:
    """An event to record: its type, who caused it, and its own fields."""

    type: type[ev.Event]
    by: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ctx:
    procedure: Procedure
    now: datetime
    # CASE for the joint workflow, an authority id for that authority's track.
    owner: str


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ClassVar[str]
    runs_in: ClassVar[Literal["case", "track"]] = "case"
    actors: ClassVar[tuple[str, ...]] = ("authority",)
    stages: ClassVar[tuple[Stage, ...] | None] = None
    help: ClassVar[str] = ""

    by: Id = Field(description="Who acts: an authority id of the case, or `respondent`")

    def target(self) -> str:
        """The track (authority) a track action concerns."""
        return getattr(self, "authority", None) or self.by

    def record_owner(self) -> str:
        """Which record takes this action: CASE (the joint workflow) or an authority's track."""
        return self.target() if self.runs_in == "track" else CASE

    def check(self, s: InvestigationState, ctx: Ctx) -> None:
        """What every action must pass: the case is open, the actor may act, the stage allows it."""
        if s.stage is None:
            raise Rejected("the investigation has not opened")
        if s.stage == Stage.CLOSED:
            raise Rejected("the investigation is closed")
        _check_actor(self, s)
        _check_procedure(self, s, ctx)
        if self.stages is not None and s.stage not in self.stages:
            raise Rejected(f"{self.name} is not allowed in stage {s.stage.value}")
        if self.runs_in == "track":
            aid = self.target()
            if aid not in s.tracks:
                raise Rejected(f"{aid!r} is not an authority of this case ({', '.join(s.authorities)})")
            if ctx.owner != aid:
                raise Rejected(f"{self.name} concerns {aid}'s track: send it to investigation-{s.slug}.{aid}")
            if s.tracks[aid].status == TrackStatus.CLOSED:
                raise Rejected(f"{aid}'s track is closed")
        elif ctx.owner != CASE:
            raise Rejected(f"{self.name} is a joint action: send it to investigation-{s.slug}")

    def decide(self, s: InvestigationState, ctx: Ctx) -> list[New]:
        raise NotImplementedError


def _check_actor(a: Action, s: InvestigationState) -> None:
    if a.by == RESPONDENT:
        if "respondent" not in a.actors:
            raise Rejected(f"the respondent cannot {a.name}")
        return
    if a.by not in s.authorities:
        raise Rejected(f"{a.by!r} is not a party to this case (authorities: {', '.join(s.authorities)}; or respondent)")
    if "authority" in a.actors:
        return
    if "lead" in a.actors and a.by == s.lead:
        return
    if "co-authority" in a.actors and a.by != s.lead:
        return
    if "self" in a.actors and a.by == a.target():
        return
    who = {
        "lead": f"the lead ({s.lead})",
        "co-authority": "a co-authority",
        "respondent": "the respondent",
        "self": "the authority whose track it is",
    }
    raise Rejected(f"{a.name} is for {' or '.join(who.get(x, x) for x in a.actors)}, not {a.by}")


def phase_of(s: InvestigationState, procedure: Procedure) -> str:
    """The phase of a procedure of its own steps: the one its last step led to, or its first."""
    return s.phase or procedure.first_phase


def board_of(s: InvestigationState, procedure: Procedure) -> str:
    """The case's authority with the role of a board (the EDPB), or ''."""
    return next((a for a in s.authorities if a in procedure.authorities and procedure.authority(a).role == "board"), "")


def _check_procedure(a: Action, s: InvestigationState, ctx: Ctx) -> None:
    """What the procedure allows: the common actions it keeps, and a party that acts only at some phases."""
    keeps = ctx.procedure.actions
    if keeps is not None and not isinstance(a, ProcedureStep) and a.name not in keeps:
        raise Rejected(f"{a.name} is not an action of procedure {ctx.procedure.id}")
    if a.by in ctx.procedure.authorities:
        only = ctx.procedure.authority(a.by).phases
        phase = phase_of(s, ctx.procedure)
        if only and phase not in only:
            raise Rejected(f"{a.by} acts only in {', '.join(only)}; the case is in {phase}")


def _power(ctx: Ctx, aid: str, *powers: Power) -> Power:
    have = ctx.procedure.authority(aid).powers
    for p in powers:
        if p in have:
            return p
    raise Rejected(f"{aid} has no power to do this under {ctx.procedure.authority(aid).cite}")


# ------------------------------------------------------------------------------------------------ joint actions

ACTIVE = (
    Stage.INVESTIGATING,
    Stage.PRELIMINARY_REPORT,
    Stage.FINDINGS,
    Stage.RECOMMENDATIONS,
    Stage.AWAITING_RESPONSE,
    Stage.ESCALATION,
    Stage.COMPLIANCE_MONITORING,
)


class RequestInformation(Action):
    name = "request-information"
    stages = (Stage.INVESTIGATING, Stage.PRELIMINARY_REPORT, Stage.FINDINGS)
    help = "An authority asks the respondent for information; the clock runs from service."
    items: list[Id] = Field(max_length=LIST_MAX, min_length=1)

    def decide(self, s, ctx):
        rid = f"RFI-{len(s.requests) + 1}"
        return [New(ev.InformationRequested, self.by, {"request_id": rid, "authority": self.by, "items": self.items})]


class ProvideInformation(Action):
    name = "provide-information"
    actors = ("respondent",)
    stages = ACTIVE
    help = "The respondent answers a request for information."
    request_id: Id
    summary: Text = ""

    def decide(self, s, ctx):
        pending = [r.request_id for r in s.requests if not r.provided]
        if self.request_id not in pending:
            raise Rejected(f"no open request {self.request_id!r} (open: {', '.join(pending) or 'none'})")
        return [New(ev.InformationProvided, self.by, {"request_id": self.request_id, "summary": self.summary})]


def _authorities_named(s: InvestigationState, field: str, names: list[str], by: str) -> list[str]:
    """Authorities of the case other than `by`: `all` stands for every one of them."""
    others = [a for a in s.authorities if a != by]
    if "all" in names:
        return others
    for aid in names:
        if aid not in s.authorities:
            raise Rejected(f"{field}: {aid!r} is not an authority of this case ({', '.join(s.authorities)})")
        if aid == by:
            raise Rejected(f"{field}: {aid} already holds it")
    return sorted(set(names), key=s.authorities.index)


class RecordEvidence(Action):
    name = "record-evidence"
    stages = ACTIVE
    help = "An authority records evidence it obtained; `scope` names who may see it (default: itself only)."
    description: Content = Field(min_length=1)
    sha256: Id = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    scope: list[Id] = Field(default=[], max_length=LIST_MAX)
    purpose: Short = Field(min_length=1)

    def decide(self, s, ctx):
        shared = _authorities_named(s, "scope", self.scope, self.by)
        eid = f"E-{s.evidence_recorded + 1}"
        fields = self.model_dump(include={"description", "sha256", "scope", "purpose"})
        out = [New(ev.EvidenceRecorded, self.by, {"evidence_id": eid, "authority": self.by, **fields})]
        if shared:
            out.append(
                New(
                    ev.EvidenceShared,
                    self.by,
                    {"evidence_id": eid, "authority": self.by, "shared_with": shared, "purpose": self.purpose},
                )
            )
        return out


class ShareEvidence(Action):
    name = "share-evidence"
    stages = ACTIVE
    help = "The authority that holds a piece of evidence shares it with named authorities, for a purpose."
    evidence_id: Id
    shared_with: list[Id] = Field(max_length=LIST_MAX, min_length=1)
    purpose: Short = Field(min_length=1)
    # For sealed evidence: the holder's re-seal of it for those it is shared with (`enforce act` makes it).
    sealed: Content = ""

    def decide(self, s, ctx):
        item = s.evidence_item(self.evidence_id)
        if item is None or item.authority != self.by:
            held = s.evidence_held(self.by)
            mine = ", ".join(held[-STATE_KEPT:]) or "none"
            if len(held) > STATE_KEPT:
                mine = f"{len(held)} items, the latest {mine}"
            raise Rejected(f"evidence_id: {self.by} holds no evidence {self.evidence_id!r} (it holds: {mine})")
        shared = _authorities_named(s, "shared_with", self.shared_with, self.by)
        fields = {"evidence_id": self.evidence_id, "authority": self.by, "shared_with": shared, "purpose": self.purpose}
        if self.sealed:
            if not item.same_content(self.sealed):
                raise Rejected(f"sealed: not a re-seal of evidence {self.evidence_id}'s own sealed content")
            fields["sealed"] = self.sealed
        return [New(ev.EvidenceShared, self.by, fields)]


class SendMessage(Action):
    name = "message"
    help = "An authority writes to other authorities of the case; delivered and recorded like any notice."
    to: list[Id] = Field(max_length=LIST_MAX, min_length=1)
    subject: Short = Field(min_length=1)
    text: Content = Field(min_length=1)

    def decide(self, s, ctx):
        to = _authorities_named(s, "to", self.to, self.by)
        return [
            New(
                ev.MessageSent,
                self.by,
                {"message_id": f"M-{s.messages_sent + 1}", "to": to, "subject": self.subject, "text": self.text},
            )
        ]


class RecordVoluntaryMeasure(Action):
    name = "record-voluntary-measure"
    actors = ("authority", "respondent")
    stages = ACTIVE
    help = "A voluntary (partial) remedy: recorded; it closes nothing."
    description: Text = Field(min_length=1)

    def decide(self, s, ctx):
        return [New(ev.VoluntaryMeasureTaken, self.by, {"description": self.description})]


class IssuePreliminaryReport(Action):
    name = "issue-preliminary-report"
    actors = ("lead",)
    stages = (Stage.INVESTIGATING,)
    help = "The lead issues a preliminary report; the respondent may make representations."
    summary: Text = Field(min_length=1)

    def decide(self, s, ctx):
        return [New(ev.PreliminaryReportIssued, self.by, {"summary": self.summary})]


class SubmitRepresentations(Action):
    name = "submit-representations"
    actors = ("respondent",)
    stages = (Stage.PRELIMINARY_REPORT,)
    help = "The respondent's representations on the preliminary report."
    summary: Text = Field(min_length=1)

    def decide(self, s, ctx):
        return [New(ev.RepresentationsReceived, self.by, {"summary": self.summary})]


class DraftFindings(Action):
    name = "draft-findings"
    actors = ("lead",)
    stages = (Stage.INVESTIGATING, Stage.PRELIMINARY_REPORT, Stage.FINDINGS)
    help = "The lead circulates draft findings; each co-authority concurs or dissents."
    finding: Finding
    summary: Text = Field(min_length=1)

    def decide(self, s, ctx):
        drafted = New(ev.FindingsDrafted, self.by, {"finding": self.finding, "summary": self.summary})
        if s.co_authorities:
            return [drafted]
        # Alone, the lead's draft is the finding.
        return [
            drafted,
            New(ev.FindingsIssued, self.by, {"findings": {self.by: self.finding}, "summary": self.summary}),
        ]


class IssueRecommendations(Action):
    name = "issue-recommendations"
    actors = ("lead",)
    stages = (Stage.RECOMMENDATIONS,)
    help = "The report's recommendations; the respondent's response clock runs from service."
    recommendations: list[Recommendation] = Field(max_length=RECOMMENDATIONS_MAX, min_length=1)

    @field_validator("recommendations")
    @classmethod
    def _unique(cls, v: list[Recommendation]) -> list[Recommendation]:
        ids = [r.id for r in v]
        if len(set(ids)) != len(ids):
            raise ValueError("recommendation ids must be unique")
        return v

    def decide(self, s, ctx):
        return [New(ev.RecommendationsIssued, self.by, {"recommendations": self.recommendations})]


class AnswerRecommendations(Action):
    name = "answer-recommendations"
    actors = ("respondent",)
    stages = (Stage.AWAITING_RESPONSE,)
    help = "The respondent accepts or refuses each recommendation (ids as keys)."
    answers: dict[Id, Literal["accepted", "refused"]] = Field(max_length=LIST_MAX, min_length=1)

    def decide(self, s, ctx):
        pending = s.unanswered
        for rid in self.answers:
            if rid not in pending:
                known = ", ".join(r.id for r in s.recommendations)
                raise Rejected(
                    f"answers: unknown or already answered recommendation {rid!r} (recommendations: "
                    f"{known}; unanswered: {', '.join(pending) or 'none'})"
                )
        out = [
            New(ev.RecommendationAnswered, self.by, {"recommendation": rid, "answer": ans})
            for rid, ans in self.answers.items()
        ]
        return out + escalation_if_refused(s, self.answers, SYSTEM)


# The findings on which the report's recommendations rest: an authority whose own finding is one of these
# pursues them on a refusal; one that dissented with another finding (not well-founded) does not.
SUPPORTS_RECOMMENDATIONS = frozenset({"well-founded", "well-founded-and-conditionally-resolved"})


def supports_recommendations(s: InvestigationState, aid: str) -> bool:
    return s.tracks[aid].finding in SUPPORTS_RECOMMENDATIONS


def escalation_if_refused(s: InvestigationState, answers: dict[str, str], by: str, reason: str = "refused") -> list:
    """Once every recommendation has an answer, any refusal sends into escalation every open track whose own
    finding supports the recommendations; the others follow their own finding (see domain/policy.py)."""
    after = {r.id: answers.get(r.id, r.answer) for r in s.recommendations}
    if s.stage == Stage.ESCALATION or "pending" in after.values() or "refused" not in after.values():
        return []
    escalating = [a for a in s.open_tracks if supports_recommendations(s, a)]
    return [New(ev.EscalationStarted, by, {"authorities": escalating, "reason": reason})]


class VerifyRecommendation(Action):
    name = "verify-recommendation"
    actors = ("lead",)
    # Accepted recommendations are verified even where others were refused and the case escalated.
    stages = (Stage.COMPLIANCE_MONITORING, Stage.ESCALATION)
    help = "The lead verifies that an accepted recommendation has been implemented."
    recommendation: Id

    def decide(self, s, ctx):
        todo = [r.id for r in s.recommendations if r.answer == "accepted" and not r.verified]
        if self.recommendation not in todo:
            raise Rejected(
                f"recommendation: {self.recommendation!r} is not awaiting verification "
                f"(awaiting: {', '.join(todo) or 'none'})"
            )
        return [New(ev.ComplianceVerified, self.by, {"authority": self.by, "subject": self.recommendation})]


def is_deadline_id(ref: str) -> bool:
    """A clock's internal id, `<owner>:<rule>:<seq>` (`oipc-ab:inquiry:8`, `case:response:12`)."""
    parts = ref.split(":")
    return len(parts) == 3 and parts[2].isdigit()


def resolve_deadline(s: InvestigationState, ref: str, authority: str = "") -> DeadlineState:
    """The running (open or paused) clock a reference names: its internal id (`oipc-ab:inquiry:8`), its rule and
    authority (`oipc-ab:inquiry`, or `inquiry` with `authority = "oipc-ab"`), or its rule alone when only one
    such clock runs. A joint clock's authority is the lead. `Rejected` when none or more than one matches."""
    running = s.open_deadlines
    names = ", ".join(f"{d.authority}:{d.rule}" for d in running) or "none"
    if is_deadline_id(ref):
        d = s.deadlines.get(ref)
        if d is None or d.status not in ("open", "paused"):
            raise Rejected(f"deadline: no running deadline {ref!r} (running: {names})")
        return d
    rule, who = ref, authority
    if ":" in ref:
        who, rule = ref.split(":", 1)
        if authority and authority != who:
            raise Rejected(f"authority: {authority!r} does not match the deadline's {who!r}")
    found = [d for d in running if d.rule == rule and (not who or d.authority == who)]
    label = f"{who}:{rule}" if who else rule
    if not found:
        raise Rejected(f"deadline: no running deadline {label!r} (running: {names})")
    if len(found) > 1:
        ids = ", ".join(d.deadline_id for d in found)
        hint = "name it by its id" if who else "give the authority, or name it by its id"
        raise Rejected(f"deadline: {label!r} names {len(found)} running deadlines ({ids}): {hint}")
    return found[0]


def extension_grantor(s: InvestigationState, ctx: Ctx, d: DeadlineState) -> str | None:
    """Who may extend a clock under its rule (its authority, or the lead), or None when the statute fixes it."""
    rule = ctx.procedure.deadline_rule(d.owner, d.rule)
    return {"authority": d.authority, "lead": s.lead}.get(rule.extend_by)


class ExtendDeadline(Action):
    name = "extend-deadline"
    help = (
        "Extend a running clock, named by rule and authority (`oipc-ab:inquiry`, or `inquiry` with `authority`) "
        "or by its id: a new date or added countable days, the reason, and who was told."
    )
    deadline: Id = Field(min_length=1)
    authority: Id = ""
    new_due: Day | None = None
    added: int | None = Field(default=None, gt=0, le=MAX_DAYS)
    # `added` in weeks or months rather than countable days (GDPR Art. 65(2): "by a further month").
    unit: Literal["days", "weeks", "months"] = "days"
    reason: Text = Field(min_length=1)
    notified: list[Id] = Field(max_length=LIST_MAX, min_length=1)
    anticipated_completion: Day | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ExtendDeadline:
        if self.new_due is not None and self.added is not None:
            raise ValueError("new_due: give exactly one of new_due or added, not both")
        return self

    def target(self) -> str:
        # Routing before the state is known: an id names its owner; a name, its authority (`enforce act` and a
        # simulation resolve a name to its id against the joint record first, so a joint clock goes there).
        if is_deadline_id(self.deadline):
            return self.deadline.split(":", 1)[0]
        return self.authority or (self.deadline.split(":", 1)[0] if ":" in self.deadline else CASE)

    def record_owner(self) -> str:
        return self.target()

    def check(self, s, ctx):
        if s.stage is None or s.stage == Stage.CLOSED:
            raise Rejected("the investigation is not open")
        _check_actor(self, s)

    @classmethod
    def available(cls, s: InvestigationState, ctx: Ctx, by: str) -> bool:
        """Whether `by` could extend some clock running here now."""
        if s.stage is None or s.stage == Stage.CLOSED or by not in s.authorities:
            return False
        return any(
            d.running and d.owner == ctx.owner and extension_grantor(s, ctx, d) == by for d in s.deadlines.values()
        )

    def decide(self, s, ctx):
        d = resolve_deadline(s, self.deadline, self.authority)
        if d.owner != ctx.owner:
            where = f"investigation-{s.slug}" + ("" if d.owner == CASE else f".{d.owner}")
            raise Rejected(f"deadline {d.deadline_id} is kept by {where}")
        rule = ctx.procedure.deadline_rule(d.owner, d.rule, d.authority)
        if d.status == "paused":
            raise Rejected(
                f"deadline: {d.deadline_id} is paused ({d.remaining} days left); extend it once it runs again"
            )
        grantor = extension_grantor(s, ctx, d)
        if grantor is None:
            raise Rejected(f"{rule.statute} sets this clock; no one can extend it")
        if self.by != grantor:
            raise Rejected(f"only {grantor} can extend {d.deadline_id}, not {self.by}")
        if rule.extensions_max is not None and d.extensions >= rule.extensions_max:
            raise Rejected(f"{rule.statute} allows {rule.extensions_max} extension(s) of this clock; it has had them")
        added, unit = self.added, self.unit
        if self.new_due is None and added is None and rule.extend_count is not None:
            added, unit = rule.extend_count, (rule.extend_unit or DeadlineUnit.DAYS).value
        if (self.new_due is None) == (added is None):
            raise Rejected("give exactly one of new_due or added")
        if (
            rule.extend_count is not None
            and self.new_due is None
            and (added, unit)
            != (
                rule.extend_count,
                (rule.extend_unit or DeadlineUnit.DAYS).value,
            )
        ):
            raise Rejected(
                f"added: {rule.statute} extends by {rule.extend_count} {rule.extend_unit}, not {added} {unit}"
            )
        if self.new_due is not None and abs((self.new_due - d.due).days) > MAX_DAYS:
            raise Rejected(f"new_due: {self.new_due} is more than {MAX_DAYS} days from the current due date {d.due}")
        for who in self.notified:
            if who != RESPONDENT and who not in s.authorities:
                raise Rejected(f"notified: {who!r} is not a party to this case")
        if rule.extension_needs_completion_date:
            if self.anticipated_completion is None:
                raise Rejected(f"anticipated_completion: {rule.statute} requires an anticipated completion date")
            if RESPONDENT not in self.notified:
                raise Rejected(f"notified: {rule.statute} requires notice to the parties (include respondent)")
        try:
            if added is not None and unit != "days":
                # Counted whole from the trigger the first time; a later extension runs on from the due date.
                count = (d.count or rule.count) if d.extensions == 0 else 0
                due = extended_by_period(
                    rule, d.trigger, count, d.due, added, DeadlineUnit(unit), ctx.procedure.calendars
                )
            else:
                due = extended_due(rule, d.due, new_due=self.new_due, added=added, specs=ctx.procedure.calendars)
        except ValueError as e:
            raise Rejected(str(e)) from None
        if (due - d.due).days > MAX_DAYS:
            raise Rejected(f"new_due: {due} is more than {MAX_DAYS} days after the current due date {d.due}")
        return [
            New(
                ev.DeadlineExtended,
                self.by,
                {
                    "deadline_id": d.deadline_id,
                    "previous": d.due,
                    "due": due,
                    "reason": self.reason,
                    "notified": self.notified,
                    "anticipated_completion": self.anticipated_completion,
                },
            )
        ]


# ------------------------------------------------------------------------------------------------ procedure steps


def step_event(procedure: Procedure, key: str, s: InvestigationState, by: str, fields: dict[str, Any]) -> New:
    """The event that records step `key` of the procedure, taken by `by` (an authority, the respondent, or
    the record itself)."""
    step = procedure.steps[key]
    subject = fields.get("subject", "")
    if step.numbered:
        subject = f"{step.numbered}-{s.step_counts.get(step.records, 0) + 1}"
    return New(
        ev.StepRecorded,
        by,
        {
            "step": key,
            "name": step.records,
            "label": step.label,
            "statute": step.statute,
            "phase": step.to_phase,
            "actor": by if by in s.authorities else "",
            "subject": subject,
            "summary": fields.get("summary", ""),
            "to": list(fields.get("to", [])),
            "dated": fields.get("dated"),
        },
    )


def _step_actor_ok(step_by: list[str], by: str, s: InvestigationState, procedure: Procedure) -> bool:
    if by == RESPONDENT:
        return "respondent" in step_by
    if by not in s.authorities:
        return False
    role = procedure.authority(by).role
    return (
        ("lead" in step_by and by == s.lead)
        or ("concerned" in step_by and by != s.lead and role == "authority")
        or ("authority" in step_by and role == "authority")
        or ("board" in step_by and role == "board")
    )


class ProcedureStep(Action):
    name = "step"
    actors = ("authority", "respondent")
    help = (
        "A step of the case's procedure (`enforce actions --procedure <id>` lists them): `step` names it; a "
        "case file may write the step's name as its action."
    )
    step: Id = Field(min_length=1)
    summary: Content = ""
    subject: Short = ""
    to: list[Id] = Field(default=[], max_length=LIST_MAX)

    def check(self, s, ctx):
        if s.stage is None:
            raise Rejected("the investigation has not opened")
        if s.stage == Stage.CLOSED:
            raise Rejected("the investigation is closed")
        if ctx.owner != CASE:
            raise Rejected(f"a step of the procedure is the joint record's: send it to investigation-{s.slug}")
        procedure = ctx.procedure
        spec = procedure.steps.get(self.step)
        if spec is None:
            known = ", ".join(k for k, v in procedure.steps.items() if "system" not in v.by or len(v.by) > 1)
            raise Rejected(f"step: {self.step!r} is not a step of procedure {procedure.id} (steps: {known or 'none'})")
        if self.by != RESPONDENT and self.by not in s.authorities:
            raise Rejected(f"{self.by!r} is not a party to this case (authorities: {', '.join(s.authorities)})")
        if not _step_actor_ok(spec.by, self.by, s, procedure):
            raise Rejected(f"{self.step} is for {' or '.join(spec.by)}, not {self.by}")
        _check_procedure(self, s, ctx)
        phase = phase_of(s, procedure)
        if spec.phases and phase not in spec.phases:
            raise Rejected(f"{self.step} is taken in {', '.join(spec.phases)}; the case is in {phase}")
        for need in spec.requires:
            if not getattr(self, need):
                raise Rejected(f"{need}: {self.step} ({spec.label}) requires it")
        if self.to:
            _authorities_named(s, "to", self.to, self.by)
        if spec.answers:
            opened = procedure.steps[procedure.own_events[spec.answers]]
            count = s.step_counts.get(spec.answers, 0)
            known = [f"{opened.numbered}-{i}" for i in range(1, count + 1)] if opened.numbered else []
            if opened.numbered and self.subject not in known:
                raise Rejected(
                    f"subject: {self.subject!r} is not a {opened.label} of this case ({', '.join(known) or 'none'})"
                )

    def decide(self, s, ctx):
        fields = self.model_dump(include={"summary", "subject", "to"})
        if self.to:
            fields["to"] = _authorities_named(s, "to", self.to, self.by)
        out = [step_event(ctx.procedure, self.step, s, self.by, fields)]
        if ctx.procedure.steps[self.step].closes:
            # Every file closes on it, and the case with them.
            outcome = self.summary or ctx.procedure.steps[self.step].label
            out += [New(ev.TrackClosed, self.by, {"authority": a, "outcome": outcome}) for a in s.open_tracks]
            out.append(New(ev.InvestigationClosed, self.by, {"outcomes": dict.fromkeys(s.authorities, outcome)}))
        return out


def available_steps(s: InvestigationState, ctx: Ctx, by: str) -> list[str]:
    """The procedure's steps `by` could take now (their fields aside)."""
    out = []
    for key, spec in ctx.procedure.steps.items():
        probe = ProcedureStep.model_construct(by=by, step=key, summary="x", subject="", to=[])
        if spec.answers or "subject" in spec.requires or "to" in spec.requires:
            # What it needs to name is checked when it is taken.
            spec_free = spec.model_copy(update={"answers": "", "requires": ["summary"]})
            probe_ctx = Ctx(
                procedure=ctx.procedure.model_copy(update={"steps": {**ctx.procedure.steps, key: spec_free}}),
                now=ctx.now,
                owner=ctx.owner,
            )
        else:
            probe_ctx = ctx
        try:
            probe.check(s, probe_ctx)
        except Rejected:
            continue
        out.append(key)
    return out


# ------------------------------------------------------------------------------------------------ track actions


class TrackAction(Action):
    runs_in = "track"
    actors = ("self",)

    def check(self, s, ctx):
        super().check(s, ctx)
        self.check_track(s, ctx)

    def check_track(self, s: InvestigationState, ctx: Ctx) -> None:
        pass


class Concur(TrackAction):
    name = "concur"
    stages = (Stage.FINDINGS,)
    help = "A co-authority concurs in the lead's draft findings."

    def check_track(self, s, ctx):
        if s.tracks[self.by].concurrence != "pending":
            raise Rejected(f"{self.by} has no draft findings awaiting its answer")

    def decide(self, s, ctx):
        return [New(ev.FindingsConcurred, self.by, {"authority": self.by})]


class Dissent(TrackAction):
    name = "dissent"
    stages = (Stage.FINDINGS,)
    help = "A co-authority dissents, with reasons, and proceeds on its own finding."
    finding: Finding
    reasons: Text = Field(min_length=1)

    def check_track(self, s, ctx):
        Concur.check_track(self, s, ctx)  # type: ignore[arg-type]

    def decide(self, s, ctx):
        return [
            New(ev.FindingsDissented, self.by, {"authority": self.by, "finding": self.finding, "reasons": self.reasons})
        ]


class CommentOnFindings(TrackAction):
    name = "comment-on-findings"
    stages = (Stage.FINDINGS,)
    actors = ("co-authority",)
    help = "A co-authority comments on the draft findings (it still concurs or dissents)."
    comments: Text = Field(min_length=1)

    def decide(self, s, ctx):
        return [New(ev.FindingsCommented, self.by, {"authority": self.by, "comments": self.comments})]


class OpenInquiry(TrackAction):
    name = "open-inquiry"
    help = "After a refusal, an authority that orders after an inquiry opens one (a 90-day clock in BC and AB)."

    def check_track(self, s, ctx):
        _power(ctx, self.by, Power.ORDER_AFTER_INQUIRY)
        if s.tracks[self.by].status != TrackStatus.ESCALATION:
            raise Rejected(f"{self.by}'s track is {s.tracks[self.by].status.value}: an inquiry opens in escalation")

    def decide(self, s, ctx):
        return [New(ev.InquiryOpened, self.by, {"authority": self.by})]


class IssueOrder(TrackAction):
    name = "issue-order"
    help = "A binding order (after an inquiry, or after the investigation where the law allows)."
    order: Short = Field(min_length=1)
    terms: Text = ""
    comply_within_days: int | None = Field(default=None, gt=0, le=MAX_DAYS)

    def check_track(self, s, ctx):
        power = _power(ctx, self.by, Power.ORDER_AFTER_INVESTIGATION, Power.ORDER_AFTER_INQUIRY)
        status = s.tracks[self.by].status
        needed = TrackStatus.INQUIRY if power == Power.ORDER_AFTER_INQUIRY else TrackStatus.ESCALATION
        if status != needed:
            raise Rejected(f"{self.by} orders only from {needed.value}; its track is {status.value}")
        if any(o.order == self.order for o in s.tracks[self.by].orders):
            raise Rejected(f"order {self.order!r} is already recorded")

    def decide(self, s, ctx):
        return [
            New(
                ev.OrderIssued,
                self.by,
                {"authority": self.by, **self.model_dump(include={"order", "terms", "comply_within_days"})},
            )
        ]


class _AgainstOrder(TrackAction):
    actors = ("respondent",)
    authority: Id
    court: Short = Field(min_length=1)

    def check_track(self, s, ctx):
        if not s.tracks[self.authority].orders:
            raise Rejected(f"{self.authority} has issued no order to challenge")


class FileJudicialReview(_AgainstOrder):
    name = "file-judicial-review"
    help = "The respondent applies for judicial review of an authority's order."

    def decide(self, s, ctx):
        order = s.tracks[self.authority].orders[-1].order
        return [
            New(
                ev.JudicialReviewFiled,
                self.by,
                {"authority": self.authority, "court": self.court, "kind": "judicial-review", "order": order},
            )
        ]


class FileAppeal(_AgainstOrder):
    name = "file-appeal"
    help = "The respondent appeals an authority's decision (it does not stay it unless a court says so)."

    def decide(self, s, ctx):
        order = s.tracks[self.authority].orders[-1].order
        return [
            New(
                ev.JudicialReviewFiled,
                self.by,
                {"authority": self.authority, "court": self.court, "kind": "appeal", "order": order},
            )
        ]


class RecordStay(TrackAction):
    name = "record-stay"
    help = "The authority records a court's stay of its order."
    court: Short = Field(min_length=1)

    def check_track(self, s, ctx):
        if not s.tracks[self.by].orders:
            raise Rejected(f"{self.by} has no order to stay")

    def decide(self, s, ctx):
        return [
            New(
                ev.StayGranted,
                self.by,
                {"authority": self.by, "court": self.court, "order": s.tracks[self.by].orders[-1].order},
            )
        ]


class RecordCourtDecision(TrackAction):
    name = "record-court-decision"
    help = "The authority records a court's decision on its order or application."
    court: Short = ""
    outcome: Literal["upheld", "quashed", "partly-struck", "dismissed", "granted"]
    citation: Short = ""

    def check_track(self, s, ctx):
        if not s.tracks[self.by].court:
            raise Rejected(f"nothing of {self.by}'s is before a court")

    def decide(self, s, ctx):
        court = self.court or s.tracks[self.by].court[-1]
        return [
            New(
                ev.CourtDecisionRecorded,
                self.by,
                {"authority": self.by, "court": court, "outcome": self.outcome, "citation": self.citation},
            )
        ]


class ApplyToCourt(TrackAction):
    name = "apply-to-court"
    help = "An authority that cannot order applies to a court (OPC: the Federal Court, s.15)."
    court: Short = ""

    def check_track(self, s, ctx):
        _power(ctx, self.by, Power.COURT_APPLICATION)
        if s.tracks[self.by].status not in (TrackStatus.ESCALATION, TrackStatus.COMPLIANCE_AGREEMENT):
            raise Rejected(f"{self.by} applies to a court only in escalation")

    def decide(self, s, ctx):
        court = self.court or ctx.procedure.authority(self.by).court
        return [New(ev.CourtApplicationFiled, self.by, {"authority": self.by, "court": court})]


class SignComplianceAgreement(TrackAction):
    name = "sign-compliance-agreement"
    help = "A compliance agreement (OPC s.17.1): it suspends the court-application clock."
    terms: Text = Field(min_length=1)

    def check_track(self, s, ctx):
        _power(ctx, self.by, Power.COMPLIANCE_AGREEMENT)
        if s.tracks[self.by].status != TrackStatus.ESCALATION:
            raise Rejected(f"{self.by} signs a compliance agreement only in escalation")

    def decide(self, s, ctx):
        return [New(ev.ComplianceAgreementSigned, self.by, {"authority": self.by, "terms": self.terms})]


class VerifyCompliance(TrackAction):
    name = "verify-compliance"
    help = "The authority verifies that its order (or compliance agreement) has been complied with."
    subject: Short = ""

    def check_track(self, s, ctx):
        track = s.tracks[self.by]
        if not track.orders and track.status != TrackStatus.COMPLIANCE_AGREEMENT:
            raise Rejected(f"{self.by} has no order or agreement to verify")

    def decide(self, s, ctx):
        orders = s.tracks[self.by].orders
        subject = self.subject or (orders[-1].order if orders else "compliance agreement")
        return [New(ev.ComplianceVerified, self.by, {"authority": self.by, "subject": subject})]


class FindNonCompliance(TrackAction):
    name = "find-non-compliance"
    help = "The authority finds that its order or agreement has not been complied with."
    reason: Text = Field(min_length=1)

    def check_track(self, s, ctx):
        VerifyCompliance.check_track(self, s, ctx)  # type: ignore[arg-type]  (same subjects: an order, an agreement)

    def decide(self, s, ctx):
        orders = s.tracks[self.by].orders
        subject = orders[-1].order if orders else "compliance agreement"
        return [New(ev.NonComplianceFound, self.by, {"authority": self.by, "subject": subject, "reason": self.reason})]


class CloseTrack(TrackAction):
    name = "close-track"
    help = "The authority closes its own track, with the outcome."
    outcome: Short = Field(min_length=1)

    def check_track(self, s, ctx):
        if s.stage in (Stage.INVESTIGATING, Stage.PRELIMINARY_REPORT, Stage.FINDINGS):
            raise Rejected("a track closes after the findings are issued")

    def decide(self, s, ctx):
        return [New(ev.TrackClosed, self.by, {"authority": self.by, "outcome": self.outcome})]


ACTIONS: dict[str, type[Action]] = {
    cls.name: cls
    for cls in (
        RequestInformation,
        ProvideInformation,
        RecordEvidence,
        ShareEvidence,
        SendMessage,
        RecordVoluntaryMeasure,
        IssuePreliminaryReport,
        SubmitRepresentations,
        DraftFindings,
        IssueRecommendations,
        AnswerRecommendations,
        VerifyRecommendation,
        ExtendDeadline,
        Concur,
        Dissent,
        CommentOnFindings,
        OpenInquiry,
        IssueOrder,
        FileJudicialReview,
        FileAppeal,
        RecordStay,
        RecordCourtDecision,
        ApplyToCourt,
        SignComplianceAgreement,
        VerifyCompliance,
        FindNonCompliance,
        CloseTrack,
        ProcedureStep,
    )
}


# ------------------------------------------------------------------------------------------------ sealed content


# Content shared between authorities is the free text an action addresses to some authorities of the case and
# not to the others nor the respondent: a record-evidence's `description` (for its holder and its scope), a
# message's `text` (for its sender and `to`), a procedure step's `summary` when the step names authorities
# `to` (a GDPR request for mutual assistance), and the summary of a step that replies to such a step by its
# subject (the reply to request MA-1: for the replier and those the request was between). It is sealed on the
# sender's machine for those parties (enforce.sealing); the record keeps its envelope and, in clear, what the
# workflows need: who, to whom, the purpose, the subject, the hash. What every authority of the case and the
# respondent read (findings, reports, representations, orders, reasons, comments on the findings) is not
# content of this kind.
def content_of(action: Action, s: InvestigationState) -> tuple[str, list[str]] | None:
    """The field of `action` that is content between authorities, and the parties it is sealed for (the
    sender first); None for an action that carries none. `Rejected` when it names a party the case lacks."""
    if isinstance(action, RecordEvidence):
        return "description", [action.by, *_authorities_named(s, "scope", action.scope, action.by)]
    if isinstance(action, SendMessage):
        return "text", [action.by, *_authorities_named(s, "to", action.to, action.by)]
    if isinstance(action, ProcedureStep) and action.summary:
        if action.to:
            return "summary", [action.by, *_authorities_named(s, "to", action.to, action.by)]
        # A reply to such a step (provide-mutual-assistance, subject MA-1): for those the request was between.
        asked = next((x for x in reversed(s.steps) if action.subject and x.subject == action.subject and x.to), None)
        if asked is not None:
            return "summary", list(dict.fromkeys([action.by, asked.by, *asked.to]))
    return None


def unsealed(action: Action, s: InvestigationState) -> str | None:
    """Why `action`'s content between authorities may not be recorded as it is (in clear, or sealed for
    fewer parties than it goes to), or None."""
    if isinstance(action, ShareEvidence):
        return _unsealed_share(action, s)
    found = content_of(action, s)
    if found is None:
        return None
    field_name, parties = found
    text = getattr(action, field_name)
    if not sealed.is_sealed(text) or sealed.parts(text) is None:
        return (
            f"{field_name}: content between authorities arrives sealed for {', '.join(parties)} "
            "(`enforce act` and `enforce sign` seal it on the sender's machine)"
        )
    missing = [p for p in parties if p not in sealed.recipients(text)]
    if missing:
        return f"{field_name}: sealed for {', '.join(sealed.recipients(text))}, not for {', '.join(missing)}"
    return None


def _unsealed_share(action: ShareEvidence, s: InvestigationState) -> str | None:
    item = s.evidence_item(action.evidence_id)
    if item is None or not item.is_sealed:
        return None
    to = _authorities_named(s, "shared_with", action.shared_with, action.by)
    if not action.sealed:
        return (
            f"sealed: evidence {action.evidence_id} is sealed: sharing it re-seals its key for {', '.join(to)} "
            "(`enforce act` and `enforce sign` do, with the holder's key)"
        )
    missing = [p for p in to if p not in sealed.recipients(action.sealed)]
    if missing:
        return f"sealed: re-sealed for {', '.join(sealed.recipients(action.sealed))}, not for {', '.join(missing)}"
    return None


def parse_action(name: str, payload: dict[str, Any], procedure: Procedure | None = None) -> Action:
    """An action from its name and fields, or `Rejected` naming the field that is wrong. With the case's
    procedure, a step's own name stands for the `step` action (`circulate-draft-decision`)."""
    step_name = ""
    if procedure is not None and name not in ACTIONS and name in procedure.steps:
        payload, name, step_name = {**payload, "step": name}, ProcedureStep.name, name
    cls = ACTIONS.get(name)
    if cls is None:
        known = action_names(procedure)
        near = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise BadInput(f"unknown action {name[:ID_MAX]!r}{hint}; actions: {', '.join(known)}")
    if procedure is not None and procedure.actions is not None and name not in procedure.actions:
        known = action_names(procedure)
        raise BadInput(f"{name} is not an action of procedure {procedure.id} (its actions: {', '.join(known)})")
    if payload.get("by") == RESPONDENT and "respondent" not in cls.actors:
        raise Rejected(f"the respondent cannot {name}")
    try:
        action = cls.model_validate(payload)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = "missing" if err["type"] == "missing" else limit_message(err) or re.sub(r"^Value error, ", "", err["msg"])
        if err["type"] == "extra_forbidden":
            if step_name and procedure is not None:
                fields = list(procedure.steps[step_name].requires)
            else:
                fields = [f for f in cls.model_fields if f != "by"]
            msg = f"not a field of {step_name or name} (its fields: {', '.join(fields) or 'none'})"
        name = step_name or name
        if not where:
            # A model validator names its own field: "new_due: give exactly one of new_due or added".
            where, _, rest = msg.partition(": ") if ": " in msg else (name, "", msg)
            msg = rest or msg
        raise BadInput(f"{name}: {where}: {msg}") from None
    # Characters are counted field by field; escaped characters can still make the encoded whole too large.
    size = len(action.model_dump_json().encode())
    if size > ACTION_BYTES_MAX:
        raise BadInput(f"{name}: (payload): {size} bytes encoded; at most {ACTION_BYTES_MAX} bytes")
    return action


def action_names(procedure: Procedure | None) -> list[str]:
    """The actions a case file or `enforce act` may name: under a procedure of its own steps, the common actions
    it keeps and its steps (but those only the record takes); otherwise every common action."""
    if procedure is None or not procedure.steps:
        return list(ACTIONS)
    kept = [a for a in ACTIONS if a != ProcedureStep.name and (procedure.actions is None or a in procedure.actions)]
    return kept + [k for k, v in procedure.steps.items() if v.by != ["system"]]


def allowed_now(s: InvestigationState, ctx: Ctx, by: str) -> list[str]:
    """The actions `by` could take now here, judged by actor and stage (their fields aside)."""
    out = []
    for name, cls in ACTIONS.items():
        if cls is ProcedureStep:
            out += available_steps(s, ctx, by)
            continue
        if ctx.procedure.actions is not None and name not in ctx.procedure.actions:
            continue
        if cls is ExtendDeadline:
            if ExtendDeadline.available(s, ctx, by):
                out.append(name)
            continue
        probe = cls.model_construct(by=by, authority=by if by != RESPONDENT else ctx.owner)
        try:
            Action.check(probe, s, ctx)
            if isinstance(probe, TrackAction):
                probe.check_track(s, ctx)
        except (Rejected, AttributeError, KeyError, IndexError):
            continue
        out.append(name)
    return out


def explain(e: Rejected, s: InvestigationState, ctx: Ctx, by: str) -> Rejected:
    """A rejection, with what `by` could do now instead."""
    allowed = allowed_now(s, ctx, by) if isinstance(by, str) else []
    return Rejected(f"{e}; allowed now for {by}: {', '.join(allowed) or 'nothing'}")


def decide(action: Action, s: InvestigationState, ctx: Ctx) -> list[New]:
    """Check then decide; a rejection says what is allowed now."""
    try:
        action.check(s, ctx)
        return action.decide(s, ctx)
    except Rejected as e:
        raise explain(e, s, ctx, action.by) from None
