"""Figures over the stored events of every record: cases opened and closed per year and procedure, deadlines
met and missed per authority and kind. Pure: the CLI reads the events from the store and passes them here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from domain import events as ev


def stats(records: Iterable[list[ev.Event]]) -> dict:
    opened: Counter = Counter()
    closed: Counter = Counter()
    met: Counter = Counter()
    missed: Counter = Counter()
    for events in records:
        procedure = ""
        deadlines: dict[str, tuple[str, str]] = {}
        for e in events:
            if isinstance(e, ev.InvestigationOpened):
                procedure = e.procedure
                opened[(e.opened.year, procedure)] += 1
            elif isinstance(e, ev.InvestigationClosed):
                closed[(e.on.year, procedure)] += 1
            elif isinstance(e, ev.DeadlineSet):
                deadlines[e.deadline_id] = (e.authority, e.kind)
            elif isinstance(e, ev.DeadlineMet) and e.deadline_id in deadlines:
                met[deadlines[e.deadline_id]] += 1
            elif isinstance(e, ev.DeadlineMissed) and e.deadline_id in deadlines:
                missed[deadlines[e.deadline_id]] += 1
    return {
        "opened": {f"{y} {p}": n for (y, p), n in sorted(opened.items())},
        "closed": {f"{y} {p}": n for (y, p), n in sorted(closed.items())},
        "deadlines_met": {f"{a} {k}": n for (a, k), n in sorted(met.items())},
        "deadlines_missed": {f"{a} {k}": n for (a, k), n in sorted(missed.items())},
    }
