"""Simulating the real Clearview case (and the linked RCMP case) end to end on the time-skipping server.

Due dates are never written here: they are checked against the engine's own rules for the trigger in the
record, and against the one date the public record gives (BC Order P21-08: comply by 2022-01-25).
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import pytest

from domain import events as ev
from domain.deadlines import countable_days_between, due_date, extended_due, reminder_dates, resume
from enforce import codec, investigations, simulate
from enforce.cases import load_case
from tests.casefiles import CLEARVIEW, ROOT, clearview_text, write_case

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
async def clearview():
    case, procedure = load_case(CLEARVIEW)
    return await simulate.run(case, procedure), procedure


def of(result, kind):
    return [e for e in result.events if isinstance(e, kind)]


def deadline(result, authority, kind):
    [d] = [d for d in result.deadlines if d.authority == authority and d.kind == kind]
    return d


async def test_the_case_runs_to_closure_with_a_finding_and_an_outcome_per_authority(clearview):
    result, _ = clearview
    assert result.stage == "closed"
    assert isinstance(result.events[-1], ev.InvestigationClosed)
    assert [e.seq for e in result.events] == list(range(1, len(result.events) + 1))
    assert {e.on.year for e in result.events} <= set(range(2020, 2027))
    for aid, track in result.tracks.items():
        assert track.status.value == "closed" and track.finding == "well-founded", aid
    assert "window closed" in result.tracks["opc"].outcome  # the OPC never applied to the Federal Court
    assert "P21-08" in result.tracks["oipc-bc"].outcome


async def test_the_record_follows_the_real_case_in_order(clearview):
    result, _ = clearview
    milestones = [
        (e.type, getattr(e, "authority", "") or e.by)
        for e in result.events
        if e.type
        in (
            "InvestigationOpened",
            "VoluntaryMeasureTaken",
            "FindingsIssued",
            "RecommendationsIssued",
            "EscalationStarted",
            "OrderIssued",
            "InvestigationClosed",
        )
    ]
    assert milestones == [
        ("InvestigationOpened", "opc"),
        ("VoluntaryMeasureTaken", "respondent"),
        ("FindingsIssued", "opc"),
        ("RecommendationsIssued", "opc"),
        ("EscalationStarted", "system"),
        ("OrderIssued", "oipc-ab"),
        ("OrderIssued", "oipc-bc"),
        ("OrderIssued", "cai-qc"),
        ("InvestigationClosed", "system"),
    ]
    assert [e.authority for e in of(result, ev.FindingsConcurred)] == ["cai-qc", "oipc-bc", "oipc-ab"]
    answers = of(result, ev.RecommendationAnswered)
    assert [(a.recommendation, a.answer, a.deemed) for a in answers] == [
        ("R1", "refused", False),
        ("R2", "refused", False),
        ("R3", "refused", False),
    ]
    # A voluntary partial remedy is recorded and closes nothing.
    voluntary = of(result, ev.VoluntaryMeasureTaken)[0]
    assert any(e.seq > voluntary.seq and e.type == "FindingsDrafted" for e in result.events)


async def test_every_clock_is_the_engines_own_count(clearview):
    result, procedure = clearview
    specs = procedure.calendars
    for d in of(result, ev.DeadlineSet):
        rule = procedure.deadline_rule(d.owner, d.rule)
        assert d.due == due_date(rule, d.trigger, specs, count=d.count), d.deadline_id
    opened = result.events[0].on.date()
    report_date = of(result, ev.FindingsIssued)[0].on.date()
    assert deadline(result, "opc", "report").trigger == opened
    assert deadline(result, "opc", "court-application").trigger == report_date
    # The response clock runs from service of the report, not from its date.
    served = [n for n in of(result, ev.NoticeServed) if n.kind == "report-of-findings"][0]
    assert deadline(result, "opc", "response").trigger == served.delivered_at.date()


async def test_statuses_of_the_real_clocks(clearview):
    result, _ = clearview
    status = {(d.authority, d.kind): d.label for d in result.deadlines}
    assert status == {
        ("opc", "report"): "met",
        ("opc", "comments"): "met",
        ("opc", "response"): "met",
        ("opc", "court-application"): "missed",
        ("oipc-ab", "inquiry"): "met",
        ("oipc-bc", "inquiry"): "met",
        ("oipc-ab", "compliance"): "missed",
        ("oipc-bc", "compliance"): "missed",
        ("cai-qc", "compliance"): "missed",
    }
    # Quebec's decision set its own 90 days.
    assert deadline(result, "cai-qc", "compliance").initial_due == due_date(
        result_rule(clearview, "cai-qc", "compliance"), date(2021, 12, 14), clearview[1].calendars, count=90
    )


def result_rule(clearview, authority, key):
    return clearview[1].authority(authority).deadlines[key]


async def test_the_bc_order_is_stayed_by_judicial_review_and_resumes_when_upheld(clearview):
    result, procedure = clearview
    bc = deadline(result, "oipc-bc", "compliance")
    assert bc.initial_due == date(2022, 1, 25)  # the date Order P21-08 itself gives
    [paused] = [e for e in of(result, ev.DeadlinePaused) if e.deadline_id == bc.deadline_id]
    [review] = [e for e in of(result, ev.JudicialReviewFiled) if e.authority == "oipc-bc"]
    rule = procedure.authority("oipc-bc").deadlines["compliance"]
    assert paused.on == review.on
    assert paused.remaining == countable_days_between(rule, review.on.date(), bc.initial_due, procedure.calendars)
    [resumed] = [e for e in of(result, ev.DeadlineResumed) if e.deadline_id == bc.deadline_id]
    [decision] = [e for e in of(result, ev.CourtDecisionRecorded) if e.citation == "2024 BCSC 2311"]
    assert resumed.on == decision.on and resumed.remaining == paused.remaining
    assert bc.due == resumed.due == resume(rule, paused.remaining, decision.on.date(), procedure.calendars)
    assert bc.pauses == 1


async def test_a_quebec_appeal_and_an_alberta_review_stay_nothing(clearview):
    result, _ = clearview
    paused = {e.deadline_id for e in of(result, ev.DeadlinePaused)}
    assert paused == {deadline(result, "oipc-bc", "compliance").deadline_id}
    defaults = {(e.authority, e.subject) for e in of(result, ev.NonComplianceFound)}
    assert defaults == {("oipc-ab", "P2021-12"), ("cai-qc", "1023158-S"), ("oipc-bc", "P21-08")}


async def test_reminders_go_out_before_a_clock_runs_out(clearview):
    result, procedure = clearview
    cai = deadline(result, "cai-qc", "compliance")
    rule = procedure.authority("cai-qc").deadlines["compliance"]
    sent = sorted(n.on.date() for n in of(result, ev.NoticeServed) if n.deadline == cai.deadline_id)
    assert sent == reminder_dates(rule, cai.due, procedure.calendars, trigger=cai.trigger)
    assert all(day < cai.due for day in sent)


async def test_each_served_notice_left_its_document_with_the_recorded_hash(clearview):
    result, _ = clearview
    served = of(result, ev.NoticeServed)
    assert len(served) >= 10
    documents = Path(result.data_dir) / "documents"
    for n in served:
        body = codec.read_file(documents / f"{n.notice_id}.md")  # sealed at rest, with the session's key set
        assert hashlib.sha256(body).hexdigest() == n.sha256, n.notice_id


async def test_the_linked_rcmp_case_closes_once_its_recommendations_are_verified():
    case, procedure = load_case(ROOT / "cases" / "rcmp.toml")
    result = await simulate.run(case, procedure)
    assert result.stage == "closed"
    assert case.linked == ["clearview-ai"] and load_case(CLEARVIEW)[0].linked == ["rcmp"]
    types = [e.type for e in result.events]
    assert "EscalationStarted" not in types
    assert types.count("ComplianceVerified") == 2
    assert result.tracks["opc"].outcome.startswith("well-founded and resolved")


def _without_cai_steps_after_findings(text: str) -> str:
    """Clearview with cai-qc dissenting not-well-founded: its concurrence becomes a dissent, and the steps it
    (or the respondent against it) takes in escalation are dropped, since its track never escalates."""
    head, *steps = text.split("[[steps]]")
    kept = []
    for step in steps:
        if 'by = "cai-qc"' in step and 'action = "concur"' in step:
            step = step.replace(
                'action = "concur"',
                'action = "dissent"\nfinding = "not-well-founded"\nreasons = "Consent was not required in Quebec."',
            )
        elif 'by = "cai-qc"' in step or 'authority = "cai-qc"' in step:
            continue
        kept.append(step)
    return "[[steps]]".join([head, *kept])


async def test_a_dissenter_on_not_well_founded_keeps_its_finding_and_does_not_escalate(tmp_path):
    text = _without_cai_steps_after_findings(clearview_text("clearview-dissent"))
    case, procedure = load_case(write_case(tmp_path, text))
    result = await simulate.run(case, procedure)
    [started] = of(result, ev.EscalationStarted)
    assert started.authorities == ["opc", "oipc-bc", "oipc-ab"]
    cai = result.tracks["cai-qc"]
    assert cai.finding == "not-well-founded" and cai.status.value == "closed"
    assert cai.outcome.startswith("not-well-founded")
    [closed] = [e for e in of(result, ev.TrackClosed) if e.authority == "cai-qc"]
    assert closed.on.date() == started.on.date()
    # cai-qc issued no order and ran no clock of its own; the others escalated and ordered.
    assert not [e for e in of(result, ev.OrderIssued) if e.authority == "cai-qc"]
    assert not [d for d in result.deadlines if d.authority == "cai-qc"]
    assert {e.authority for e in of(result, ev.OrderIssued)} == {"oipc-bc", "oipc-ab"}
    for aid in ("opc", "oipc-bc", "oipc-ab"):
        assert result.tracks[aid].finding == "well-founded", aid
    assert result.stage == "closed"


EXTENSIONS = """
[[steps]]
on = 2021-10-01
by = "oipc-ab"
action = "extend-deadline"
deadline = "inquiry"
authority = "oipc-ab"
added = 30
reason = "Complex inquiry: representations from several parties."
notified = ["respondent", "opc"]
anticipated_completion = 2022-01-31

