"""What follows from what: the clocks an event starts, meets, stops or restarts; what the record decides
by itself (findings once every co-authority has answered, closure once every track has closed); what a
missed deadline brings; which notices an event sends. Pure functions of the state and the procedure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict

from domain import events as ev
from domain import sealed
from domain.actions import CASE, SYSTEM, Ctx, New, board_of, escalation_if_refused, step_event
from domain.case import RESPONDENT, Recipient
from domain.deadlines import countable_days_between, due_date, reminder_dates, resume
from domain.limits import CAUSES_KEPT
from domain.notices import NoticeRequest, notice_id, senders_for
from domain.procedure import DeadlineRule, FindingsRule, Procedure
from domain.state import ORDER_STANDS, DeadlineState, InvestigationState, Stage


def log_name(s: InvestigationState, owner: str) -> str:
    return s.slug if owner == CASE else f"{s.slug}.{owner}"


def rule_of(ctx: Ctx, d: DeadlineState) -> DeadlineRule:
    return ctx.procedure.deadline_rule(d.owner, d.rule, d.authority)


def _concerns(e: ev.Event, authority: str) -> bool:
    """A track's clocks move only on its own events and on joint ones (which name no authority)."""
    return getattr(e, "authority", authority) in (authority, "")


def _subject(e: ev.Event) -> str:
    for attr in ("request_id", "order", "subject"):
        if value := getattr(e, attr, ""):
            return value
    return ""


# The joint events every track follows, whatever its clocks: findings, recommendations, answers, escalation,
# verification of accepted recommendations, and the closure.
TRACKS_FOLLOW = frozenset(
    {
        "FindingsDrafted",
        "FindingsIssued",
        "RecommendationsIssued",
        "RecommendationAnswered",
        "EscalationStarted",
        "ComplianceVerified",
        "InvestigationClosed",
    }
)


def tracks_follow(procedure: Procedure) -> frozenset[str]:
    """The joint events to send the tracks: the ones above and any a track's clock starts, stops or ends on."""
    moved = {
        t
        for auth in procedure.authorities.values()
        for r in auth.deadlines.values()
        for t in (r.trigger, *r.met_by, *r.paused_by, *r.resumed_by)
    }
    # Each track starts from the opening itself, in its input.
    return (TRACKS_FOLLOW | moved) - {"InvestigationOpened"}


def _meets(rule: DeadlineRule, s: InvestigationState, e: ev.Event, subject: str) -> bool:
    if ev.event_name(e) not in rule.met_by or (subject and _subject(e) != subject):
        return False
    return rule.met_when == "any" or not s.unanswered


def acted_late(
    procedure: Procedure, deadlines: Sequence[DeadlineState], events: Sequence[ev.Event]
) -> dict[str, ev.Event]:
    """What was done after its clock ran out, by the clock's id: the first event after the due date of those
    that would have met it (a binding decision adopted after the EDPB's periods, a final decision after the
    LSA's month). The Regulation sets periods without voiding a late act, so such an act is recorded, never
    refused; the record shows it late."""
    out: dict[str, ev.Event] = {}
    for d in deadlines:
        rules = procedure.rules(d.owner) if d.owner == CASE or d.owner in procedure.authorities else {}
        rule = rules.get(d.rule)
        if d.status != "missed" or rule is None:
            continue
        late = (
            e
            for e in events
            if e.on.date() > d.due and ev.event_name(e) in rule.met_by and (not d.subject or _subject(e) == d.subject)
        )
        if (first := next(late, None)) is not None:
            out[d.deadline_id] = first
    return out


def status_with_lateness(d: DeadlineState, done: ev.Event | None) -> str:
    """A clock's status as people read it, saying when what it asked for was done after it ran out."""
    if done is None:
        return d.label
    days = (done.on.date() - d.due).days
    return f"missed; done late on {done.on.date().isoformat()} ({days} day{'' if days == 1 else 's'} after)"


class Cause(BaseModel):
    """An event that may be served as a notice and start a clock on its service: what the clock needs of it,
    and the event types that meet such a clock recorded after it (on its subject). Kept while its clock may
    still start; dropped once set (`note_cause`)."""

    model_config = ConfigDict(frozen=True)

    seq: int
    type: str
    subject: str = ""
    comply_within_days: int | None = None
    met: list[str] = []


