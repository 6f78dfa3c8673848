"""The case's paperwork: `enforce notices` (what was served, how, with its hash) and `enforce report` (the joint
report of findings, in the structure of the real one, PIPEDA Findings #2021-001).

`render_report(state, events, procedure, fmt)` needs no server: the CLI feeds it the workflow's `state` and
`events` queries, a simulation its result.

The templates and the domain are loaded when a report or the notices are made, not when the `enforce`
command starts.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from enforce.views import plain

if TYPE_CHECKING:
    import jinja2
    from rich.table import Table

    from domain import events as ev
    from domain.procedure import AuthorityDef, Procedure
    from domain.state import InvestigationState, NoticeRecord

TEMPLATES = Path(__file__).parent / "templates"
FORMATS = ("md", "html")
RESPONDENT = "respondent"
SYSTEM = "system"
# Between the authorities only: not in a report of findings.
INTERNAL = ("EvidenceRecorded", "EvidenceShared", "MessageSent", "FindingsCommented")
INTERNAL_NOTICES = ("draft-findings", "message")
NUMBERS = dict(enumerate(["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]))


class ReportError(Exception):
    pass


@functools.cache
def _md_env() -> jinja2.Environment:
    """The Markdown report's: every value escaped for Markdown (activities.markdown, as the notices are)."""
    from activities import markdown as md

    return md.environment(TEMPLATES)


