"""The figures regulators publish each year, over the joint records of every case in the event store.

Pure: the CLI (`enforce stats`) reads the records and passes their events here. Each record is one case's
joint record (`investigation-<slug>`), its events in seq order from the first: it holds the events of every
track as well (the tracks report theirs to it), so the tracks' own records are not needed, and would count
every track event twice.

What is counted, in the event vocabulary of `domain.events`:

- opened: a case per `InvestigationOpened`, in the year of its `opened` date (the case file's), under its
  `procedure`; closed: a case per `InvestigationClosed`, in the year of that event's date.
- stage now: the stage of the fold of the record's events (`domain.state.fold`), per procedure; a GDPR case's
  is its phase (`InvestigationState.stage_name`).
- deadlines met and missed: each `DeadlineMet` / `DeadlineMissed`, under the authority and kind of the
  `DeadlineSet` of its `deadline_id`, in the year the clock was met or missed.
- days from opening to findings: from the `opened` date to the date of the case's first `FindingsIssued`
  (the joint report of findings), per procedure; a case without findings is not counted.
- days from refusal to order: from the date of the case's first `RecommendationAnswered` whose answer is
  `refused` (explicit, or deemed on a response clock that ran out) to the date of each authority's first
  `OrderIssued` on or after it, per procedure and authority; an authority that issued no order is not counted.

Days are calendar days between case-clock dates. A median of an even count is the mean of the middle two.

Filters: `procedure` keeps the cases of that procedure; `year` keeps what falls in that year: cases opened
or closed in it, deadlines met or missed in it, spans that ended in it (findings issued, order issued), and,
for the stage now, the cases opened in it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from statistics import median

from pydantic import BaseModel, ConfigDict

from domain import events as ev
from domain.state import Stage, fold


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class YearRow(_Row):
    year: int
    procedure: str
    opened: int
    closed: int


class StageRow(_Row):
    procedure: str
    stage: str
    cases: int


class DeadlineRow(_Row):
    authority: str
    kind: str
    met: int
    missed: int


class Span(_Row):
    """How many cases a span was measured on, and the median of their days."""

    procedure: str
    cases: int
    median_days: int | float


class OrderSpan(_Row):
    """Refusal to order: as a span, per procedure and the authority that issued the order."""

    procedure: str
    authority: str
    cases: int
    median_days: int | float


class Figures(_Row):
    year: int | None = None
    procedure: str | None = None
    # The cases (joint records) of the procedure filter, whatever the year.
    cases: int = 0
    opened_closed: list[YearRow] = []
    stages: list[StageRow] = []
    deadlines: list[DeadlineRow] = []
    opening_to_findings: list[Span] = []
    refusal_to_order: list[OrderSpan] = []


def _median(days: list[int]) -> int | float:
    m = median(days)
    return int(m) if m == int(m) else m


def stats(records: Iterable[Sequence[ev.Event]], *, year: int | None = None, procedure: str | None = None) -> Figures:
    """The figures over `records` (each a case's joint record, its events in seq order). A record that does not
    begin with its `InvestigationOpened` is not a case and is skipped."""
    opened: Counter = Counter()
    closed: Counter = Counter()
    stages: Counter = Counter()
    met: Counter = Counter()
    missed: Counter = Counter()
    to_findings: dict[str, list[int]] = defaultdict(list)
    to_order: dict[tuple[str, str], list[int]] = defaultdict(list)
    in_year = (lambda d: True) if year is None else (lambda d: d.year == year)  # noqa: E731
    cases = 0
    for events in records:
        if not events or not isinstance(events[0], ev.InvestigationOpened):
            continue
        start = events[0]
        proc = start.procedure
        if procedure is not None and proc != procedure:
            continue
        cases += 1
        if in_year(start.opened):
            opened[(start.opened.year, proc)] += 1
            state = fold(events)
            # A case of a procedure of its own steps is counted at its phase (`dispute-resolution`).
            stages[(proc, state.stage_name if state.stage else "")] += 1
        deadlines: dict[str, tuple[str, str]] = {}
        findings = False
        refused = None
        ordered: set[str] = set()
        for e in events:
            on = e.on.date()
            if isinstance(e, ev.InvestigationClosed) and in_year(on):
                closed[(on.year, proc)] += 1
            elif isinstance(e, ev.DeadlineSet):
                deadlines[e.deadline_id] = (e.authority, e.kind)
            elif isinstance(e, ev.DeadlineMet | ev.DeadlineMissed) and e.deadline_id in deadlines and in_year(on):
                (met if isinstance(e, ev.DeadlineMet) else missed)[deadlines[e.deadline_id]] += 1
            elif isinstance(e, ev.FindingsIssued) and not findings:
                findings = True
                if in_year(on):
                    to_findings[proc].append((on - start.opened).days)
            elif isinstance(e, ev.RecommendationAnswered) and e.answer == "refused" and refused is None:
                refused = on
            elif isinstance(e, ev.OrderIssued) and refused is not None and e.authority not in ordered:
                ordered.add(e.authority)
                if in_year(on):
                    to_order[(proc, e.authority)].append((on - refused).days)
    years = sorted(set(opened) | set(closed))
    order = {s.value: i for i, s in enumerate(Stage)}
    return Figures(
        year=year,
        procedure=procedure,
        cases=cases,
        opened_closed=[YearRow(year=y, procedure=p, opened=opened[(y, p)], closed=closed[(y, p)]) for y, p in years],
        stages=[
            StageRow(procedure=p, stage=s, cases=n)
            for (p, s), n in sorted(stages.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], -1)))
        ],
        deadlines=[
            DeadlineRow(authority=a, kind=k, met=met[(a, k)], missed=missed[(a, k)])
            for a, k in sorted(set(met) | set(missed))
        ],
        opening_to_findings=[
            Span(procedure=p, cases=len(d), median_days=_median(d)) for p, d in sorted(to_findings.items())
        ],
        refusal_to_order=[
            OrderSpan(procedure=p, authority=a, cases=len(d), median_days=_median(d))
            for (p, a), d in sorted(to_order.items())
        ],
    )
