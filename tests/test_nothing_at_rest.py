"""Issue 12's "done when": after a demo-like live run on the dev stack `enforce dev up` starts and a simulated
run of the same case file, nothing on disk holds the respondent's name, a recommendation's text, an evidence
description or an email address: not Temporal's SQLite database (with its WAL), not the server's, worker's and
codec server's logs, not the document store, the outbox or the simulation's files. `enforce show`, `enforce
report` and `enforce notices --document` still show them, read through the key set."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from domain.actions import parse_action
from enforce import codec, investigations
from enforce.cases import load_case
from tests.casefiles import ROOT, clearview_text, write_case
from tests.live import settle
from tests.test_dev import env_for, free_ports, kill_leftovers, run

pytestmark = pytest.mark.timeout(300)

NAME = "Clearview AI, Inc."
R1 = "Cease offering facial recognition services to clients in Canada."
VOLUNTARY = """action = "record-voluntary-measure"
description = "Stopped offering its services in Canada and suspended its last Canadian client (RCMP)."
"""


def case_text(slug: str, words: dict[str, str]) -> str:
    """The Clearview case file with an email address for the respondent, an evidence step and a tagged first
    recommendation: the strings no file at rest may hold."""
    text = clearview_text(slug)
    text = text.replace('channel = "outbox"', f'channel = "outbox"\nemail = "{words["email"]}"', 1)
    assert VOLUNTARY in text and R1 in text
    evidence = (
        f'\n[[steps]]\non = 2020-07-07\nby = "opc"\naction = "record-evidence"\n'
        f'description = "{words["evidence"]}"\npurpose = "the joint investigation"\n'
    )
    return text.replace(VOLUNTARY, VOLUNTARY + evidence, 1).replace(R1, words["recommendation"], 1)


def cli(data: Path, port: int, *args: str) -> subprocess.CompletedProcess:
    env = env_for(data) | {"TEMPORAL_ADDRESS": f"localhost:{port}"}
    return subprocess.run(
        [sys.executable, "-m", "enforce.main", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180
    )


async def test_nothing_of_the_case_on_disk_after_a_live_and_a_simulated_run(tmp_path_factory, monkeypatch):
    data = tmp_path_factory.mktemp("at-rest")
    tag = uuid.uuid4().hex[:8]
    slug = f"clearview-{tag}"
    words = {
        "name": NAME,
        "email": f"privacy-office-{tag}@clearview.example",
        "recommendation": f"Cease offering facial recognition services to clients in Canada ({tag}).",
        "evidence": f"Crawler logs of the scraped image index, seized {tag}",
    }
    casefile = write_case(tmp_path_factory.mktemp("case"), case_text(slug, words), f"{slug}.toml")
    case, _ = load_case(casefile)
    port, ui_port, codec_port = free_ports(3)
    try:
        up = run(data, "up", "--port", str(port), "--ui-port", str(ui_port), "--codec-port", str(codec_port))
        assert up.returncode == 0, up.stdout + up.stderr

        # The live run, as `enforce dev demo` plays a case: open it, then each scripted step, settling between.
        opened = cli(data, port, "open", str(casefile))
        assert opened.returncode == 0, opened.stderr
        # The acts below are signed here, by the users `enforce dev up` made for this stack's keyring.
        monkeypatch.setenv("ENFORCE_USER_KEYS", env_for(data)["ENFORCE_USER_KEYS"])
        keys = codec.KeySet.from_json((data / "keys" / "codec-keys.json").read_text())
        client = await Client.connect(f"localhost:{port}", data_converter=codec.data_converter(keys))
        await settle(client, slug)
        for step in case.steps:
            await investigations.act(client, slug, parse_action(step.action, {"by": step.by, **step.fields()}))
            await settle(client, slug)
            if step.action == "issue-recommendations":
                break
        simulated = cli(data, port, "simulate", str(casefile), "-o", "json")
        assert simulated.returncode == 0, simulated.stderr
        assert words["recommendation"] in simulated.stdout
        # Its evidence sealed by the simulation's own users, for keys kept nowhere once it ends.
        assert words["evidence"] not in simulated.stdout and '"description": "sealed:1:' in simulated.stdout

        # The same strings, shown to a holder of the key set.
        show = cli(data, port, "show", slug, "-o", "json")
        report = cli(data, port, "report", slug)
        assert show.returncode == 0 and report.returncode == 0, show.stderr + report.stderr
        assert words["email"] in show.stdout and words["evidence"] not in show.stdout
        as_opc = cli(data, port, "show", slug, "--as", "opc", "-o", "json")  # its holder's key opens the evidence
        assert as_opc.returncode == 0 and words["evidence"] in as_opc.stdout, as_opc.stderr
        assert NAME in report.stdout and words["recommendation"] in report.stdout
        rows = json.loads(cli(data, port, "notices", slug, "-o", "json").stdout)
        [findings] = [r for r in rows if r["kind"] == "report-of-findings" and r["to"] == "respondent"]
        document = cli(data, port, "notices", slug, "--document", findings["notice_id"])
        assert NAME in document.stdout and words["recommendation"] in document.stdout, document.stderr
    finally:
        run(data, "down")
        kill_leftovers(data)

    db = [data / "temporal.db", data / "temporal.db-wal"]
    logs = [data / "temporal.log", data / "worker.log", data / "codec.log"]
    for path in (*db[:1], *logs):
        assert path.is_file() and path.stat().st_size > 0, path
    files = [p for p in data.rglob("*") if p.is_file()]
    stored = [p for p in files if "documents" in p.parts or "outbox" in p.parts]
    assert any("simulations" in p.parts for p in stored), "the simulation filed no notice"
    assert len(stored) >= 6
    # The right database: it holds the case's ids in clear.
    assert any(slug.encode() in p.read_bytes() for p in data.glob("temporal.db*"))
    found = {
        what: [str(p.relative_to(data)) for p in files if word.encode() in p.read_bytes()]
        for what, word in words.items()
    }
    assert found == {what: [] for what in words}, found
    assert data.stat().st_mode & 0o777 == 0o700
    for path in data.glob("temporal.db*"):
        assert path.stat().st_mode & 0o777 == 0o600, path
