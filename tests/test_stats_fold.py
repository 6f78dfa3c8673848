"""domain/stats.py on generated records: each case is built from drawn dates and outcomes, and the figures are
checked against what the drawing put there (no Temporal, no store)."""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import events as ev
from domain.case import Party, Recommendation
from domain.stats import stats

AUTHORITIES = ["opc", "cai-qc", "oipc-bc", "oipc-ab"]
PROCEDURES = ["ca-joint", "ca-privacy-act", "eu-oss"]
KINDS = ["report", "response", "inquiry", "compliance"]


@dataclass
class Drawn:
    """One case as drawn: what its record must say, in days from its opening."""

    procedure: str
    opened: date
    findings: int | None = None  # days to FindingsIssued
    answer: str | None = None  # refused / accepted / None (no answer yet)
    answered: int = 0  # days from findings to the answer
    orders: dict[str, int] = field(default_factory=dict)  # authority -> days from the answer to its order
    # (authority, kind, days to DeadlineSet, outcome, days from set to the outcome)
    deadlines: list[tuple[str, str, int, str, int]] = field(default_factory=list)
    closed: bool = False

    def day(self, days: int) -> date:
        return self.opened + timedelta(days=days)

    @property
    def answer_day(self) -> int:
        assert self.findings is not None
        return self.findings + self.answered

    @property
    def last(self) -> int:
        spans = [0, *(s + o for _, _, s, _, o in self.deadlines)]
        if self.findings is not None:
            spans.append(self.answer_day + max(self.orders.values(), default=0))
        return max(spans)


@st.composite
def drawn(draw) -> Drawn:
    case = Drawn(
        procedure=draw(st.sampled_from(PROCEDURES)),
        opened=draw(st.dates(date(2018, 1, 1), date(2026, 12, 31))),
    )
    if draw(st.booleans()):
        case.findings = draw(st.integers(0, 800))
        case.answer = draw(st.sampled_from(["refused", "accepted", None]))
        case.answered = draw(st.integers(0, 60))
        if case.answer == "refused":
            who = draw(st.lists(st.sampled_from(AUTHORITIES), unique=True, max_size=4))
            case.orders = {a: draw(st.integers(0, 700)) for a in who}
    case.deadlines = draw(
        st.lists(
            st.tuples(
                st.sampled_from(AUTHORITIES),
                st.sampled_from(KINDS),
                st.integers(0, 900),
                st.sampled_from(["met", "missed", "cancelled", "open"]),
                st.integers(0, 400),
            ),
            max_size=6,
        )
    )
    case.closed = draw(st.booleans())
    return case


def record(case: Drawn, n: int) -> list[ev.Event]:
    """The case's joint record: its events in date order (a day's in the order a case records them)."""
    planned: list[tuple[int, int, type, str, dict]] = []

    def at(days: int, rank: int, event: type, by: str = "system", **fields) -> None:
        planned.append((days, rank, event, by, fields))

    for i, (aid, kind, set_at, outcome, after) in enumerate(case.deadlines):
        did = f"{aid}:{kind}:{i}"
        due = case.day(set_at + 30)
        at(set_at, 1, ev.DeadlineSet, deadline_id=did, authority=aid, owner=aid, kind=kind, rule=kind, statute="s.1",
           summary=kind, trigger=case.day(set_at), due=due, owed_by="authority", count=30, unit="days")  # fmt: skip
        if outcome == "met":
            at(set_at + after, 9, ev.DeadlineMet, deadline_id=did)
        elif outcome == "missed":
            at(set_at + after, 9, ev.DeadlineMissed, deadline_id=did, consequence="none")
        elif outcome == "cancelled":
            at(set_at + after, 9, ev.DeadlineCancelled, deadline_id=did, reason="closed")
    if case.findings is not None:
        at(case.findings, 2, ev.FindingsDrafted, "opc", finding="well-founded", summary="s")
        at(case.findings, 3, ev.FindingsIssued, "opc", findings=dict.fromkeys(AUTHORITIES, "well-founded"), summary="s")
        recs = [Recommendation(id="R1", text="r")]
        at(case.findings, 4, ev.RecommendationsIssued, "opc", recommendations=recs)
        if case.answer:
            at(case.answer_day, 5, ev.RecommendationAnswered, "respondent", recommendation="R1", answer=case.answer)
        if case.answer == "refused":
            at(case.answer_day, 6, ev.EscalationStarted, authorities=AUTHORITIES, reason="refused")
        for aid, days in case.orders.items():
            at(case.answer_day + days, 7, ev.OrderIssued, aid, authority=aid, order=f"{aid}-1")
    if case.closed:
        at(case.last + 1, 10, ev.InvestigationClosed, outcomes={})
    planned.sort(key=lambda p: (p[0], p[1]))
    opened = ev.InvestigationOpened(
        seq=1,
        on=datetime.combine(case.opened, time(9), UTC),
        by="opc",
        slug=f"case-{n}",
        title=f"Case {n}",
        procedure=case.procedure,
        respondent=Party(name="Acme"),
        lead="opc",
        authorities=AUTHORITIES,
        issues=[],
        opened=case.opened,
    )
    out: list[ev.Event] = [opened]
    for days, _, event, by, fields in planned:
        on = datetime.combine(case.day(days), time(12), UTC)
        out.append(event(seq=len(out) + 1, on=on, by=by, **fields))
    return out


