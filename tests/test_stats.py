"""`enforce stats` on the event store of a simulated set of cases, every figure checked against a count made
here by hand from the events (never by domain/stats.py).

Case files are generated (opening dates over five years, answers refused, accepted or never given, orders at
different delays, two procedures) and each is simulated on its own time-skipping server (`enforce simulate`'s
own code); the events of every record (the joint one and each track's) are appended to a store in a temporary
folder, linked as the store requires, and the CLI is run on it as a user runs it.
"""

from __future__ import annotations

import json
import os
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from domain.chain import GENESIS, link
from enforce import investigations, simulate
from enforce.cases import load_case
from store import Store
from tests.casefiles import CLEARVIEW, ROOT, write_case
from tests.live import enforce
from workflows.messages import track_id, workflow_id

pytestmark = pytest.mark.timeout(600)

RCMP = ROOT / "cases" / "rcmp.toml"
CO_AUTHORITIES = ["cai-qc", "oipc-bc", "oipc-ab"]


# ---------------------------------------------------------------- generated case files


def _toml(value) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    raise TypeError(value)


@dataclass
class Plan:
    """One generated case: its file (the shipped one's parties and issues) and its scripted steps."""

    slug: str
    base: Path
    opened: date
    # Days from the opening to the draft findings (the co-authorities concur the same day) and recommendations.
    findings_after: int
    # The respondent's answer the day after, to every recommendation; None: no answer (a deemed refusal).
    answer: str | None
    # authority -> (days to its inquiry, days to its order), counted from the day after the recommendations.
    orders: dict[str, tuple[int | None, int]] = field(default_factory=dict)
    verify_after: int | None = None

    def text(self) -> str:
        head = self.base.read_text().split("[[steps]]", 1)[0]
        old_slug = "clearview-ai" if self.base == CLEARVIEW else "rcmp"
        head = head.replace(f'slug = "{old_slug}"', f'slug = "{self.slug}"', 1)
        old_opened = "2020-02-21" if self.base == CLEARVIEW else "2020-02-28"
        head = head.replace(f"opened = {old_opened}", f"opened = {self.opened.isoformat()}", 1)
        authorities = ["opc", *CO_AUTHORITIES] if self.base == CLEARVIEW else ["opc"]
        d = self.opened + timedelta(days=self.findings_after)
        steps = [(d, "opc", "draft-findings", {"finding": "well-founded", "summary": f"Findings in {self.slug}."})]
        steps += [(d, a, "concur", {}) for a in authorities[1:]]
        recs = [{"id": "R1", "text": "Stop the collection."}, {"id": "R2", "text": "Delete what was collected."}]
        steps.append((d, "opc", "issue-recommendations", {"recommendations": recs}))
        after = d + timedelta(days=1)
        if self.answer:
            steps.append(
                (after, "respondent", "answer-recommendations", {"answers": dict.fromkeys(["R1", "R2"], self.answer)})
            )
        if self.verify_after is not None:
            v = d + timedelta(days=self.verify_after)
            steps += [(v, "opc", "verify-recommendation", {"recommendation": r}) for r in ("R1", "R2")]
        for aid, (inquiry, order) in self.orders.items():
            if inquiry is not None:
                steps.append((after + timedelta(days=inquiry), aid, "open-inquiry", {}))
            terms = {"order": f"{aid}-{self.slug}", "terms": "Stop; delete."}
            steps.append((after + timedelta(days=order), aid, "issue-order", terms))
        steps.sort(key=lambda s: s[0])  # stable: a day's steps keep their order
        body = "".join(
            f"\n[[steps]]\non = {on.isoformat()}\nby = {_toml(by)}\naction = {_toml(action)}\n"
            + "".join(f"{k} = {_toml(v)}\n" for k, v in fields.items())
            for on, by, action, fields in steps
        )
        return head + body