def _cause(e: ev.Event) -> Cause:
    return Cause(
        seq=e.seq, type=ev.event_name(e), subject=_subject(e), comply_within_days=getattr(e, "comply_within_days", None)
    )


def _service_rules(procedure: Procedure, owner: str, trigger: str) -> list[DeadlineRule]:
    return [r for r in procedure.rules(owner).values() if r.runs_from == "service" and r.trigger == trigger]


def note_cause(causes: Mapping[int, Cause], procedure: Procedure, owner: str, e: ev.Event) -> dict[int, Cause]:
    """The causes a record keeps once `e` is recorded: each notes `e` if it may meet its clock, a clock set
    drops its cause, and `e` becomes one if its service may start a clock here. At most CAUSES_KEPT, the
    oldest dropped first (a notice never served, a clock met before service)."""
    out: dict[int, Cause] = {}
    name = ev.event_name(e)
    for seq, c in causes.items():
        if (
            name not in c.met
            and (not c.subject or _subject(e) == c.subject)
            and any(name in r.met_by for r in _service_rules(procedure, owner, c.type))
        ):
            c = c.model_copy(update={"met": [*c.met, name]})
        out[seq] = c
    if isinstance(e, ev.DeadlineSet) and e.owner == owner:
        tail = e.deadline_id.rsplit(":", 1)[-1]
        if tail.isdigit():
            out.pop(int(tail), None)
    if _service_rules(procedure, owner, name):
        out[e.seq] = _cause(e)
    while len(out) > CAUSES_KEPT:
        del out[next(iter(out))]
    return out


def _start(s: InvestigationState, ctx: Ctx, e: ev.Event, recorded: Sequence[ev.Event], causes: Mapping[int, Cause]):
    """The clocks `e` starts: one run from an event starts on it; one run from service starts on the notice
    served for its cause (looked up in `causes`, which also says what already met it)."""
    # A joint clock belongs to the case and is kept in the lead's name; a track's to its authority.
    authority = s.lead if ctx.owner == CASE else ctx.owner
    if ctx.owner != CASE and not _concerns(e, authority):
        return []
    out = []
    name = ev.event_name(e)
    for key, rule in ctx.procedure.rules(ctx.owner).items():
        holder = authority
        if rule.runs_from == "event" and rule.trigger == name:
            # A step the record takes when a period ends counts from that period's last day (Art. 65(3)).
            cause, trigger = _cause(e), getattr(e, "dated", None) or e.on.date()
            holder = _holder(s, ctx, rule, e) if ctx.owner == CASE else authority
            # Met already by what was recorded with it (the rest of its batch)?
            met = [
                ev.event_name(x)
                for x in recorded
                if x.seq > e.seq and (not cause.subject or _subject(x) == cause.subject)
            ]
        elif rule.runs_from == "service" and isinstance(e, ev.NoticeServed) and e.cause_type == rule.trigger:
            found = causes.get(e.cause)
            if found is None:
                continue
            cause, trigger, met = found, e.delivered_at.date(), found.met
        else:
            continue
        did = f"{ctx.owner}:{key}:{cause.seq}"
        if did in s.deadlines or any(n.fields.get("deadline_id") == did for n in out):
            continue
        subject = cause.subject
        # What the clock asks for may already have happened (an answer before the notice was served).
        if any(t in rule.met_by for t in met) and (rule.met_when == "any" or not s.unanswered):
            continue
        # A new trigger of the same clock on the same subject (a redraft) supersedes the running one.
        out += [
            New(ev.DeadlineCancelled, SYSTEM, {"deadline_id": d.deadline_id, "reason": f"superseded by {did}"})
            for d in s.open_deadlines
            if d.owner == ctx.owner and d.rule == key and d.subject == subject
        ]
        count = cause.comply_within_days or rule.count
        out.append(
            New(
                ev.DeadlineSet,
                SYSTEM,
                {
                    "deadline_id": did,
                    "authority": holder,
                    "owner": ctx.owner,
                    "kind": rule.kind.value,
                    "rule": key,
                    "statute": rule.statute,
                    "summary": rule.summary.replace("{order}", subject or "the order"),
                    "trigger": trigger,
                    "due": due_date(
                        ctx.procedure.deadline_rule(ctx.owner, key, holder),
                        trigger,
                        ctx.procedure.calendars,
                        count=count,
                    ),
                    "owed_by": rule.owed_by,
                    "count": count,
                    "unit": rule.unit.value,
                    "subject": subject,
                },
            )
        )
    return out