@functools.cache
def _html_env() -> jinja2.Environment:
    """Its HTML page's: HTML-escaped."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined, autoescape=True
    )


# ---------------------------------------------------------------- reading the record


def _day(value: datetime | date | None) -> str:
    if value is None:
        return ""
    return (value.date() if isinstance(value, datetime) else value).isoformat()


class _Names:
    def __init__(self, procedure: Procedure | None, state: InvestigationState):
        self.procedure = procedure
        self.state = state

    def auth(self, aid: str) -> AuthorityDef | None:
        if self.procedure is None:
            return None
        return self.procedure.authorities.get(aid)

    def short(self, party: str) -> str:
        if party == RESPONDENT:
            return self.state.respondent.name if self.state.respondent else "the respondent"
        if party == SYSTEM:
            return "(record)"
        auth = self.auth(party)
        return auth.short if auth else party

    def name(self, aid: str) -> str:
        auth = self.auth(aid)
        return auth.name if auth else aid

    def shorts(self, parties: Sequence[str]) -> str:
        return ", ".join(self.short(p) for p in parties)


def _kind(kind: str) -> str:
    return kind.replace("-", " ")


def describe(e: ev.Event, names: _Names, deadlines: dict[str, str]) -> str:
    """One line for the timeline. An event type this function does not know still gets a line."""
    from domain import sealed
    from domain.deadlines import rule_text

    d = lambda did: deadlines.get(did, did)  # noqa: E731
    a = lambda: names.short(getattr(e, "authority", ""))  # noqa: E731
    match e.type:
        case "InvestigationOpened":
            return (
                f"Joint investigation of {e.respondent.name} opened by {names.shorts(e.authorities)}"
                f" (lead: {names.short(e.lead)})"
            )
        case "NoticeServed":
            return (
                f"{_kind(e.kind).capitalize()} served on {e.to.name} by {e.channel}"
                + (f" under {e.section}" if e.section else "")
                + f" ({e.notice_id}, SHA-256 {e.sha256[:12]})"
            )
        case "NoticeFailed":
            return f"{_kind(e.kind).capitalize()} to {e.to.name} NOT DELIVERED ({e.channel}): {e.reason}"
        case "InformationRequested":
            return f"{a()} requests information ({e.request_id}): " + "; ".join(e.items)
        case "InformationProvided":
            return f"Information provided for {e.request_id}" + (f": {e.summary}" if e.summary else "")
        case "VoluntaryMeasureTaken":
            return f"Voluntary measure: {e.description}"
        case "PreliminaryReportIssued":
            return f"Preliminary report issued: {e.summary}"
        case "RepresentationsReceived":
            return f"Representations received: {e.summary}"
        case "FindingsDrafted":
            return f"Draft findings ({e.finding}) circulated to the co-authorities"
        case "FindingsConcurred":
            return f"{a()} concurs in the draft findings"
        case "FindingsDissented":
            return f"{a()} dissents ({e.finding}): {e.reasons}"
        case "FindingsIssued":
            return "Findings issued: " + "; ".join(f"{names.short(k)} {v}" for k, v in e.findings.items())
        case "RecommendationsIssued":
            return "Recommendations issued: " + ", ".join(r.id for r in e.recommendations)
        case "RecommendationAnswered":
            return f"Recommendation {e.recommendation} {e.answer}" + (
                " (deemed: no answer in time)" if e.deemed else ""
            )
        case "DeadlineSet":
            return f"Deadline set: {rule_text(e.summary, e.statute)}, due {e.due.isoformat()}"
        case "DeadlineExtended":
            span = f"from {e.previous.isoformat()} to {e.due.isoformat()}"
            return f"Deadline extended: {d(e.deadline_id)}, {span}: {e.reason}"
        case "DeadlinePaused":
            return f"Deadline paused: {d(e.deadline_id)} ({e.cause}), {e.remaining} days remaining"
        case "DeadlineResumed":
            return f"Deadline resumed: {d(e.deadline_id)}, now due {e.due.isoformat()}"
        case "DeadlineMet":
            return f"Deadline met: {d(e.deadline_id)}"
        case "DeadlineMissed":
            return f"Deadline missed: {d(e.deadline_id)} ({e.consequence})"
        case "DeadlineCancelled":
            return f"Deadline cancelled: {d(e.deadline_id)} ({e.reason})"
        case "EscalationStarted":
            return f"Escalation by {names.shorts(e.authorities)}: {e.reason}"
        case "InquiryOpened":
            return f"{a()} opens an inquiry"
        case "OrderIssued":
            return f"{a()} issues order {e.order}" + (f": {e.terms}" if e.terms else "")
        case "JudicialReviewFiled":
            what = "Appeal" if e.kind == "appeal" else "Application for judicial review"
            return f"{what} of the {a()}'s order filed in the {e.court}"
        case "StayGranted":
            order = f"order {e.order}" if e.order else "order"
            return f"Stay of the {a()}'s {order} granted by the {e.court}"
        case "CourtDecisionRecorded":
            return f"{e.court}: {e.outcome}" + (f" ({e.citation})" if e.citation else "") + f" ({a()})"
        case "CourtApplicationFiled":
            return f"{a()} applies to the {e.court}"
        case "ComplianceAgreementSigned":
            return f"{a()} signs a compliance agreement: {e.terms}"
        case "ComplianceVerified":
            return f"{a()} verifies compliance with {e.subject}"
        case "NonComplianceFound":
            return f"{a()}: {e.subject} not complied with ({e.reason})"
        case "TrackClosed":
            return f"{a()} closes its file: {e.outcome}"
        case "InvestigationClosed":
            return "Investigation closed"
        case "StepRecorded":
            what = e.label[:1].upper() + e.label[1:] + (f" {e.subject}" if e.subject else "")
            to = f" to {names.shorts(e.to)}" if e.to else ""
            summary = sealed.shown(e.summary)
            return what + to + (f" ({e.statute})" if e.statute else "") + (f": {summary}" if summary else "")
        case "DeadlineElapsed":
            return f"Period ended: {d(e.deadline_id)} ({e.consequence})"
    fields = e.model_dump(mode="json", exclude={"seq", "on", "by", "type"})
    # Sealed content (evidence, messages) is shown as whom it is sealed for: a report is not read with a key.
    details = ", ".join(
        f"{k} {sealed.shown(v) if isinstance(v, str) else v}"
        for k, v in fields.items()
        if isinstance(v, str | int) and v not in ("", None)
    )
    return f"{e.type}" + (f": {details}" if details else "")


# ---------------------------------------------------------------- the report


def _deadline_history(did: str, events: Sequence[ev.Event], late: ev.Event | None = None) -> list[str]:
    out = []
    for e in events:
        if getattr(e, "deadline_id", None) != did or not e.type.startswith("Deadline"):
            continue
        on = _day(e.on)
        match e.type:
            case "DeadlineSet":
                out.append(f"set on {on}, due {e.due.isoformat()}")
            case "DeadlineExtended":
                out.append(f"extended on {on} to {e.due.isoformat()} ({e.reason})")
            case "DeadlinePaused":
                out.append(f"paused on {on} ({e.cause}) with {e.remaining} days remaining")
            case "DeadlineResumed":
                out.append(f"resumed on {on}, due {e.due.isoformat()}")
            case "DeadlineMet":
                out.append(f"met on {on}")
            case "DeadlineMissed":
                out.append(f"missed ({on})")
            case "DeadlineCancelled":
                out.append(f"cancelled on {on} ({e.reason})")
            case "DeadlineElapsed":
                out.append(f"ended ({on}): {e.consequence}")
    if late is not None:
        out.append(f"done late on {_day(late.on)}")
    return out


def _notice_status(n: NoticeRecord) -> str:
    return "served" if n.status == "served" else f"UNDELIVERED: {n.reason}"


def _authority_steps(aid: str, events: Sequence[ev.Event], names: _Names, deadlines: dict[str, str]) -> list[dict]:
    """What the authority did after the findings, and what courts did with it."""
    kinds = {
        "InquiryOpened",
        "OrderIssued",
        "JudicialReviewFiled",
        "StayGranted",
        "CourtDecisionRecorded",
        "CourtApplicationFiled",
        "ComplianceAgreementSigned",
        "ComplianceVerified",
        "NonComplianceFound",
    }
    out = []
    for e in events:
        if e.type in kinds and getattr(e, "authority", "") == aid:
            out.append({"on": _day(e.on), "text": describe(e, names, deadlines)})
        elif e.type == "EscalationStarted" and aid in e.authorities:
            out.append({"on": _day(e.on), "text": f"Escalation under its own Act ({e.reason})"})
    return out


def report_context(
    state: InvestigationState, events: Sequence[ev.Event], procedure: Procedure | None
) -> dict[str, Any]:
    from domain import events as ev
    from domain import sealed
    from domain.policy import acted_late, status_with_lateness

    names = _Names(procedure, state)
    if not state.slug:
        raise ReportError("the record is empty: no investigation was opened")
    deadline_names = {d.deadline_id: d.summary for d in state.deadlines.values()}
    answered_on: dict[str, str] = {}
    for e in events:
        if e.type == "RecommendationAnswered":
            answered_on[e.recommendation] = _day(e.on)
    as_of = _day(events[-1].on) if events else _day(state.opened)

    authorities = []
    for aid in state.authorities:
        auth = names.auth(aid)
        track = state.tracks.get(aid)
        authorities.append(
            {
                "id": aid,
                "name": names.name(aid),
                "short": names.short(aid),
                "statute": auth.statute if auth else "",
                "cite": auth.cite if auth else "",
                "file": state.files.get(aid, ""),
                "role": _role(aid, state, procedure),
                "finding": track.finding if track else "",
                "concurrence": track.concurrence if track else "none",
                "dissent": track.dissent if track else "",
                "comments": list(getattr(track, "comments", []) or []),
                "status": track.status.value if track else "",
                "outcome": track.outcome if track else "",
                "orders": [
                    {
                        "order": o.order,
                        "on": o.on.isoformat(),
                        "terms": o.terms.rstrip(".") + "." if o.terms else "",
                        "comply_within_days": o.comply_within_days,
                        "status": o.status,
                    }
                    for o in (track.orders if track else [])
                ],
                "steps": _authority_steps(aid, events, names, deadline_names),
            }
        )
    lead = next((a for a in authorities if a["id"] == state.lead), authorities[0] if authorities else {"short": ""})
    # Under a procedure of its own steps one decision binds every authority: an outcome the same as the lead's is
    # said once, with the others named after it.
    same = [a for a in authorities if a is not lead and lead.get("outcome") and a["outcome"] == lead["outcome"]]
    outcomes = [{"who": a["short"], "role": a["role"], "outcome": a["outcome"]} for a in authorities if a not in same]
    if same:
        outcomes.append(
            {
                "who": ", ".join(a["short"] for a in same),
                "role": "",
                "outcome": f"the same decision as the {lead['role']}'s",
            }
        )

    recommendations = [
        {
            "id": r.id,
            "text": r.text,
            "answer": r.answer,
            "deemed": r.deemed,
            "verified": r.verified,
            "answered_on": answered_on.get(r.id, ""),
        }
        for r in state.recommendations
    ]
    answers = {r.answer for r in state.recommendations}
    respondent = state.respondent.name if state.respondent else "the respondent"
    response = ""
    if answers == {"refused"}:
        response = (
            f"{respondent} did not accept the recommendations. Each authority then pursued the other actions "
            "available under its own Act (below)."
        )
    elif answers == {"accepted"}:
        response = f"{respondent} accepted the recommendations; their implementation is monitored."
    elif "pending" in answers:
        response = f"{respondent} has not answered every recommendation yet."

    findings = {a["finding"] for a in authorities if a["finding"]}
    count = len(state.authorities)
    overview = (
        f"{NUMBERS.get(count, str(count)).capitalize()} privacy authorit{'ies' if count != 1 else 'y'} "
        f"({names.shorts(state.authorities)}) investigated {respondent} jointly, each under its own law, "
        f"from {_day(state.opened)}; the {names.short(state.lead)} led. "
    )
    if findings:
        overview += f"The authorities found the matter {' / '.join(sorted(findings))}. "
    if recommendations:
        n = len(recommendations)
        overview += f"They made {NUMBERS.get(n, str(n))} recommendation{'s' if n != 1 else ''}. "
    overview += f"As of {as_of} the investigation is {state.stage.value if state.stage else 'opening'}."

    measures = [{"on": _day(e.on), "text": e.description} for e in events if e.type == "VoluntaryMeasureTaken"]
    requested_on = {e.request_id: _day(e.on) for e in events if e.type == "InformationRequested"}
    requests = [
        {
            "id": r.request_id,
            "authority": names.short(r.authority),
            # Not `items`: in a template `r.items` is the dict's method.
            "asked": r.items,
            "provided": r.provided,
            "on": requested_on.get(r.request_id, ""),
        }
        for r in state.requests
    ]
    preliminary = [
        {"what": "Preliminary report" if e.type == "PreliminaryReportIssued" else "Representations", "on": _day(e.on)}
        | {"text": e.summary}
        for e in events
        if e.type in ("PreliminaryReportIssued", "RepresentationsReceived")
    ]

    deadlines = sorted(state.deadlines.values(), key=lambda d: (d.trigger, d.deadline_id))
    late = acted_late(procedure, deadlines, events) if procedure is not None else {}
    deadline_rows = [
        {
            "summary": d.summary,
            "authority": names.short(d.authority),
            "statute": d.statute,
            "trigger": d.trigger.isoformat(),
            "due": d.due.isoformat(),
            "label": status_with_lateness(d, late.get(d.deadline_id)),
            "history": _deadline_history(d.deadline_id, events, late.get(d.deadline_id)),
        }
        for d in deadlines
    ]
    notices = [
        {
            "date": _day(n.delivered_at or n.on),
            "kind": _kind(n.kind),
            "notice_id": n.notice_id,
            "senders": names.shorts(n.senders),
            "to": n.to.name,
            "channel": n.channel,
            "section": n.section,
            "status": _notice_status(n),
            "sha256": n.sha256,
        }
        for n in state.notices
        if n.kind not in INTERNAL_NOTICES
    ]
    timeline = [
        {"on": _day(e.on), "by": names.short(e.by), "text": describe(e, names, deadline_names)}
        for e in events
        if e.type not in INTERNAL
        and not (e.type in ("NoticeServed", "NoticeFailed") and getattr(e, "kind", "") in INTERNAL_NOTICES)
    ]
    opening_sections = "; ".join(
        f"{names.auth(a).cite} {names.auth(a).sections['opening']}"
        for a in state.authorities
        if names.auth(a) and names.auth(a).sections.get("opening")
    )
    if procedure is not None and procedure.steps:
        overview = _steps_overview(state, events, procedure, names, as_of)
    return {
        "terms": _terms(procedure),
        "decisions": [
            {
                "on": _day(e.on),
                "by": names.short(e.by),
                "label": e.label[:1].upper() + e.label[1:] + (f" {e.subject}" if e.subject else ""),
                "statute": e.statute,
                "text": sealed.shown(e.summary),
            }
            for e in events
            if isinstance(e, ev.StepRecorded)
        ],
        "phase": state.phase,
        "slug": state.slug,
        "title": state.title,
        "procedure_title": procedure.title if procedure else state.procedure,
        "respondent_name": respondent,
        "respondent_kind": state.respondent.kind if state.respondent else "",
        "as_of": as_of,
        "stage": state.stage.value if state.stage else "opening",
        "authorities": authorities,
        "lead": lead,
        "overview": overview,
        "findings_summary": state.findings_summary,
        "opened": _day(state.opened),
        "opened_by": names.shorts(state.authorities),
        "opening_sections": opening_sections,
        "linked": state.linked,
        "measures": measures,
        "requests": requests,
        "preliminary": preliminary,
        "issues": state.issues,
        "any_finding": bool(findings),
        "recommendations": recommendations,
        "response": response,
        "deadlines": deadline_rows,
        "outcomes": outcomes,
        "notices": notices,
        "timeline": timeline,
        "events_count": len(events),
    }


def _terms(procedure: Procedure | None) -> dict[str, str]:
    from domain.procedure import terms_of

    return terms_of(procedure)


def _role(aid: str, state: InvestigationState, procedure: Procedure | None) -> str:
    from domain.procedure import role_in

    return role_in(aid, state.lead, procedure)


def _steps_overview(
    state: InvestigationState, events: Sequence[ev.Event], procedure: Procedure, names: _Names, as_of: str
) -> str:
    """The overview of a case under a procedure of its own steps, in that procedure's words."""
    from domain import events as ev

    terms = _terms(procedure)
    respondent = state.respondent.name if state.respondent else f"the {terms['respondent']}"
    concerned = [a for a in state.authorities if _role(a, state, procedure) == terms["concerned"]]
    text = (
        f"The {names.short(state.lead)}, as {terms['lead']}, investigated {respondent} ({terms['respondent']}) "
        f"under the {procedure.title} from {_day(state.opened)}"
    )
    if concerned:
        many = terms.get("concerned_plural", terms["concerned"] + "s") if len(concerned) > 1 else terms["concerned"]
        text += f", with {names.shorts(concerned)} as {many}"
    text += ". "
    steps = [e for e in events if isinstance(e, ev.StepRecorded)]
    if steps:
        last = steps[-1]
        text += f"The last step recorded is the {last.label} of {_day(last.on)}"
        text += f" ({last.statute}). " if last.statute else ". "
    stage = state.stage.value if state.stage else "opening"
    where = "closed" if stage == "closed" else f"in {state.phase or procedure.first_phase}"
    return text + f"As of {as_of} the case is {where}."


