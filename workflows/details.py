"""The workflow's current details: the Markdown the Temporal UI shows on the case's page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.case import CaseFile
from domain.events import Event, event_name
from domain.procedure import Procedure
from domain.state import InvestigationState

RECENT = 5


def current_details(
    state: InvestigationState, events: Sequence[Event], now: datetime, owner: str = "case", dropped: int = 0
) -> str:
    """Markdown for the workflow's page: stage, tracks, open clocks with days left, the last few events."""
    today = now.date()
    title = "Joint record" if owner == "case" else f"Track of {owner}"
    lines = [
        f"**{title}** · **stage:** {state.stage.value if state.stage else 'opening'} · "
        + (f"**phase:** {state.phase} · " if state.phase else "")
        + f"**case date:** {today.isoformat()} · **whose move:** {state.awaiting_party}",
        "",
        "| authority | file | track | finding | outcome |",
        "|---|---|---|---|---|",
    ]
    for aid, t in state.tracks.items():
        if owner not in ("case", aid):
            continue
        role = " (lead)" if aid == state.lead else ""
        lines.append(f"| {aid}{role} | {state.files.get(aid, '')} | {t.status.value} | {t.finding} | {t.outcome} |")
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
