"""Paperwork: the documents a simulated Clearview case leaves (one per served notice, each with its hash in the
record), the joint report of findings rendered from its record, and the `notices`/`report` commands."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.worker import Worker

import worker as enforce_worker
from domain.state import InvestigationState
from enforce import codec, investigations, simulate
from enforce.cases import load_case
from enforce.paperwork import ReportError, render_report, write_atomic
from tests.casefiles import clearview_text, procedure, simulate_text, write_case
from tests.live import enforce

FILES = ["PIPEDA-039525", "1023158", "P20-81997", "015017"]
SECTIONS = [
    "## Overview",
    "## Background",
    "## Issues",
    "## Findings",
    "## Recommendations and the respondent's response",
    "## Next steps and outcomes",
    "## Deadlines",
    "## Notices served",
    "## Timeline",
]


@pytest.fixture(scope="module")
async def simulated(tmp_path_factory: pytest.TempPathFactory) -> simulate.SimulationResult:
    """The Clearview case file, simulated to its end (once for this module), under a slug of its own."""
    slug = f"clearview-{uuid.uuid4().hex[:6]}"
    tmp = tmp_path_factory.mktemp("report")
    return await simulate_text(clearview_text(slug), tmp, f"{slug}.toml")


def data_dir_of(result: simulate.SimulationResult) -> Path:
    return Path(getattr(result, "data_dir", "") or Path(os.environ["ENFORCE_DATA_DIR"]) / "simulations" / result.slug)


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    nxt = text.find("\n## ", start + len(heading))
    return text[start : nxt if nxt != -1 else len(text)]


@pytest.mark.timeout(120)
async def test_simulating_leaves_one_document_per_served_notice_with_its_hash_in_the_record(simulated):
    served = [e for e in simulated.events if e.type == "NoticeServed"]
    failed = [e for e in simulated.events if e.type == "NoticeFailed"]
    assert served and not failed
    documents = data_dir_of(simulated) / "documents"
    assert sorted(p.stem for p in documents.glob("*.md")) == sorted(e.notice_id for e in served)
    assert sorted(p.stem for p in documents.glob("*.html")) == sorted(e.notice_id for e in served)
    for e in served:
        md = documents / f"{e.notice_id}.md"
        assert Path(e.document) == md
        assert hashlib.sha256(codec.read_file(md)).hexdigest() == e.sha256, e.notice_id
        assert e.message_id == f"<{e.notice_id}@enforce>"
    # The record's list of notices says the same.
    assert {n.notice_id: n.sha256 for n in simulated.state.notices} == {e.notice_id: e.sha256 for e in served}
    # The CAI's own notices are in French; joint ones in English.
    [cai_order] = [e for e in served if e.kind == "order" and e.senders == ["cai-qc"]]
    assert codec.read_file(Path(cai_order.document)).decode().startswith("# Décision 1023158-S")
    [joint] = [e for e in served if e.kind == "notice-of-investigation"]
    assert codec.read_file(Path(joint.document)).decode().startswith("# Notice of investigation")


@pytest.mark.timeout(120)
async def test_the_report_reads_like_the_joint_report_of_findings(simulated):
    state, events = simulated.state, simulated.events
    text = render_report(state, events, procedure(), "md")
    assert text.startswith(f"# Report of findings: {state.title}\n")
    positions = [text.index(h) for h in SECTIONS]
    assert positions == sorted(positions), "sections out of order"

    for number in FILES:
        assert number in section(text, "# Report of findings")  # the parties' table, before the overview
    assert "Clearview AI, Inc." in section(text, "## Background")
    assert "2020-07-06" in section(text, "## Background")  # the voluntary measure, which closed nothing
    assert "biometric facial arrays" in section(text, "## Issues")

    findings = section(text, "## Findings")
    for name in (
        "Office of the Privacy Commissioner of Canada",
        "Commission d'accès à l'information du Québec",
        "Office of the Information and Privacy Commissioner for British Columbia",
        "Office of the Information and Privacy Commissioner of Alberta",
    ):
        block = findings[findings.index(f"### {name}") :].split("\n### ")[0]
        assert "**well-founded**" in block, name
    assert "concurred" in findings

    recs = section(text, "## Recommendations and the respondent's response")
    rows = [line for line in recs.splitlines() if re.match(r"\| R\d ", line)]
    assert [r.split("|")[1].strip() for r in rows] == ["R1", "R2", "R3"]
    assert all("refused" in r for r in rows)

    outcomes = section(text, "## Next steps and outcomes")
    for aid, track in state.tracks.items():
        assert track.outcome and track.outcome in outcomes, aid
    for order, status in (("P21-08", "upheld"), ("P2021-12", "upheld"), ("1023158-S", "defaulted")):
        assert re.search(rf"\*\*Order {re.escape(order)}\*\* of [0-9-]+.*\*\*{status}\*\*", outcomes), order
    assert "2024 BCSC 2311" in outcomes and "2026 BCCA 67" in outcomes and "2025 ABKB 287" in outcomes

    deadlines = section(text, "## Deadlines")
    [bc] = [line for line in deadlines.splitlines() if line.startswith("- **BC PIPA s.53")]
    # The BC order's compliance date, then the judicial review that stopped its clock, then the restart.
    assert bc.index("due 2022-01-25") < bc.index("paused on 2022-01-20") < bc.index("resumed on 2024-12-18")

    timeline = section(text, "## Timeline")
    dates = re.findall(r"^\| (\d{4}-\d{2}-\d{2}) \|", timeline, flags=re.M)
    assert dates == sorted(dates) and dates[0] == "2020-02-21" and len(dates) > 30
    assert "Investigation closed" in timeline
    # Coordination between the authorities stays out of a report the respondent reads.
    assert "draft-findings" not in section(text, "## Notices served")


@pytest.mark.timeout(120)
async def test_the_html_report_is_a_page_made_from_the_same_text_with_everything_escaped(simulated):
    state = simulated.state.model_copy(update={"title": "Clearview <script>alert(1)</script> & Co"})
    page = render_report(state, simulated.events, procedure(), "html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<h2>Findings</h2>" in page and "<table>" in page and "P20-81997" in page
    assert "<script>" not in page and "&lt;script&gt;" in page and "&amp; Co" in page


@pytest.mark.timeout(10)
def test_an_unknown_format_is_refused_naming_the_option():
    with pytest.raises(ReportError, match="--format"):
        render_report(InvestigationState(slug="x"), [], None, "pdf")


@pytest.mark.timeout(10)
def test_a_failed_write_leaves_the_previous_report_whole(tmp_path, monkeypatch):
    target = tmp_path / "report.md"
    target.write_text("the previous report\n")

    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError):
        write_atomic(target, "# a new report\n" * 1000)
    assert target.read_text() == "the previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]
    monkeypatch.undo()
    write_atomic(target, "# a new report\n")
    assert target.read_text() == "# a new report\n"


# ---------------------------------------------------------------- the commands


@pytest.mark.timeout(30)
async def test_report_refuses_an_unknown_format_before_connecting(tmp_path):
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:1", "ENFORCE_DATA_DIR": str(tmp_path)}
    result = await enforce(env, "report", "clearview-ai", "--format", "pdf", "--out", str(tmp_path / "r.pdf"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--format" in lines[0] and "pdf" in lines[0]
    assert not (tmp_path / "r.pdf").exists()


@pytest.fixture
async def opened_case(dev_env, tmp_path, slug) -> AsyncIterator[dict[str, str]]:
    """The Clearview case opened on the dev server with a worker here, its notice of investigation served."""
    queue = f"paperwork-{uuid.uuid4().hex[:6]}"
    case, proc = load_case(write_case(tmp_path, clearview_text(slug), f"{slug}.toml"))
    async with Worker(
        dev_env.client, task_queue=queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
    ):
        await investigations.start(dev_env.client, case, proc, task_queue=queue)
        for _ in range(100):
            if (await investigations.state(dev_env.client, slug)).state.notices:
                break
            await asyncio.sleep(0.1)
        yield {**os.environ, "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host}


@pytest.mark.timeout(120)
async def test_notices_and_report_commands(opened_case, slug, tmp_path):
    env = opened_case
    listed = await enforce(env, "notices", slug, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    [notice] = json.loads(listed.stdout)
    assert notice["kind"] == "notice-of-investigation" and notice["status"] == "served"
    assert notice["channel"] == "outbox" and notice["to"] == "respondent"
    assert hashlib.sha256(codec.read_file(Path(notice["document"]))).hexdigest() == notice["sha256"]

    table = await enforce(env, "notices", slug)
    assert table.returncode == 0, table.stderr
    assert notice["notice_id"] in table.stdout and notice["sha256"][:12] in table.stdout
    assert "1 notices, 0 undelivered" in table.stdout

    for fmt, name in (("md", "report.md"), ("html", "report.html")):
        out = tmp_path / name
        made = await enforce(env, "report", slug, "--format", fmt, "--out", str(out))
        assert made.returncode == 0, made.stderr
        text = out.read_text()
        assert all(number in text for number in FILES)
        assert ("<h2>Overview</h2>" if fmt == "html" else "## Overview") in text
    assert "No findings have been issued yet." in (tmp_path / "report.md").read_text()

    missing = await enforce(env, "report", f"{slug}-nope", "--out", str(tmp_path / "nope.md"))
    assert missing.returncode == 1
    assert len(missing.stderr.strip().splitlines()) == 1 and "no investigation" in missing.stderr
    assert not (tmp_path / "nope.md").exists()