def _calendar_of(ctx: Ctx, aid: str) -> str:
    return ctx.procedure.authority(aid).calendar if aid in ctx.procedure.authorities else ""


def _holder(s: InvestigationState, ctx: Ctx, rule: DeadlineRule, e: ev.Event) -> str:
    """Whose a joint clock is: the lead's, unless the rule says the actor's, the addressee's or the board's (a
    clock one party's event starts for another: the EDPB's notification starts the LSA's month, Art. 65(6))."""
    actor = getattr(e, "actor", "") or e.by
    if rule.party == "actor" and actor in s.authorities:
        return actor
    if rule.party == "addressee" and getattr(e, "to", None):
        return e.to[0]  # type: ignore[attr-defined]
    if rule.party == "board":
        return board_of(s, ctx.procedure) or s.lead
    return s.lead


def _stopped(s: InvestigationState, ctx: Ctx, e: ev.Event) -> list[New]:
    """A procedure step stops the clocks it names (a revised draft decision ends the window on the old one)."""
    if not isinstance(e, ev.StepRecorded) or e.step not in ctx.procedure.steps:
        return []
    stops = ctx.procedure.steps[e.step].stops
    return [
        New(ev.DeadlineCancelled, SYSTEM, {"deadline_id": d.deadline_id, "reason": f"{e.label} ({e.statute})".strip()})
        for d in s.open_deadlines
        if d.owner == ctx.owner and d.rule in stops and not d.deadline_id.endswith(f":{e.seq}")
    ]


def _move_clocks(s: InvestigationState, ctx: Ctx, e: ev.Event) -> list[New]:
    out = []
    today = e.on.date()
    for d in s.deadlines.values():
        if d.owner != ctx.owner or d.status not in ("open", "paused") or not _concerns(e, d.authority):
            continue
        rule = rule_of(ctx, d)
        name = ev.event_name(e)
        if _meets(rule, s, e, d.subject):
            out.append(New(ev.DeadlineMet, SYSTEM, {"deadline_id": d.deadline_id}))
        elif d.status == "open" and name in rule.paused_by:
            remaining = countable_days_between(rule, today, d.due, ctx.procedure.calendars)
            out.append(
                New(
                    ev.DeadlinePaused,
                    SYSTEM,
                    {"deadline_id": d.deadline_id, "remaining": remaining, "cause": _cause_text(e)},
                )
            )
        elif d.status == "paused" and name in rule.resumed_by:
            if isinstance(e, ev.CourtDecisionRecorded) and e.outcome not in ORDER_STANDS:
                out.append(New(ev.DeadlineCancelled, SYSTEM, {"deadline_id": d.deadline_id, "reason": _cause_text(e)}))
                continue
            remaining = d.remaining or 0
            due = resume(rule, remaining, today, ctx.procedure.calendars)
            out.append(
                New(ev.DeadlineResumed, SYSTEM, {"deadline_id": d.deadline_id, "due": due, "remaining": remaining})
            )
    return out


def _cause_text(e: ev.Event) -> str:
    if isinstance(e, ev.JudicialReviewFiled):
        return f"{e.kind} filed in the {e.court}"
    if isinstance(e, ev.StayGranted):
        return f"stay granted by the {e.court}"
    if isinstance(e, ev.CourtDecisionRecorded):
        return f"{e.court}: {e.outcome}" + (f" ({e.citation})" if e.citation else "")
    return e.type


def findings_by_rule(s: InvestigationState, ctx: Ctx, by: str) -> list[New]:
    """The procedure's rule decides the findings with the answers in hand."""
    tracks = s.tracks
    if ctx.procedure.findings_rule == FindingsRule.UNANIMITY and any(
        t.concurrence in ("dissented", "pending") for t in tracks.values()
    ):
        return []  # no joint report: the lead must redraft
    findings = {}
    for aid, t in tracks.items():
        if t.concurrence in ("lead", "concurred"):
            findings[aid] = s.draft_finding
        elif t.concurrence == "dissented":
            findings[aid] = t.finding  # a dissenting authority keeps its own finding
    return [New(ev.FindingsIssued, by, {"findings": findings, "summary": s.findings_summary})]


