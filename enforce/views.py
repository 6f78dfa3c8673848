"""How investigations look to people: Rich tables and columns for the terminal.

Whatever a party or a case file wrote goes to the terminal through `plain`: a Rich `Text`, so `[/]` or
`[link=...]` is shown rather than read as markup, with control characters (an escape sequence, a bell, a
carriage return) shown as `\\x1b`, never sent to the terminal.

The domain is imported where a view needs it, not with this module: every command imports `plain`, and
`enforce --help` or `enforce list` needs none of the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from domain.events import Event
    from domain.procedure import Procedure
    from domain.state import DeadlineState, InvestigationState
    from workflows.messages import StateView


def plain(value: object, style: str = "") -> Text:
    """Party text for the terminal: shown as written, never read as markup or sent as control characters."""
    from activities.markdown import visible

    return Text(visible("" if value is None else str(value)), style=style)


def columns(headers: Sequence[str], rows: Sequence[Sequence[Text]], widest: Sequence[int], gap: int = 2) -> Text:
    """Rows of cells laid out in aligned columns under a bold header line: one `Text`, one line per row.

    For the long lists (`enforce list` prints up to a page of 200 cases): a Rich `Table` measures and renders
    every cell of every row, ~0.15 s for 200 rows, where this is ~0.02 s. A cell stays on its line: a line
    break or tab in it is shown as `\\n` or `\\t`. A cell wider than its column's `widest` (cells, as Rich
    measures them) is cut with an ellipsis, so one long value (a workflow id or search attribute someone set
    by hand) cannot push every row off the screen."""
    body = [[_fitted(c, w) for c, w in zip(row, widest, strict=True)] for row in rows]
    widths = [max([len(h), *(row[i].cell_len for row in body)]) for i, h in enumerate(headers)]
    out = Text()
    out.append(" ".join(h.ljust(w + gap - 1) for h, w in zip(headers, widths, strict=True)).rstrip(), style="bold")
    for row in body:
        out.append("\n")
        last = len(row) - 1
        for i, (cell, width) in enumerate(zip(row, widths, strict=True)):
            out.append_text(cell)
            if i < last:
                out.append(" " * (width - cell.cell_len + gap))
    return out


def _fitted(cell: Text, widest: int) -> Text:
    if "\n" in cell.plain or "\t" in cell.plain:
        cell = Text(cell.plain.replace("\n", "\\n").replace("\t", "\\t"), style=cell.style)
    if cell.cell_len > widest:
        cell = cell.copy()
        cell.truncate(widest, overflow="ellipsis")
    return cell


def _days_left(d: DeadlineState, today: date) -> str:
    if not d.running:
        return "paused" if d.status == "paused" else ""
    left = (d.due - today).days
    return f"{left} days" if left >= 0 else f"{-left} days late"


def deadlines_table(
    deadlines: Sequence[DeadlineState], today: date | None, title: str, late: Mapping[str, Event] | None = None
) -> Table:
    """Clocks with days left (`today`) or their status; `late`: what was done after a clock ran out
    (`domain.policy.acted_late`), shown with the day it was done."""
    from domain.deadlines import rule_text
    from domain.policy import status_with_lateness

    table = Table(title=title, title_justify="left")
    for col in ("deadline", "authority", "kind", "due", "days left" if today else "status", "rule"):
        table.add_column(col)
    for d in deadlines:
        last = _days_left(d, today) if today else status_with_lateness(d, (late or {}).get(d.deadline_id))
        table.add_row(
            plain(d.deadline_id),
            plain(d.authority),
            plain(d.kind),
            d.due.isoformat(),
            plain(last),
            plain(rule_text(d.summary, d.statute)),
        )
    return table


def tracks_table(state: InvestigationState, procedure: Procedure | None = None) -> Table:
    """Each authority's track. Under a procedure of its own steps (the GDPR's), each authority's part in the
    procedure's words and its latest step, not the concurrence and finding of a joint investigation."""
    if state.phase:
        from workflows.details import track_rows

        table = Table(title="Authorities", title_justify="left")
        for col in ("authority", "role", "file", "track", "latest step", "outcome"):
            table.add_column(col)
        for r in track_rows(state, procedure):
            table.add_row(*(plain(x) for x in r))
        return table
    table = Table(title="Tracks", title_justify="left")
    for col in ("authority", "file", "track", "concurrence", "finding", "outcome"):
        table.add_column(col)
    for aid, t in state.tracks.items():
        name = f"{aid} (lead)" if aid == state.lead else aid
        table.add_row(
            plain(name),
            plain(state.files.get(aid, "")),
            t.status.value,
            plain(t.concurrence),
            plain(t.finding),
            plain(t.outcome),
        )
    return table