PLANS = [
    # Refused the day after; Quebec orders directly, Alberta after an inquiry within its 90 days, BC past them.
    Plan(
        "joint-2021",
        CLEARVIEW,
        date(2021, 3, 15),
        250,
        "refused",
        {"cai-qc": (None, 40), "oipc-ab": (30, 100), "oipc-bc": (30, 151)},
    ),
    # Accepted and verified: every track closes, and the case with them.
    Plan("joint-2022", CLEARVIEW, date(2022, 6, 1), 120, "accepted", verify_after=200),
    # Accepted, never verified: the case stays in compliance monitoring.
    Plan("joint-2023", CLEARVIEW, date(2023, 2, 10), 300, "accepted"),
    # No answer: the response clock runs out, a deemed refusal; orders follow it.
    Plan("joint-2024", CLEARVIEW, date(2024, 1, 15), 90, None, {"cai-qc": (None, 200), "oipc-ab": (100, 180)}),
    # Under the Privacy Act (one authority, no orders): accepted and verified, and refused.
    Plan("privacy-2021", RCMP, date(2021, 9, 1), 150, "accepted", verify_after=90),
    Plan("privacy-2023", RCMP, date(2023, 4, 3), 60, "refused"),
]


@dataclass
class Simulated:
    slug: str
    procedure: str
    # Each record's events as stored (JSON), the joint record's under its workflow id.
    records: dict[str, list[dict]]
    # The stage the joint record's own state query gave at the end of the simulation.
    stage: str


async def _simulate(path: Path) -> Simulated:
    case, proc = load_case(path)
    tracks: dict[str, list] = {}

    async def read_tracks(client) -> None:
        for aid in case.authorities:
            record = track_id(case.slug, aid)
            tracks[record] = (await investigations.events(client, case.slug, record=record)).events

    saved = dict(os.environ)
    try:
        result = await simulate.run(case, proc, before_shutdown=read_tracks)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    records = {workflow_id(case.slug): result.events, **tracks}
    return Simulated(
        case.slug,
        case.procedure,
        {r: [e.model_dump(mode="json") for e in events] for r, events in records.items()},
        result.stage or "",
    )


def _append(store: Store, record: str, bodies: list[dict]) -> int:
    pairs, prev = [], GENESIS
    for body in bodies:
        prev = link(prev, body)
        pairs.append((body, prev))
    return store.append(record, pairs)


@pytest.fixture(scope="module")
async def simulated(tmp_path_factory) -> tuple[list[Simulated], str]:
    tmp = tmp_path_factory.mktemp("stats")
    paths = [CLEARVIEW, RCMP] + [write_case(tmp, p.text(), f"{p.slug}.toml") for p in PLANS]
    cases = [await _simulate(path) for path in paths]
    url = f"sqlite:///{tmp / 'record.db'}"
    store = Store(url)
    for case in cases:
        for record, bodies in case.records.items():
            assert _append(store, record, bodies) == len(bodies)
    return cases, url


# ---------------------------------------------------------------- the count by hand


def _day(text: str) -> date:
    return datetime.fromisoformat(text).date()


def hand_count(cases: list[Simulated], year: int | None = None, procedure: str | None = None) -> dict:
    """The figures, counted from each case's joint record as the docs define them, keyed for comparison."""
    opened, closed, stages, met, missed = Counter(), Counter(), Counter(), Counter(), Counter()
    findings, orders = defaultdict(list), defaultdict(list)
    wanted = lambda d: year is None or d.year == year  # noqa: E731
    for case in cases:
        if procedure and case.procedure != procedure:
            continue
        events = case.records[workflow_id(case.slug)]
        start = events[0]
        assert start["type"] == "InvestigationOpened"
        day_opened = date.fromisoformat(start["opened"])
        if wanted(day_opened):
            opened[(day_opened.year, case.procedure)] += 1
            stages[(case.procedure, case.stage)] += 1
        for e in events:
            if e["type"] == "InvestigationClosed" and wanted(_day(e["on"])):
                closed[(_day(e["on"]).year, case.procedure)] += 1
        kinds = {e["deadline_id"]: (e["authority"], e["kind"]) for e in events if e["type"] == "DeadlineSet"}
        for e in events:
            if e["type"] in ("DeadlineMet", "DeadlineMissed") and wanted(_day(e["on"])):
                (met if e["type"] == "DeadlineMet" else missed)[kinds[e["deadline_id"]]] += 1
        issued = [_day(e["on"]) for e in events if e["type"] == "FindingsIssued"]
        if issued and wanted(issued[0]):
            findings[case.procedure].append((issued[0] - day_opened).days)
        refusals = [e for e in events if e["type"] == "RecommendationAnswered" and e["answer"] == "refused"]
        if refusals:
            first = refusals[0]
            for aid in {e["authority"] for e in events if e["type"] == "OrderIssued"}:
                mine = [e for e in events if e["type"] == "OrderIssued" and e["authority"] == aid]
                mine = [e for e in mine if e["seq"] > first["seq"]]
                if mine and wanted(_day(mine[0]["on"])):
                    orders[(case.procedure, aid)].append((_day(mine[0]["on"]) - _day(first["on"])).days)
    return {
        "opened_closed": {k: (opened[k], closed[k]) for k in set(opened) | set(closed)},
        "stages": dict(stages),
        "deadlines": {k: (met[k], missed[k]) for k in set(met) | set(missed)},
        "opening_to_findings": {p: (len(d), statistics.median(d)) for p, d in findings.items()},
        "refusal_to_order": {k: (len(d), statistics.median(d)) for k, d in orders.items()},
    }


