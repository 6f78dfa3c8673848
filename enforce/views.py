"""How investigations look to people: Rich tables for the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from workflows.messages import StateView


def print_state(console: Console, view: StateView) -> None:
    s = view.state
    console.print(f"[bold]{s.title}[/bold]  ({s.slug})")
    head = Table.grid(padding=(0, 2))
    head.add_row("stage", s.stage.value if s.stage else "opening")
    head.add_row("procedure", s.procedure)
    head.add_row("respondent", s.respondent.name if s.respondent else "")
    head.add_row("opened", s.opened.isoformat() if s.opened else "")
    head.add_row("case date", view.clock.date().isoformat())
    head.add_row("whose move", s.awaiting_party)
    head.add_row("authorities", ", ".join(f"{a} (lead)" if a == s.lead else a for a in s.authorities))
    if s.linked:
        head.add_row("linked", ", ".join(s.linked))
    console.print(head)

    files = Table(title="Files", title_justify="left")
    files.add_column("authority")
    files.add_column("file number")
    for aid in s.authorities:
        files.add_row(aid, s.files.get(aid, ""))
    console.print(files)

    notices = Table(title="Notices", title_justify="left")
    for col in ("notice", "kind", "to", "status", "served", "section"):
        notices.add_column(col)
    for n in s.notices:
        status = "[green]served[/green]" if n.status == "served" else f"[red]UNDELIVERED[/red]: {n.reason}"
        served = n.delivered_at.date().isoformat() if n.delivered_at else ""
        notices.add_row(n.notice_id, n.kind, n.to.name, status, served, n.section)
    console.print(notices)
    if s.undelivered:
        console.print(f"[red]{len(s.undelivered)} notice(s) undelivered[/red]: the case officer must act.")
    console.print(f"{view.events} events")
