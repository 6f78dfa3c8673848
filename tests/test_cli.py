"""The CLI as a user runs it: a subprocess against a real dev server with the project's search attributes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.casefiles import ROOT, clearview_text, write_case
from tests.live import enforce
from workflows import search_attributes

pytestmark = pytest.mark.timeout(120)


async def show_json(env: dict[str, str], slug: str) -> dict:
    for _ in range(50):
        result = await enforce(env, "show", slug, "-o", "json")
        assert result.returncode == 0, result.stderr
        view = json.loads(result.stdout)
        if view["state"]["notices"]:
            return view
        await asyncio.sleep(0.2)
    raise AssertionError("the notice of investigation was never served")


async def test_open_then_show(cli_env, tmp_path, slug):
    path = write_case(tmp_path, clearview_text(slug))
    opened = await enforce(cli_env, "open", str(path))
    assert opened.returncode == 0, opened.stderr
    assert f"investigation-{slug}" in opened.stdout
    assert f"/namespaces/default/workflows/investigation-{slug}" in opened.stdout

    view = await show_json(cli_env, slug)
    assert view["state"]["stage"] == "investigating"
    [notice] = view["state"]["notices"]
    assert notice["status"] == "served" and notice["kind"] == "notice-of-investigation"

    table = await enforce(cli_env, "show", slug)
    assert table.returncode == 0, table.stderr
    for expected in ("Clearview AI, Inc.", "investigating", "P20-81997", "notice-of-investigation", "served"):
        assert expected in table.stdout


async def test_opening_an_open_case_again_names_it_and_starts_nothing(cli_env, dev_env, tmp_path, slug):
    path = write_case(tmp_path, clearview_text(slug))
    assert (await enforce(cli_env, "open", str(path))).returncode == 0
    again = await enforce(cli_env, "open", str(path))
    assert again.returncode == 1
    assert f"investigation-{slug} already exists (open" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1

    quiet = await enforce(cli_env, "open", str(path), "--if-absent")
    assert quiet.returncode == 0 and "already exists" in quiet.stdout

    runs = [w async for w in dev_env.client.list_workflows(f'WorkflowId = "investigation-{slug}"')]
    assert len(runs) == 1


async def test_search_attributes_and_summary_are_set(cli_env, dev_env, tmp_path, slug):
    path = write_case(tmp_path, clearview_text(slug))
    assert (await enforce(cli_env, "open", str(path))).returncode == 0
    await show_json(cli_env, slug)
    query = f'WorkflowId = "investigation-{slug}" AND InvestigationStage = "investigating" AND LeadAuthority = "opc"'
    for _ in range(50):
        found = [w async for w in dev_env.client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.2)
    assert found, "visibility never showed the case with its stage"
    sa = found[0].typed_search_attributes
    assert sorted(sa.get(search_attributes.AUTHORITIES)) == ["cai-qc", "oipc-ab", "oipc-bc", "opc"]
    assert sa.get(search_attributes.RESPONDENT) is None  # case content: in no search attribute nor memo
    desc = await dev_env.client.get_workflow_handle(f"investigation-{slug}").describe()
    assert await desc.memo() == {}
    assert await desc.static_summary() == "Joint investigation of Clearview AI, Inc.: OPC (lead), CAI, OIPC BC, OIPC AB"


async def test_show_of_an_unknown_case_is_one_line(cli_env):
    result = await enforce(cli_env, "show", "no-such-case")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "no investigation 'no-such-case'" in result.stderr


async def test_unreachable_temporal_is_one_line_with_the_way_out(tmp_path):
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:1", "ENFORCE_DATA_DIR": str(tmp_path)}
    result = await enforce(env, "show", "clearview-ai")
    assert result.returncode == 1
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert "127.0.0.1:1" in line and "enforce dev up" in line


async def test_exit_status_is_the_one_meant_every_time(cli_env, tmp_path, slug):
    """sdk-python#300: a process that used a client or worker can abort at exit with status 134."""
    path = write_case(tmp_path, clearview_text(slug))
    assert (await enforce(cli_env, "open", str(path))).returncode == 0
    results = await asyncio.gather(*[enforce(cli_env, "show", slug, "-o", "json") for _ in range(12)])
    assert [r.returncode for r in results] == [0] * 12
    misses = await asyncio.gather(*[enforce(cli_env, "show", "no-such-case") for _ in range(6)])
    assert [r.returncode for r in misses] == [1] * 6


def test_worker_stops_cleanly_on_sigterm_with_status_0(cli_env):
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker"],
            env={**cli_env, "ENFORCE_LOG_FORMAT": "json"},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started = time.monotonic()
        line = ""
        while "worker started" not in line and time.monotonic() - started < 30:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "the worker exited before it started"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "worker stopped" in err


async def test_export_then_verify_round_trip(cli_env, tmp_path, slug):
    path = write_case(tmp_path, clearview_text(slug))
    assert (await enforce(cli_env, "open", str(path))).returncode == 0
    await show_json(cli_env, slug)
    out = tmp_path / "record.jsonl"
    exported = await enforce(cli_env, "export", slug, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    *records, head = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["type"] == "InvestigationOpened" and [r["seq"] for r in records] == list(
        range(1, len(records) + 1)
    )
    assert head["case"] == slug and head["record"] == f"investigation-{slug}" and head["events"] == len(records)
    assert head["last_hash"] == records[-1]["hash"] == head["prev"]
    verified = await enforce(cli_env, "verify", str(out))
    assert verified.returncode == 0 and "chain intact" in verified.stdout
    assert "matches the live record" in verified.stdout
    timeline = await enforce(cli_env, "timeline", slug)
    assert timeline.returncode == 0 and "InvestigationOpened" in timeline.stdout