def _decided_by_record(s: InvestigationState, ctx: Ctx, e: ev.Event) -> list[New]:
    closing = ctx.owner == CASE and isinstance(e, ev.InvestigationClosed)
    if closing or (isinstance(e, ev.TrackClosed) and e.authority == ctx.owner):
        # Nothing is owed on a closed file: its remaining clocks stop.
        return [
            New(ev.DeadlineCancelled, SYSTEM, {"deadline_id": d.deadline_id, "reason": "closed"})
            for d in s.open_deadlines
            if d.owner == ctx.owner
        ]
    if ctx.owner == CASE:
        if (
            isinstance(e, ev.FindingsConcurred | ev.FindingsDissented)
            and s.stage == Stage.FINDINGS
            and not s.awaiting_concurrence
        ):
            return findings_by_rule(s, ctx, s.lead)
        if isinstance(e, ev.TrackClosed) and s.stage != Stage.CLOSED and not s.open_tracks:
            return [New(ev.InvestigationClosed, SYSTEM, {"outcomes": {a: t.outcome for a, t in s.tracks.items()}})]
        return []
    if isinstance(e, ev.EscalationStarted) and ctx.owner in s.open_tracks and ctx.owner not in e.authorities:
        # A track that does not escalate (its own finding does not support the recommendations) closes on it.
        finding = s.tracks[ctx.owner].finding
        return [
            New(
                ev.TrackClosed,
                SYSTEM,
                {"authority": ctx.owner, "outcome": f"{finding}: its own finding; the refusal is not pursued here"},
            )
        ]
    accepted = [r for r in s.recommendations if r.answer == "accepted"]
    if (
        isinstance(e, ev.ComplianceVerified)
        and accepted
        and all(r.verified for r in accepted)
        and all(r.answer == "accepted" for r in s.recommendations)
        and ctx.owner in s.open_tracks
    ):
        return [
            New(
                ev.TrackClosed,
                SYSTEM,
                {"authority": ctx.owner, "outcome": "well-founded and resolved: recommendations implemented"},
            )
        ]
    return []


def follow_ups(s: InvestigationState, causes: Mapping[int, Cause], recorded: Sequence[ev.Event], ctx: Ctx) -> list[New]:
    """What the events just recorded bring with them, here (in `ctx.owner`'s workflow)."""
    out: list[New] = []
    for e in recorded:
        if e.type.startswith("Deadline") or s.stage == Stage.CLOSED and not isinstance(e, ev.InvestigationClosed):
            continue
        out += _stopped(s, ctx, e)
        out += _start(s, ctx, e, recorded, causes)
        out += _move_clocks(s, ctx, e)
        out += _decided_by_record(s, ctx, e)
    # Several events of one batch can move the same clock (three answers meet one response deadline): once.
    seen: set[tuple] = set()
    unique = []
    for n in out:
        key = (n.type, n.fields.get("deadline_id") or id(n))
        if key not in seen:
            seen.add(key)
            unique.append(n)
    return unique


def on_missed(s: InvestigationState, d: DeadlineState, ctx: Ctx) -> list[New]:
    """A clock ran out: record it, and what the procedure says follows."""
    rule = rule_of(ctx, d)
    if rule.on_missed == "step":
        return _step_on_expiry(s, d, ctx, rule)
    out = [New(ev.DeadlineMissed, SYSTEM, {"deadline_id": d.deadline_id, "consequence": rule.on_missed})]
    if rule.on_missed == "deemed-refusal":
        unanswered = s.unanswered  # none: the answers came in; escalation, if any, has happened
        out += [
            New(ev.RecommendationAnswered, SYSTEM, {"recommendation": rid, "answer": "refused", "deemed": True})
            for rid in unanswered
        ]
        out += escalation_if_refused(
            s,
            dict.fromkeys(unanswered, "refused"),
            SYSTEM,
            reason=f"deemed refusal: no response by {d.due.isoformat()}",
        )
    elif rule.on_missed == "non-compliance":
        out.append(
            New(
                ev.NonComplianceFound,
                SYSTEM,
                {
                    "authority": d.authority,
                    "subject": d.subject or d.kind,
                    "reason": f"not complied with by {d.due.isoformat()}",
                },
            )
        )
    elif rule.on_missed == "close-track" and d.authority in s.open_tracks:
        out.append(
            New(
                ev.TrackClosed,
                SYSTEM,
                {"authority": d.authority, "outcome": f"{rule.statute}: the window closed on {d.due.isoformat()}"},
            )
        )
    elif rule.on_missed == "decide-findings" and s.stage == Stage.FINDINGS:
        out += findings_by_rule(s, ctx, SYSTEM)
    return out