def keyed(figures: dict) -> dict:
    """The JSON figures keyed as `hand_count` keys them."""
    return {
        "opened_closed": {(r["year"], r["procedure"]): (r["opened"], r["closed"]) for r in figures["opened_closed"]},
        "stages": {(r["procedure"], r["stage"]): r["cases"] for r in figures["stages"]},
        "deadlines": {(r["authority"], r["kind"]): (r["met"], r["missed"]) for r in figures["deadlines"]},
        "opening_to_findings": {r["procedure"]: (r["cases"], r["median_days"]) for r in figures["opening_to_findings"]},
        "refusal_to_order": {
            (r["procedure"], r["authority"]): (r["cases"], r["median_days"]) for r in figures["refusal_to_order"]
        },
    }


def parse_tables(text: str) -> dict[str, list[list[str]]]:
    """The table output read back: each table's title and its rows of cells (the header row left out)."""
    tables: dict[str, list[list[str]]] = {}
    lines = text.splitlines()
    title = None
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and lines[i + 1].startswith("┏"):
            title = line.strip()
            tables[title] = []
        elif line.startswith("│") and title is not None:
            tables[title].append([c.strip() for c in line.strip("│").split("│")])
    return tables


def _num(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def table_as_figures(text: str) -> dict:
    t = parse_tables(text)
    return {
        "opened_closed": [
            {"year": int(y), "procedure": p, "opened": int(o), "closed": int(c)}
            for y, p, o, c in t["Cases opened and closed"]
        ],
        "stages": [{"procedure": p, "stage": s, "cases": int(n)} for p, s, n in t["Cases by stage now"]],
        "deadlines": [
            {"authority": a, "kind": k, "met": int(m), "missed": int(x)} for a, k, m, x in t["Deadlines met and missed"]
        ],
        "opening_to_findings": [
            {"procedure": p, "cases": int(n), "median_days": _num(d)}
            for p, n, d in t["Days from opening to findings (median)"]
        ],
        "refusal_to_order": [
            {"procedure": p, "authority": a, "cases": int(n), "median_days": _num(d)}
            for p, a, n, d in t["Days from refusal to order (median)"]
        ],
    }


def env_for(url: str) -> dict[str, str]:
    return {**os.environ, "ENFORCE_RECORD_URL": url}


async def stats_json(url: str, *args: str) -> dict:
    result = await enforce(env_for(url), "stats", "-o", "json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# ---------------------------------------------------------------- the tests


async def test_the_simulated_set_is_varied(simulated):
    """The set exercises what the figures distinguish: years, procedures, stages, refusals and orders."""
    cases, _ = simulated
    assert len(cases) == 2 + len(PLANS)
    assert {c.procedure for c in cases} == {"ca-joint", "ca-privacy-act"}
    assert {c.stage for c in cases} >= {"closed", "escalation", "compliance-monitoring"}
    joint = [e for c in cases for e in c.records[workflow_id(c.slug)]]
    assert any(e["type"] == "RecommendationAnswered" and e.get("deemed") for e in joint)
    assert any(e["type"] == "DeadlineMissed" for e in joint) and any(e["type"] == "DeadlineMet" for e in joint)
    assert len({e["opened"][:4] for e in joint if e["type"] == "InvestigationOpened"}) >= 5


async def test_every_figure_matches_the_hand_count(simulated):
    cases, url = simulated
    figures = await stats_json(url)
    assert figures["cases"] == len(cases)
    assert keyed(figures) == hand_count(cases)


async def test_the_spans_are_the_ones_the_case_files_script(simulated):
    """Where a case file fixes a span, the median is over those spans: findings on the day the co-authorities
    concur; an order the scripted number of days after an explicit refusal, or after the day the response clock
    ran out (a deemed refusal)."""
    cases, url = simulated
    got = keyed(await stats_json(url))
    findings = {
        "ca-joint": [(date(2021, 2, 2) - date(2020, 2, 21)).days],  # Clearview's report
        "ca-privacy-act": [(date(2021, 6, 10) - date(2020, 2, 28)).days],  # the RCMP report
    }
    # Clearview: refused 2021-02-03; Alberta ordered 2021-12-07, BC and Quebec 2021-12-14.
    refused = date(2021, 2, 3)
    orders = {
        "oipc-ab": [(date(2021, 12, 7) - refused).days],
        "oipc-bc": [(date(2021, 12, 14) - refused).days],
        "cai-qc": [(date(2021, 12, 14) - refused).days],
    }
    for p in PLANS:
        procedure = "ca-joint" if p.base == CLEARVIEW else "ca-privacy-act"
        findings[procedure].append(p.findings_after)
        after = p.opened + timedelta(days=p.findings_after + 1)
        refusal = after
        if p.answer is None:
            record = next(c for c in cases if c.slug == p.slug).records[workflow_id(p.slug)]
            [ran_out] = [e for e in record if e["type"] == "DeadlineMissed" and ":response:" in e["deadline_id"]]
            refusal = _day(ran_out["on"])
            assert refusal > after
        for aid, (_, order) in p.orders.items():
            orders[aid].append((after + timedelta(days=order) - refusal).days)
    for procedure, days in findings.items():
        assert got["opening_to_findings"][procedure] == (len(days), statistics.median(days)), procedure
    assert got["refusal_to_order"] == {
        ("ca-joint", aid): (len(days), statistics.median(days)) for aid, days in orders.items()
    }


@pytest.mark.parametrize("year", [2020, 2021, 2022, 2023, 2024, 2026])
async def test_a_year_keeps_what_falls_in_it(simulated, year):
    cases, url = simulated
    figures = await stats_json(url, "--year", str(year))
    assert figures["year"] == year
    assert keyed(figures) == hand_count(cases, year=year)


@pytest.mark.parametrize("procedure", ["ca-joint", "ca-privacy-act"])
async def test_a_procedure_keeps_its_cases(simulated, procedure):
    cases, url = simulated
    figures = await stats_json(url, "--procedure", procedure)
    assert figures["cases"] == sum(c.procedure == procedure for c in cases)
    assert keyed(figures) == hand_count(cases, procedure=procedure)
    both = await stats_json(url, "--procedure", procedure, "--year", "2021")
    assert keyed(both) == hand_count(cases, year=2021, procedure=procedure)


async def test_the_table_shows_what_json_gives(simulated):
    cases, url = simulated
    figures = await stats_json(url)
    result = await enforce(env_for(url), "stats")
    assert result.returncode == 0, result.stderr
    shown = table_as_figures(result.stdout)
    for name, rows in shown.items():
        assert rows == figures[name], name
    assert f"{len(cases)} cases in the event store" in result.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--year", "twenty"], "--year"),
        (["--year", "1800"], "--year"),
        (["--year", "99999"], "--year"),
        (["--procedure", "eu-oss"], "--procedure"),
        (["--procedure", "[red]x[/red]"], "--procedure"),
        (["-o", "yaml"], "--output"),
    ],
)
async def test_a_bad_option_exits_2_naming_it(simulated, args, named):
    _, url = simulated
    result = await enforce(env_for(url), "stats", *args)
    assert result.returncode == 2, result
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert named in line
    assert result.stdout == ""