[[steps]]
on = 2021-10-01
by = "oipc-bc"
action = "extend-deadline"
deadline = "oipc-bc:inquiry"
added = 20
reason = "The parties asked for more time."
notified = ["respondent"]
"""


async def test_case_file_steps_name_a_clock_by_rule_and_authority(tmp_path):
    text = clearview_text("clearview-named-clocks")
    at = text.index("[[steps]]\non = 2021-12-07")
    case, procedure = load_case(write_case(tmp_path, text[:at] + EXTENSIONS.lstrip() + "\n" + text[at:]))
    result = await simulate.run(case, procedure)
    extended = {e.deadline_id: e for e in of(result, ev.DeadlineExtended)}
    for aid, added in (("oipc-ab", 30), ("oipc-bc", 20)):
        clock = deadline(result, aid, "inquiry")
        assert clock.deadline_id.startswith(f"{aid}:inquiry:")
        e = extended[clock.deadline_id]
        assert e.by == aid and e.on.date() == date(2021, 10, 1)
        assert e.due > e.previous and clock.extensions == 1
        specs = procedure.calendars
        rule = procedure.deadline_rule(aid, "inquiry")
        assert e.previous == due_date(rule, clock.trigger, specs)
        assert e.due == extended_due(rule, e.previous, added=added, specs=specs)
    assert result.stage == "closed"


# ------------------------------------------------------------------ many case files in one call (a forecast)

# Cases of several tracks first: each of their tracks completes just after the joint record, which on a shared
# test server held its clock for good (the next case hung) until simulate released it.
FORECAST = [ROOT / "cases" / n for n in ("corvid-maps.toml", "lumen-social.toml", "rcmp.toml")]


def enforce_cli(data: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "ENFORCE_DATA_DIR": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "enforce.main", *args], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


@pytest.mark.timeout(900)
async def test_many_case_files_in_one_call_give_what_each_gives_alone_and_the_deadlines_per_month(tmp_path):
    done = enforce_cli(tmp_path / "data", "simulate", *map(str, FORECAST), "-o", "json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)

    # Each case simulated alone, on a server of its own (one call, one case): the same outcome, and the deadlines
    # counted here.
    months: dict[str, dict[str, int]] = {}
    for path, got in zip(FORECAST, found["cases"], strict=True):
        case, procedure = load_case(path, forecast=True)
        alone = await simulate.run(case, procedure)
        assert (got["file"], got["slug"], got["stage"]) == (str(path), alone.slug, alone.stage)
        assert got["events"] == len(alone.events) and got["error"] == ""
        assert got["outcomes"] == {a: t.outcome for a, t in alone.tracks.items() if t.outcome}
        due = [d for d in alone.deadlines if d.status != "cancelled"]
        assert got["deadlines"] == len(due) > 0
        for d in due:
            month = months.setdefault(d.due.strftime("%Y-%m"), {})
            month[d.authority] = month.get(d.authority, 0) + 1
    assert found["deadlines_per_month"] == dict(sorted(months.items()))
    assert set(found["authorities"]) == {a for m in months.values() for a in m}

    # Progress on stderr, not a terminal here: one plain line per case, no escape codes.
    lines = done.stderr.strip().splitlines()
    assert "\x1b" not in done.stderr and "\r" not in done.stderr
    assert [line.split("] ")[1].split(" ")[0] for line in lines] == [f"{i}/3" for i in (1, 2, 3)]
    assert all(str(p) in line and line.endswith(": closed") for p, line in zip(FORECAST, lines, strict=True))


async def test_a_folder_of_case_files_prints_each_case_and_the_month_table(tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "rcmp.toml").write_text((ROOT / "cases" / "rcmp.toml").read_text())
    (folder / "notes.txt").write_text("not a case file")
    done = enforce_cli(tmp_path / "data", "simulate", str(folder))
    assert done.returncode == 0, done.stderr
    assert "rcmp" in done.stdout and "closed" in done.stdout
    assert "Deadlines per month" in done.stdout and "opc" in done.stdout
    case, procedure = load_case(ROOT / "cases" / "rcmp.toml", forecast=True)
    for d in (await simulate.run(case, procedure)).deadlines:
        assert d.due.strftime("%Y-%m") in done.stdout


def rcmp_variant(tmp_path: Path, slug: str, edit) -> Path:
    text = (ROOT / "cases" / "rcmp.toml").read_text().replace('slug = "rcmp"', f'slug = "{slug}"', 1)
    return write_case(tmp_path, edit(text), f"{slug}.toml")


def same_as_alone(got: simulate.SimulationResult, alone: simulate.SimulationResult) -> None:
    """What a forecast shows of a case, and more: the record event by event (its day), every clock, every track."""
    assert got.slug == alone.slug and got.stage == alone.stage
    assert [(e.seq, e.type, e.on.date()) for e in got.events] == [(e.seq, e.type, e.on.date()) for e in alone.events]
    assert [d.model_dump() for d in got.deadlines] == [d.model_dump() for d in alone.deadlines]
    assert {a: t.model_dump() for a, t in got.tracks.items()} == {a: t.model_dump() for a, t in alone.tracks.items()}


async def test_cases_after_a_refused_and_an_unfinished_one_on_one_server_give_what_they_give_alone(tmp_path):
    refused = rcmp_variant(
        tmp_path, "rcmp-refused", lambda t: t.replace('recommendation = "R2"', 'recommendation = "R9"')
    )
    unfinished = rcmp_variant(tmp_path, "rcmp-unfinished", lambda t: t[: t.index("[[steps]]\non = 2022-06-10")])
    files = [FORECAST[1], refused, unfinished, FORECAST[0]]
    cases = [load_case(f, forecast=True) for f in files]
    seen: dict[str, list] = {}

    async def on_the_server(client):
        """After the last case, before the call's one server stops: every case's records, from its one client."""
        for case, _ in cases:
            ids = [investigations.workflow_id(case.slug)] + [
                investigations.track_id(case.slug, a) for a in case.authorities
            ]
            seen[case.slug] = [await client.get_workflow_handle(wid).describe() for wid in ids]

    results = await simulate.run_many(cases, before_shutdown=on_the_server)

    assert isinstance(results[1], simulate.SimulationError)
    assert str(results[1]).startswith("steps[4] (2022-06-10 verify-recommendation by opc): recommendation: 'R9'")
    for (case, procedure), got in zip(cases, results, strict=True):
        if isinstance(got, simulate.SimulationError):
            with pytest.raises(simulate.SimulationError) as alone:
                await simulate.run(case, procedure)
            assert str(alone.value) == str(got)
        else:
            same_as_alone(got, await simulate.run(case, procedure))
    assert results[2].stage not in ("closed", None) and results[2].state.next_deadline is None  # ran out of clocks

    # One server: all the cases' records are on it at the end, one after another on its one clock, on one queue.
    closed = {c.slug: getattr(r, "stage", None) == "closed" for (c, _), r in zip(cases, results, strict=True)}
    for slug, records in seen.items():
        want = "COMPLETED" if closed[slug] else "TERMINATED"  # ended, so as not to run on under the next case
        assert [r.status.name for r in records] == [want] * len(records), slug
        assert {r.task_queue for r in records} == {simulate.QUEUE}
    spans = [(min(r.start_time for r in seen[c.slug]), max(r.close_time for r in seen[c.slug])) for c, _ in cases]
    assert all(end <= nxt_start for (_, end), (nxt_start, _) in zip(spans, spans[1:], strict=False))


def test_progress_on_a_terminal_is_one_bar_redrawn_in_place(tmp_path):
    """stderr a terminal (a pty): the bar is redrawn with carriage returns, steps shown, one line at the end."""
    leader, follower = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {**os.environ, "ENFORCE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    files = [str(FORECAST[2]), str(FORECAST[0])]
    done = subprocess.run(
        [sys.executable, "-m", "enforce.main", "simulate", *files, "-o", "json"], env=env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=follower, timeout=600,
    )  # fmt: skip
    os.close(follower)
    reader.join(10)
    os.close(leader)
    shown = b"".join(chunks).decode().replace("\r\n", "\n")  # the terminal's own line ends
    assert done.returncode == 0, shown
    assert json.loads(done.stdout)["cases"][1]["stage"] == "closed"
    redraws = shown.split("\r")
    assert len(redraws) > 10  # each step of each case redrawn on the one line
    assert any("verify-recommendation by opc" in r for r in redraws)
    assert shown.count("\n") == 1 and shown.endswith("\n")  # one line, ended once the last case is done
    assert "] 2/2 " in redraws[-1] and redraws[-1].rstrip().endswith(f"{files[1]}: closed")
    assert any("] 1/2 " in r and r.rstrip().endswith(f"{files[0]}: closed") for r in redraws)


BAD_EDITS = [
    # (what is replaced in rcmp.toml, by what, the field the error names)
    ("opened = 2020-02-28", "opened = 1890-02-28", "opened"),
    ('action = "draft-findings"', 'action = "draft-finding"', "steps[0]"),
    ('authorities = ["opc"]', 'authorities = ["opc", "nobody"]', "authorities"),
]


@pytest.mark.parametrize(("old", "new", "field"), BAD_EDITS)
def test_a_bad_file_among_many_is_one_line_naming_it_and_nothing_runs(tmp_path, old, new, field):
    text = (ROOT / "cases" / "rcmp.toml").read_text()
    assert old in text
    bad = write_case(tmp_path, text.replace(old, new, 1).replace('slug = "rcmp"', 'slug = "rcmp-bad"'), "bad.toml")
    data = tmp_path / "data"
    done = enforce_cli(data, "simulate", str(FORECAST[0]), str(bad), str(FORECAST[1]))
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {bad}: {field}"), line
    assert done.stdout == ""
    assert not (data / "simulations").exists()  # no case ran, not even the good one before it


def test_two_files_of_one_slug_are_refused_before_any_runs(tmp_path):
    first = ROOT / "cases" / "rcmp.toml"
    copy = write_case(tmp_path, first.read_text(), "again.toml")
    done = enforce_cli(tmp_path / "data", "simulate", str(first), str(copy))
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line == f"error: {copy}: slug: 'rcmp' is also the slug of {first}"
    assert not (tmp_path / "data" / "simulations").exists()