def procedure_of(state: InvestigationState) -> Procedure | None:
    """The shipped procedure a case runs under, in its version of the case's opening (None for one kept beside
    its case files, which this machine may not have: the views then do without its words)."""
    from domain.errors import DataError
    from domain.procedure import load_procedure

    try:
        return load_procedure(state.procedure, on=state.opened)
    except (KeyError, DataError):
        return None


def print_state(console: Console, view: StateView) -> None:
    s = view.state
    today = view.clock.date()
    console.print(plain(s.title, "bold") + plain(f"  ({s.slug})"))
    head = Table.grid(padding=(0, 2))
    head.add_row("stage", plain(s.stage_name))
    if s.phase and s.phase != s.stage_name:
        # A procedure of its own steps: where it is, and its last step in its own words.
        head.add_row("phase", plain(s.phase))
    if s.steps:
        last = s.steps[-1]
        head.add_row("last step", plain(f"{last.label} ({last.statute}), {last.on.date().isoformat()}"))
    head.add_row("procedure", plain(s.procedure))
    head.add_row("respondent", plain(s.respondent.name if s.respondent else ""))
    head.add_row("opened", s.opened.isoformat() if s.opened else "")
    head.add_row("case date", today.isoformat())
    head.add_row("whose move", plain(s.whose_move(procedure_of(s))))
    if s.linked:
        head.add_row("linked", plain(", ".join(f"investigation-{slug}" for slug in s.linked)))
    console.print(head)
    console.print(tracks_table(s, procedure_of(s)))
    if s.recommendations:
        recs = Table(title="Recommendations", title_justify="left")
        for col in ("id", "recommendation", "answer", "verified"):
            recs.add_column(col)
        for r in s.recommendations:
            answer = r.answer + (" (deemed)" if r.deemed else "")
            recs.add_row(plain(r.id), plain(r.text), plain(answer), "yes" if r.verified else "")
        console.print(recs)
    console.print(deadlines_table(s.open_deadlines, today, "Open deadlines"))
    if s.evidence:
        evidence = Table(title="Evidence", title_justify="left")
        for col in ("id", "held by", "description", "shared with", "purpose"):
            evidence.add_column(col)
        for x in s.evidence:
            evidence.add_row(
                plain(x.evidence_id),
                plain(x.authority),
                plain(x.description),
                plain(", ".join(x.shared_with)),
                plain(x.purpose),
            )
        console.print(evidence)
    if s.messages:
        messages = Table(title="Messages between authorities", title_justify="left")
        for col in ("id", "date", "from", "to", "subject"):
            messages.add_column(col)
        for m in s.messages:
            messages.add_row(
                plain(m.message_id), m.on.date().isoformat(), plain(m.sender), plain(", ".join(m.to)), plain(m.subject)
            )
        console.print(messages)

    notices = Table(title="Notices", title_justify="left")
    for col in ("notice", "kind", "to", "status", "served", "section"):
        notices.add_column(col)
    for n in s.notices:
        if n.status == "served":
            status = Text("served", "green")
        else:
            status = Text("UNDELIVERED", "red") + plain(f": {n.reason}")
        served = n.delivered_at.date().isoformat() if n.delivered_at else ""
        notices.add_row(plain(n.notice_id), plain(n.kind), plain(n.to.name), status, served, plain(n.section))
    console.print(notices)
    if s.undelivered:
        console.print(f"[red]{len(s.undelivered)} notice(s) undelivered[/red]: the case officer must act.")
    console.print(f"{view.events} events")


def event_line(e: Event) -> str:
    from domain.events import StepRecorded, event_name

    detail = ""
    for attr in ("deadline_id", "authority", "kind", "order", "recommendation", "outcome", "notice_id"):
        value = getattr(e, attr, None)
        if value:
            detail = f"{attr.replace('_id', '')} {value}"
            break
    if isinstance(e, StepRecorded):
        detail = " ".join(x for x in (e.label, e.subject) if x)
    return f"{e.seq:>4}  {e.on.date().isoformat()}  {event_name(e):<26} by {e.by:<10} {detail}".rstrip()


def print_timeline(
    console: Console, events: Sequence[Event], content: Callable[[Event], str | None] | None = None
) -> None:
    """One line per event; `content` gives the sealed content an event carries as this reader sees it (opened,
    or a marker), printed on a line of its own below it."""
    for e in events:
        console.print(plain(event_line(e)), highlight=False)
        shown = content(e) if content else None
        if shown is not None:
            console.print(plain("      " + shown), highlight=False)