async def test_an_empty_store_says_so(tmp_path):
    missing = f"sqlite:///{tmp_path / 'none' / 'record.db'}"
    result = await enforce(env_for(missing), "stats")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("no cases in the event store")
    assert not (tmp_path / "none").exists()  # reading did not create a store
    empty = f"sqlite:///{tmp_path / 'record.db'}"
    Store(empty).cases()
    result = await enforce(env_for(empty), "stats")
    assert result.returncode == 0 and "no cases" in result.stdout
    figures = await stats_json(empty)
    assert figures["cases"] == 0 and figures["opened_closed"] == [] and figures["stages"] == []


def _opened(procedure: str, slug: str = "hostile") -> dict:
    from domain import events as ev
    from domain.case import Party

    return ev.InvestigationOpened(
        seq=1,
        on=datetime(2022, 5, 2, 9, tzinfo=UTC),
        by="opc",
        slug=slug,
        title="t",
        procedure=procedure,
        respondent=Party(name="[link=http://x]Acme[/link]"),
        lead="opc",
        authorities=["opc"],
        issues=[],
        opened=date(2022, 5, 2),
    ).model_dump(mode="json")


async def test_stored_text_is_shown_as_text(tmp_path):
    """A procedure, an authority or a kind is printed as written: markup shown, control characters escaped."""
    from domain import events as ev

    url = f"sqlite:///{tmp_path / 'record.db'}"
    procedure, authority, kind = "[bold]p[/bold]", "[red]opc[/red]", "report\x1b[2J"
    on = datetime(2022, 6, 1, 12, tzinfo=UTC)
    deadline = ev.DeadlineSet(
        seq=2, on=on, by="system", deadline_id="d", authority=authority, owner="opc", kind=kind, rule="r",
        statute="s", summary="s", trigger=on.date(), due=on.date(), owed_by="authority", count=1, unit="days",
    )  # fmt: skip
    met = ev.DeadlineMet(seq=3, on=on, by="system", deadline_id="d")
    _append(
        Store(url),
        workflow_id("hostile"),
        [_opened(procedure), deadline.model_dump(mode="json"), met.model_dump(mode="json")],
    )
    result = await enforce(env_for(url), "stats", "--procedure", procedure)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    rows = parse_tables(result.stdout)
    assert rows["Cases opened and closed"] == [["2022", procedure, "1", "0"]]
    assert rows["Deadlines met and missed"] == [[authority, "report\\x1b[2J", "1", "0"]]
    figures = await stats_json(url, "--procedure", procedure)
    assert figures["deadlines"] == [{"authority": authority, "kind": kind, "met": 1, "missed": 0}]