def render_report(
    state: InvestigationState, events: Sequence[ev.Event], procedure: Procedure | None, fmt: str = "md"
) -> str:
    """The joint report of findings as Markdown or a standalone HTML page (made from the same Markdown)."""
    from markupsafe import Markup

    from activities import markdown as md

    if fmt not in FORMATS:
        raise ReportError(f"--format: unknown format {fmt!r} (use md or html)")
    # A procedure of its own steps reports them, in its own words.
    template = "report-steps.md.j2" if procedure is not None and procedure.steps else "report.md.j2"
    markdown = _md_env().get_template(template).render(**report_context(state, events, procedure))
    if fmt == "md":
        return markdown
    return (
        _html_env()
        .get_template("report.html.j2")
        .render(title=md.visible(f"{_terms(procedure)['report']}: {state.title}"), body=Markup(md.to_html(markdown)))
    )


def write_atomic(path: Path, text: str) -> None:
    """All or nothing: a temporary file beside the target, flushed, then renamed over it."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- notices


def notice_rows(state: InvestigationState) -> list[dict[str, Any]]:
    return [
        {
            "notice_id": n.notice_id,
            "kind": n.kind,
            "senders": n.senders,
            "to": n.to.id,
            "to_name": n.to.name,
            "channel": n.channel,
            "address": n.to.email if n.channel == "smtp" else "",
            "status": n.status,
            "reason": n.reason,
            "on": n.on.isoformat(),
            "served": n.delivered_at.isoformat() if n.delivered_at else None,
            "section": n.section,
            "message_id": n.message_id,
            "sha256": n.sha256,
            "document": n.document,
        }
        for n in state.notices
    ]


def notices_table(state: InvestigationState) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"Notices of {state.slug}", title_justify="left")
    for col in ("notice", "kind", "to", "channel", "status", "served", "section", "sha256", "document"):
        table.add_column(col, overflow="fold", no_wrap=col in ("notice", "served", "sha256", "document"))
    for n in state.notices:
        status = Text("served") if n.status == "served" else Text("UNDELIVERED", "red") + plain(f": {n.reason}")
        table.add_row(
            plain(n.notice_id),
            plain(n.kind),
            plain(n.to.id),
            plain(n.channel + (f" {n.to.email}" if n.channel == "smtp" and n.to.email else "")),
            status,
            _day(n.delivered_at),
            plain(n.section),
            plain(n.sha256[:12]),
            plain(n.document),
        )
    return table


# ---------------------------------------------------------------- commands


def _failure(message: str, code: int = 1) -> Exception:
    """One red line on stderr, and the exit status it names. (Not enforce.main's Failure: run as
    `python -m enforce.main`, that module is `__main__`, and an import would make a second Failure class.)"""
    Console(stderr=True, soft_wrap=True).print(plain("error:", "red") + plain(f" {message}"), highlight=False)
    return typer.Exit(code)


async def _read(slug: str, with_events: bool):
    """The joint record's state and events: the event store's copy and the live record's newer events; a case
    whose workflows are gone is read from the store alone (enforce.record)."""
    from temporalio.service import RPCError

    from enforce import record, settings
    from enforce.connect import Unreachable, connect
    from workflows.messages import workflow_id

    unreachable = ""
    try:
        client = await connect()
    except Unreachable as e:
        client, unreachable = None, str(e)
    try:
        view = await record.state(client, slug)
        events = (await record.read(client, slug)).events if with_events else []
    except record.NotFound:
        where = settings.temporal_address()
        raise _failure(
            unreachable or f"no investigation {slug!r} ({workflow_id(slug)}) in the event store or on {where}"
        ) from None
    except RPCError as e:
        raise _failure(f"cannot read {workflow_id(slug)}: {e.message}") from None
    return view, events


def _document_text(state: InvestigationState, notice_id: str) -> str:
    """A served notice's Markdown from the document store (sealed at rest: opened with the codec's key set)."""
    import hashlib

    from enforce import codec

    found = [n for n in state.notices if n.notice_id == notice_id]
    if not found:
        raise _failure(f"--document: no notice {notice_id!r} in {state.slug} (see `enforce notices {state.slug}`)", 2)
    n = found[0]
    if not n.document:
        raise _failure(f"--document: notice {notice_id!r} was not served, so no document was filed")
    try:
        data = codec.read_file(Path(n.document))
    except OSError as e:
        raise _failure(f"--document: cannot read {n.document}: {e.strerror or e}") from None
    except codec.CodecKeyError as e:
        raise _failure(f"--document: {e}") from None
    if hashlib.sha256(data).hexdigest() != n.sha256:
        raise _failure(f"--document: {n.document} does not match the SHA-256 the record holds ({n.sha256[:12]}...)")
    return data.decode()


def register(app: typer.Typer) -> None:
    """Add `notices` and `report` to the `enforce` command."""

    @app.command()
    def notices(
        slug: Annotated[str, typer.Argument(help="The case's slug, e.g. clearview-ai.")],
        output: Annotated[
            str, typer.Option("--output", "-o", help="`table` for people, `json` for scripts.")
        ] = "table",
        document: Annotated[
            str | None,
            typer.Option(
                "--document",
                help="Print this notice's document of record (its Markdown), opened from the sealed document store "
                "and checked against the hash the record holds.",
            ),
        ] = None,
    ) -> None:
        """List a case's notices: served (with channel, date, section, hash and document) or UNDELIVERED.

        Example: `enforce notices clearview-ai -o json`, `enforce notices clearview-ai --document <notice id>`
        """
        import asyncio

        if output not in ("table", "json"):
            raise _failure(f"--output: unknown output {output!r} (use table or json)", 2)
        view, _ = asyncio.run(_read(slug, with_events=False))
        state = view.state
        if document is not None:
            sys.stdout.write(_document_text(state, document))
            return
        if output == "json":
            sys.stdout.write(json.dumps(notice_rows(state), indent=2) + "\n")
            return
        out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 250)
        out.print(notices_table(state))
        undelivered = len(state.undelivered)
        summary = f"{len(state.notices)} notices, {undelivered} undelivered"
        if view.pending:
            summary += f", {view.pending} being served now"
        out.print(plain(summary), style="red" if undelivered else None)

    @app.command()
    def report(
        slug: Annotated[str, typer.Argument(help="The case's slug, e.g. clearview-ai.")],
        fmt: Annotated[
            str | None, typer.Option("--format", "-f", help="`md` or `html` (default: from --out's suffix, else md).")
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="The file to write (atomically); default: standard output.")
        ] = None,
    ) -> None:
        """Render the joint report of findings: parties and file numbers, issues, each authority's finding,
        recommendations and answers, outcomes, deadlines and a timeline.

        Example: `enforce report clearview-ai --format html --out clearview.html`
        """
        import asyncio

        from domain.procedure import load_procedure

        if fmt is None:
            fmt = "html" if out is not None and out.suffix.lower() in (".html", ".htm") else "md"
        if fmt not in FORMATS:
            raise _failure(f"--format: unknown format {fmt!r} (use md or html)", 2)
        view, events = asyncio.run(_read(slug, with_events=True))
        state = view.state
        try:
            procedure = load_procedure(state.procedure, on=state.opened)
        except Exception:
            procedure = None  # a procedure kept beside its case files: the report uses the authorities' ids
        try:
            text = render_report(state, events, procedure, fmt)
        except ReportError as e:
            raise _failure(str(e)) from None
        if out is None:
            sys.stdout.write(text)
            return
        try:
            write_atomic(out, text)
        except OSError as e:
            raise _failure(f"--out: cannot write {out}: {e.strerror or e}") from None
        Console(stderr=True).print(plain(f"Wrote {out} ({fmt}, {len(events)} events)"), highlight=False)