def _step_on_expiry(s: InvestigationState, d: DeadlineState, ctx: Ctx, rule: DeadlineRule) -> list[New]:
    """A period ran out and the procedure records a step: `then`, or `otherwise` when one of the `unless`
    events was recorded since the clock started (an objection within the window: no deemed agreement)."""
    started = int(d.deadline_id.rsplit(":", 1)[-1])
    happened = any(s.step_last.get(name, 0) > started for name in rule.unless)
    key = rule.otherwise if happened else rule.then
    step = ctx.procedure.steps[key]
    summary = f"{d.summary}: the period ended on {d.due.isoformat()}"
    closed = ev.DeadlineElapsed if rule.window else ev.DeadlineMissed
    return [
        New(closed, SYSTEM, {"deadline_id": d.deadline_id, "consequence": step.label}),
        step_event(ctx.procedure, key, s, SYSTEM, {"summary": summary, "subject": d.subject, "dated": d.due}),
    ]


def next_reminder(s: InvestigationState, d: DeadlineState, ctx: Ctx, today: date) -> date | None:
    """The next reminder day still to come for a running clock."""
    rule = rule_of(ctx, d)
    for day in reminder_dates(rule, d.due, ctx.procedure.calendars, trigger=d.trigger):
        if day >= today and reminder_id(s, d, day, ctx.owner) not in {n.notice_id for n in s.notices}:
            return day
    return None


def reminder_id(s: InvestigationState, d: DeadlineState, day: date, owner: str) -> str:
    return f"{log_name(s, owner)}-{d.deadline_id.replace(':', '-')}-reminder-{day.isoformat()}"


def _recipient(s: InvestigationState, ctx: Ctx, party: str) -> Recipient:
    if party in s.contacts:
        return s.contacts[party]
    name = s.respondent.name if party == RESPONDENT and s.respondent else ctx.procedure.authority(party).name
    return Recipient(id=party, name=name)


def reminder(s: InvestigationState, d: DeadlineState, ctx: Ctx, day: date) -> NoticeRequest:
    """A reminder to whoever owes the step, from the authority whose clock it is."""
    to = RESPONDENT if d.owed_by == RESPONDENT else d.authority
    return NoticeRequest(
        notice_id=reminder_id(s, d, day, ctx.owner),
        kind="reminder",
        procedure=s.procedure,
        case_slug=s.slug,
        case_title=s.title,
        issues=s.issues,
        senders=senders_for(ctx.procedure, [d.authority], s.files, "notice"),
        to=_recipient(s, ctx, to),
        dated=day,
        due=d.due,
        due_rule=f"{d.summary} ({d.statute})",
        deadline=d.deadline_id,
    )


def notices_for(s: InvestigationState, e: ev.Event, ctx: Ctx) -> list[NoticeRequest]:
    """The notices an event originated here sends, with the deadline they start where it is known."""
    name = ev.event_name(e)
    spec = ctx.procedure.notices.get(name)
    if spec is None:
        return []
    senders = s.authorities if spec.senders == "all" else [e.by if e.by in s.authorities else s.lead]
    roles = {a: ctx.procedure.authority(a).role for a in s.authorities}
    board = board_of(s, ctx.procedure)
    recipients = {
        "respondent": [RESPONDENT],
        "co-authorities": s.co_authorities,
        "addressees": list(getattr(e, "to", [])),
        # The authorities concerned (not a board), other than the sender.
        "concerned": [a for a in s.authorities if roles[a] == "authority" and a not in senders],
        "board": [board] if board and board not in senders else [],
        "lead": [s.lead] if s.lead not in senders else [],
    }[spec.to]
    started = [d for d in s.deadlines.values() if d.deadline_id.endswith(f":{e.seq}") and d.owner == ctx.owner]
    prospective = [r for r in ctx.procedure.rules(ctx.owner).values() if r.runs_from == "service" and r.trigger == name]
    due, due_rule = None, ""
    if started:
        due, due_rule = started[0].due, f"{started[0].summary} ({started[0].statute})"
    elif prospective:
        # Counted from service: the day it is served, normally today.
        due = due_date(prospective[0].for_holder(_calendar_of(ctx, s.lead)), e.on.date(), ctx.procedure.calendars)
        due_rule = f"{prospective[0].summary} ({prospective[0].statute}), counted from service"
    return [
        NoticeRequest(
            notice_id=notice_id(log_name(s, ctx.owner), e.seq, spec.kind, to),
            kind=spec.kind,
            procedure=s.procedure,
            case_slug=s.slug,
            case_title=s.title,
            issues=s.issues,
            senders=senders_for(ctx.procedure, senders, s.files, spec.section),
            to=_recipient(s, ctx, to),
            dated=e.on.date(),
            due=due,
            due_rule=due_rule,
            cause=e.seq,
            cause_type=name,
            context=_notice_context(s, e, ctx.procedure),
        )
        for to in recipients
    ]


