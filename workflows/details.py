"""The workflow's current details: the Markdown the Temporal UI shows on the case's page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from domain.case import CaseFile
from domain.events import Event, event_name
from domain.procedure import Procedure, role_in
from domain.state import InvestigationState

RECENT = 5


class TrackRow(NamedTuple):
    """One authority's line in a case under a procedure of its own steps (the GDPR's): its part, whether its
    track is open, its latest step and the outcome."""

    authority: str
    role: str
    file: str
    track: str
    last_step: str
    outcome: str


def track_rows(state: InvestigationState, procedure: Procedure | None) -> list[TrackRow]:
    """The authorities of a case of steps, in the procedure's words. A board (the EDPB) that acts only at some
    phases is shown waiting outside them, not as one more authority investigating."""
    rows = []
    lead = state.tracks.get(state.lead)
    for aid, t in state.tracks.items():
        auth = procedure.authorities.get(aid) if procedure else None
        if t.status.value == "closed":
            track = "closed"
        elif auth is not None and auth.phases and state.phase not in auth.phases:
            track = f"acts only in {', '.join(auth.phases)}"
        else:
            track = "open"
        last = next((s for s in reversed(state.steps) if s.by == aid), None)
        step = f"{last.label}, {last.on.date().isoformat()}" if last else "—"
        role = role_in(aid, state.lead, procedure)
        # One decision binds them all: its outcome is said once, on the lead's line.
        outcome = "" if aid != state.lead and lead is not None and t.outcome == lead.outcome else t.outcome
        rows.append(TrackRow(aid, role, state.files.get(aid, ""), track, step, outcome))
    return rows


def current_details(
    state: InvestigationState,
    events: Sequence[Event],
    now: datetime,
    owner: str = "case",
    dropped: int = 0,
    procedure: Procedure | None = None,
) -> str:
    """Markdown for the workflow's page: stage, tracks, open clocks with days left, the last few events. A case
    under a procedure of its own steps (given `procedure`) lists each authority's part and latest step."""
    today = now.date()
    title = "Joint record" if owner == "case" else f"Track of {owner}"
    lines = [
        f"**{title}** · **stage:** {state.stage_name} · "
        + (f"**phase:** {state.phase} · " if state.phase and state.phase != state.stage_name else "")
        + f"**case date:** {today.isoformat()} · **whose move:** {state.whose_move(procedure)}",
        "",
    ]
    if state.phase:
        lines += ["| authority | role | track | latest step | outcome |", "|---|---|---|---|---|"]
        for r in track_rows(state, procedure):
            if owner in ("case", r.authority):
                lines.append(f"| {r.authority} | {r.role} | {r.track} | {r.last_step} | {r.outcome} |")
    else:
        lines += ["| authority | file | track | finding | outcome |", "|---|---|---|---|---|"]
        for aid, t in state.tracks.items():
            if owner in ("case", aid):
                role = " (lead)" if aid == state.lead else ""
                files = state.files.get(aid, "")
                lines.append(f"| {aid}{role} | {files} | {t.status.value} | {t.finding} | {t.outcome} |")
    if state.open_deadlines:
        lines += ["", "| deadline | due | days left | status |", "|---|---|---|---|"]
        for d in state.open_deadlines:
            left = (d.due - today).days
            lines.append(f"| {d.summary} | {d.due.isoformat()} | {left if d.running else '—'} | {d.label} |")
    if state.undelivered:
        lines += ["", "**Undelivered notices:** " + ", ".join(n.notice_id for n in state.undelivered)]
    if dropped:
        lines += ["", f"**Signals dropped:** {dropped} (unauthenticated, replayed or not this record's to take in)"]
    lines += ["", "**Recent events:**", ""]
    for e in events[-RECENT:]:
        lines.append(f"- {e.on.date().isoformat()} {event_name(e)} (by {e.by})")
    return "\n".join(lines)


def static_summary(case: CaseFile, procedure: Procedure) -> str:
    """One line for the workflow list. A person's name stays out: user metadata is not encrypted."""
    who = case.respondent.name if case.respondent.kind == "organisation" else f"a natural person ({case.slug})"
    parties = ", ".join(procedure.authority(a).short + (" (lead)" if a == case.lead else "") for a in case.authorities)
    kind = "Joint investigation" if len(case.authorities) > 1 else "Investigation"
    return f"{kind} of {who}: {parties}"


def static_details(case: CaseFile, procedure: Procedure) -> str:
    lines = [f"**{case.title}** · procedure `{procedure.id}` · opened {case.opened.isoformat()}", ""]
    lines += ["| authority | law | file |", "|---|---|---|"]
    for aid in case.authorities:
        auth = procedure.authority(aid)
        lines.append(f"| {auth.short} | {auth.cite} | {case.files.get(aid, '')} |")
    lines += ["", "**Issues**", ""]
    lines += [f"{i}. {issue.title}" for i, issue in enumerate(case.issues, 1)]
    if case.linked:
        lines += ["", "**Linked cases:** " + ", ".join(f"investigation-{s}" for s in case.linked)]
    return "\n".join(lines)