def expected(cases: list[Drawn], year: int | None = None) -> dict:
    """The figures as the drawing put them, keyed as `keyed` keys the computed ones."""
    keep = lambda d: year is None or d.year == year  # noqa: E731
    opened, closed, stages, met, missed = Counter(), Counter(), Counter(), Counter(), Counter()
    findings, orders = defaultdict(list), defaultdict(list)
    for c in cases:
        if keep(c.opened):
            opened[(c.opened.year, c.procedure)] += 1
            if c.closed:
                stage = "closed"
            elif c.findings is None:
                stage = "investigating"
            else:
                stage = {"refused": "escalation", "accepted": "compliance-monitoring"}.get(
                    c.answer or "", "awaiting-response"
                )
            stages[(c.procedure, stage)] += 1
        if c.closed and keep(c.day(c.last + 1)):
            closed[(c.day(c.last + 1).year, c.procedure)] += 1
        for aid, kind, set_at, outcome, after in c.deadlines:
            if outcome in ("met", "missed") and keep(c.day(set_at + after)):
                (met if outcome == "met" else missed)[(aid, kind)] += 1
        if c.findings is not None and keep(c.day(c.findings)):
            findings[c.procedure].append(c.findings)
        for aid, days in c.orders.items():
            if keep(c.day(c.answer_day + days)):
                orders[(c.procedure, aid)].append(days)
    return {
        "opened_closed": {k: (opened[k], closed[k]) for k in set(opened) | set(closed)},
        "stages": dict(stages),
        "deadlines": {k: (met[k], missed[k]) for k in set(met) | set(missed)},
        "opening_to_findings": {p: (len(d), statistics.median(d)) for p, d in findings.items()},
        "refusal_to_order": {k: (len(d), statistics.median(d)) for k, d in orders.items()},
    }


def keyed(f) -> dict:
    return {
        "opened_closed": {(r.year, r.procedure): (r.opened, r.closed) for r in f.opened_closed},
        "stages": {(r.procedure, r.stage): r.cases for r in f.stages},
        "deadlines": {(r.authority, r.kind): (r.met, r.missed) for r in f.deadlines},
        "opening_to_findings": {r.procedure: (r.cases, r.median_days) for r in f.opening_to_findings},
        "refusal_to_order": {(r.procedure, r.authority): (r.cases, r.median_days) for r in f.refusal_to_order},
    }


@settings(max_examples=150, deadline=None)
@given(st.lists(drawn(), max_size=8), st.randoms(use_true_random=False))
def test_the_figures_are_the_drawn_ones(cases, rnd: random.Random):
    records = [record(c, i) for i, c in enumerate(cases)]
    figures = stats(records)
    assert figures.cases == len(cases)
    assert keyed(figures) == expected(cases)
    # The order the store lists the cases in changes nothing.
    rnd.shuffle(records)
    assert stats(records) == figures


@settings(max_examples=60, deadline=None)
@given(st.lists(drawn(), min_size=1, max_size=8), st.integers(2018, 2029))
def test_a_year_keeps_what_falls_in_it(cases, year):
    records = [record(c, i) for i, c in enumerate(cases)]
    assert keyed(stats(records, year=year)) == expected(cases, year)
    # Over every year the openings add up to every case.
    years = {c.opened.year for c in cases}
    assert sum(r.opened for y in years for r in stats(records, year=y).opened_closed) == len(cases)


@settings(max_examples=60, deadline=None)
@given(st.lists(drawn(), max_size=8), st.sampled_from(PROCEDURES))
def test_a_procedure_keeps_its_cases(cases, procedure):
    records = [record(c, i) for i, c in enumerate(cases)]
    mine = [c for c in cases if c.procedure == procedure]
    figures = stats(records, procedure=procedure)
    assert figures.cases == len(mine)
    assert keyed(figures) == expected(mine)


def test_a_record_that_is_not_a_case_is_skipped():
    assert stats([[]]).cases == 0
    stray = ev.DeadlineMet(seq=1, on=datetime(2021, 1, 1, tzinfo=UTC), by="system", deadline_id="x")
    assert stats([[stray]]) == stats([])


def test_an_even_count_has_the_mean_of_the_middle_two():
    cases = [Drawn("ca-joint", date(2021, 1, 1), findings=d) for d in (10, 21)]
    [row] = stats([record(c, i) for i, c in enumerate(cases)]).opening_to_findings
    assert (row.cases, row.median_days) == (2, 15.5)