async def test_a_case_with_only_track_records_is_named_not_counted(tmp_path):
    url = f"sqlite:///{tmp_path / 'record.db'}"
    store = Store(url)
    _append(store, workflow_id("counted"), [_opened("ca-joint", "counted")])
    _append(store, track_id("ghost", "opc"), [_opened("ca-joint", "ghost")])
    result = await enforce(env_for(url), "stats")
    assert result.returncode == 0, result.stderr
    assert "1 cases in the event store" in result.stdout
    assert "1 case(s) with no joint record stored, not counted: ghost" in result.stdout
    figures = await stats_json(url)
    assert figures["cases"] == 1 and figures["not_counted"] == ["ghost"]


async def test_a_store_it_cannot_read_is_named(tmp_path):
    result = await enforce(env_for("mysql://db/record"), "stats")
    assert result.returncode == 2
    assert "ENFORCE_RECORD_URL" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    # A store that is there and cannot be opened (a folder where the file should be): exit 1, one line.
    (tmp_path / "folder.db").mkdir()
    result = await enforce(env_for(f"sqlite:///{tmp_path / 'folder.db'}"), "stats")
    assert result.returncode == 1, result
    assert "folder.db" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_password_in_the_store_url_is_never_printed():
    from enforce.figures import shown

    assert shown("postgresql://enforce:s3cret@db:5432/record") == "postgresql://enforce:***@db:5432/record"
    assert shown("sqlite:////data/record.db") == "sqlite:////data/record.db"
