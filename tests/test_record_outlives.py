"""The case record outlives its workflows: the Clearview case run live to closure, every workflow of it deleted
with the stock `temporal` CLI, and `enforce report`, `export` + `verify`, `show --as-of` and `timeline` give
the same answers from the event store as they gave before."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from temporalio.service import RPCError, RPCStatusCode

from domain.actions import parse_action
from enforce import investigations
from tests.casefiles import clearview_text, write_case
from tests.live import AUTHORITIES, enforce, settle
from tests.test_stock_cli import temporal
from workflows.messages import track_id, workflow_id

pytestmark = pytest.mark.timeout(300)


async def answers(env: dict[str, str], slug: str, tmp, name: str) -> dict:
    out = tmp / f"{name}.jsonl"
    results = {
        "report": await enforce(env, "report", slug),
        "export": await enforce(env, "export", slug, "--out", str(out)),
        "verify": await enforce(env, "verify", str(out)),
        "show": await enforce(env, "show", slug, "--as-of", "2022-01-01", "-o", "json"),
        "timeline": await enforce(env, "timeline", slug),
        "track": await enforce(env, "timeline", slug, "--until", "2021-02-02", "-o", "json"),
    }
    for what, r in results.items():
        assert r.returncode == 0, f"{what}: {r.stderr}"
    lines = out.read_text().splitlines()
    head = json.loads(lines[-1])
    head.pop("exported_at"), head.pop("hash")
    return {
        "report": results["report"].stdout,
        "export": (lines[:-1], head),
        "verify": "chain intact, head matches" in results["verify"].stdout,
        "show": json.loads(results["show"].stdout),
        "timeline": results["timeline"].stdout,
        "until": json.loads(results["track"].stdout),
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def store_env(request, cli_env, monkeypatch) -> dict[str, str]:
    """The CLI's environment with the event store of this run: the session's SQLite file, or a fresh PostgreSQL
    database of the session's private cluster. The session's worker (this process) reads the same setting."""
    if request.param == "sqlite":
        return cli_env
    url = request.getfixturevalue("postgres_db")
    monkeypatch.setenv("ENFORCE_RECORD_URL", url)
    return {**cli_env, "ENFORCE_RECORD_URL": url}


async def test_the_file_reads_the_same_once_its_workflows_are_deleted(store_env, dev_env, tmp_path, slug):
    cli_env = store_env
    client = dev_env.client
    path = write_case(tmp_path, clearview_text(slug), f"{slug}.toml")
    assert (await enforce(cli_env, "open", str(path))).returncode == 0
    await settle(client, slug)
    from enforce.cases import load_case

    case, _ = load_case(path)
    for step in case.steps:
        await investigations.act(client, slug, parse_action(step.action, {"by": step.by, **step.fields()}))
        await settle(client, slug)
    # Live, the clocks do not run years ahead: a track still open when the steps end is closed by its authority.
    for aid in (await investigations.state(client, slug)).state.open_tracks:
        await investigations.act(client, slug, parse_action("close-track", {"by": aid, "outcome": "closed"}))
        await settle(client, slug)
    assert (await investigations.state(client, slug)).state.stage.value == "closed"
    ids = [workflow_id(slug)] + [track_id(slug, a) for a in AUTHORITIES]
    for wid in ids:  # every run has settled its copy to the store when it completes
        await asyncio.wait_for(client.get_workflow_handle(wid).result(), 120)

    before = await answers(cli_env, slug, tmp_path, "before")
    assert before["verify"] and before["export"][1]["events"] == len(before["export"][0])
    # Live, the case clock runs from the opening at the speed of time: the whole case happened on its first day.
    assert before["show"]["state"]["stage"] == "closed" and before["show"]["clock"].startswith("2022-01-01")
    assert all(e["on"][:10] <= "2021-02-02" for e in before["until"]) and before["until"]

    for wid in ids:
        deleted = await temporal(dev_env, "workflow", "delete", "--workflow-id", wid, "--yes")
        assert deleted.returncode == 0, deleted.stderr
    for wid in ids:
        for _ in range(1200):  # deletion is asynchronous on the server: up to 2 minutes on a busy machine
            try:
                await client.get_workflow_handle(wid).describe()
            except RPCError as e:
                if e.status == RPCStatusCode.NOT_FOUND:
                    break
                raise
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"{wid} was not deleted")

    after = await answers(cli_env, slug, tmp_path, "after")
    assert after == before
    early = await enforce(cli_env, "show", slug, "--as-of", "2020-02-20")
    assert early.returncode == 2 and "--as-of" in early.stderr and "not yet open" in early.stderr
    print(f"after deletion: {len(after['export'][0])} events exported alike, report of {len(after['report'])} chars")


@pytest.mark.parametrize(
    ("command", "option", "value", "says"),
    [
        ("show", "--as-of", "2021-13-01", "is not a date"),
        ("show", "--as-of", "1989-12-31", "before 1990-01-01"),
        ("timeline", "--until", "2200-01-01", "after 2199-12-31"),
        ("timeline", "--until", "yesterday", "is not a date"),
    ],
)
async def test_a_bad_date_exits_2_naming_the_option(tmp_path, command, option, value, says):
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:1", "ENFORCE_DATA_DIR": str(tmp_path)}
    result = await enforce(env, command, "clearview-ai", option, value)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith(f"error: {option}:") and says in line