def _notice_context(s: InvestigationState, e: ev.Event, procedure: Procedure | None = None) -> dict[str, str]:
    """What the notice's template needs to say about its cause, as plain strings."""
    if isinstance(e, ev.RecommendationsIssued):
        return {"findings": s.findings_summary} | {f"recommendation {r.id}": r.text for r in e.recommendations}
    if isinstance(e, ev.OrderIssued):
        return {"order": e.order, "terms": e.terms}
    if isinstance(e, ev.InformationRequested):
        return {"request": e.request_id} | {f"item {i}": item for i, item in enumerate(e.items, 1)}
    if isinstance(e, ev.FindingsDrafted | ev.PreliminaryReportIssued):
        return {"summary": e.summary}
    if isinstance(e, ev.MessageSent):
        # Sealed content stays sealed: the worker holds no key to it, and its notice says who may open it.
        return {"message": e.message_id, "subject": e.subject, "text": sealed.shown(e.text)}
    if isinstance(e, ev.StepRecorded):
        out = {"label": e.label, "statute": e.statute, "summary": sealed.shown(e.summary), "subject": e.subject}
        spec = procedure.steps.get(e.step) if procedure else None
        quoted = next((x for x in reversed(s.steps) if spec and x.name == spec.quotes and x.seq < e.seq), None)
        if quoted is not None:
            out |= {
                "quoted": sealed.shown(quoted.summary),
                "quoted_label": quoted.label,
                "quoted_on": quoted.on.date().isoformat(),
            }
        return {k: v for k, v in out.items() if v} | ({"to": ", ".join(e.to)} if e.to else {})
    return {}


def refuse_incoming(s: InvestigationState, follow: frozenset[str], owner: str, source: str, e: ev.Event) -> str | None:
    """Why the record of `owner` must not take in event `e` from the record of `source`, or None.

    The joint record takes from a track only that track's own events; a track takes from the joint record only
    the joint events tracks follow. Every authority an event names must be one of the case's."""
    real = set(s.tracks)
    if owner == CASE:
        if source not in real:
            return f"source {source!r} is not an authority of this case"
        # The joint events (which name no authority) are the joint record's; a track sends its own.
        if "authority" not in type(e).model_fields and e.type in TRACKS_FOLLOW | {"InvestigationOpened"}:
            return f"{e.type} is the joint record's, not a track's to send"
        if getattr(e, "authority", "") not in ("", source):
            return f"{e.type} of {e.authority!r} does not come from the track of {source!r}"
        if isinstance(e, ev.DeadlineSet) and e.owner != source:
            return f"DeadlineSet of {e.owner!r} does not come from the track of {source!r}"
        did = getattr(e, "deadline_id", None)
        if did is not None and not isinstance(e, ev.DeadlineSet):
            d = s.deadlines.get(did)
            if d is None or d.owner != source:
                return f"{e.type}: no deadline {did!r} of {source!r}"
        if isinstance(e, ev.NoticeServed | ev.NoticeFailed) and not set(e.senders) <= {source}:
            return f"{e.type}: a notice of others than {source!r}"
    else:
        if source != CASE:
            return f"a track takes events from the joint record only, not from {source!r}"
        if e.type not in follow:
            return f"{e.type} is not a joint event tracks follow"
    named = [getattr(e, "authority", "")] + list(getattr(e, "authorities", []))
    named += list(getattr(e, "outcomes", {}) or {}) + list(getattr(e, "senders", []))
    if isinstance(e, ev.DeadlineSet) and e.owner != CASE:
        named.append(e.owner)
    unknown = sorted({a for a in named if a and a not in real})
    if unknown:
        return f"{e.type} names {', '.join(unknown)}, not an authority of this case"
    return None
