"""The workflows copy their record to the event store: every event of the joint record and of each track, once,
in seq order, with its chain link, whatever happens to the worker or the store meanwhile."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

import worker as enforce_worker
from domain.chain import GENESIS, link
from domain.events import EVENT_ADAPTER
from domain.state import fold
from enforce import investigations, simulate
from enforce.cases import load_case
from store import Store
from tests.casefiles import clearview_text, write_case
from tests.live import AUTHORITIES, action, open_case, settle, to_recommendations
from workflows.messages import track_id, workflow_id

pytestmark = pytest.mark.timeout(300)


def records_of(slug: str) -> list[str]:
    return sorted([workflow_id(slug)] + [track_id(slug, a) for a in AUTHORITIES])


async def closed_records(client: Client, slug: str) -> dict[str, list[dict]]:
    """Once every workflow of the case has completed (so settled its copy), each one's own `events` answer."""
    out = {}
    for wid in records_of(slug):
        handle = client.get_workflow_handle(wid)
        await asyncio.wait_for(handle.result(), 120)
        view = await investigations.events(client, slug, record=wid)
        out[wid] = [e.model_dump(mode="json") for e in view.events]
    return out


def assert_stored_once(store: Store, slug: str, live: dict[str, list[dict]]) -> int:
    """The store holds exactly the records' events: seqs 1..n, each once, chained, equal to the workflows'."""
    assert store.records(slug) == records_of(slug)
    total = 0
    for wid, events in live.items():
        rows = store.read(wid)
        assert [r.seq for r in rows] == list(range(1, len(rows) + 1)), wid
        prev = GENESIS
        for r in rows:
            prev = link(prev, r.body)
            assert r.link == prev, f"{wid} event {r.seq}: the chain breaks"
        assert events[0]["seq"] == 1, f"{wid}: its run no longer holds its first event"
        assert [r.body for r in rows] == events, wid
        total += len(rows)
    return total


async def stored_in_full(stored: Store, counts: dict[str, int], seconds: float) -> dict[str, list]:
    """Each record's stored rows once the store holds `counts[record]` of them (waiting up to `seconds` for the
    copies), checked to be seqs 1..n."""
    for _ in range(int(seconds * 10)):
        if all(len(stored.read(wid)) == n for wid, n in counts.items()):
            break
        await asyncio.sleep(0.1)
    found = {wid: stored.read(wid) for wid in counts}
    for wid, n in counts.items():
        assert [r.seq for r in found[wid]] == list(range(1, n + 1)), wid
    return found


async def test_a_case_run_to_closure_leaves_every_event_in_the_store_once(tmp_path):
    slug = "stored-clearview"
    case, proc = load_case(write_case(tmp_path, clearview_text(slug), f"{slug}.toml"))
    live: dict[str, list[dict]] = {}

    async def keep(client: Client) -> None:
        live.update(await closed_records(client, slug))

    saved = dict(os.environ)
    try:
        result = await simulate.run(case, proc, before_shutdown=keep)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert result.stage == "closed"
    store = Store(f"sqlite:///{Path(result.data_dir) / 'record.db'}")
    total = assert_stored_once(store, slug, live)
    joint = store.read(workflow_id(slug))
    assert fold(EVENT_ADAPTER.validate_python(r.body) for r in joint) == result.state
    assert len(joint) == result.events[-1].seq == len(result.events)
    print(f"store: {total} events in {len(live)} records, each once, chains intact")


async def _steps(env, client, case, steps, record) -> None:
    from domain.actions import parse_action

    for step in steps:
        until = datetime.combine(step.on, simulate.STEP_TIME, tzinfo=UTC)
        await simulate._advance(env, client, case, until, record)
        await investigations.act(client, case.slug, parse_action(step.action, {"by": step.by, **step.fields()}))


async def caught_up(store: Store, seqs: dict[str, int]) -> None:
    for _ in range(300):
        if all(len(store.read(wid)) == n for wid, n in seqs.items()):
            return
        await asyncio.sleep(0.1)


async def last_seqs(client: Client, slug: str) -> dict[str, int]:
    joint = await investigations.state(client, slug)
    tracks = await investigations.track_states(client, slug, AUTHORITIES)
    return {workflow_id(slug): joint.events} | {track_id(slug, a): v.events for a, v in tracks.items()}


async def test_a_store_outage_delays_the_copy_and_never_the_case(running, monkeypatch, tmp_path):
    _, client, slug = running
    url = os.environ.get("ENFORCE_RECORD_URL") or f"sqlite:///{Path(os.environ['ENFORCE_DATA_DIR']) / 'record.db'}"
    # The store moves to where a folder stands: it cannot be opened until the folder goes. What it held so far
    # (a prefix of each record's chain) is kept aside, to be put there then.
    down, kept = tmp_path / "down.db", tmp_path / "kept.db"
    with sqlite3.connect(url.removeprefix("sqlite:///")) as src, sqlite3.connect(kept) as dst:
        src.backup(dst)
    down.mkdir()
    monkeypatch.setenv("ENFORCE_RECORD_URL", f"sqlite:///{down}")
    opened = await last_seqs(client, slug)
    for n in range(3):
        await investigations.act(client, slug, action("request-information", by="opc", items=[f"item {n}"]))
    # Not `settle`: a record is not quiet while its events wait for the store, and the store is down. The
    # case has moved on once every record's count stands still for a second.
    now, before = await last_seqs(client, slug), None
    while now != before:
        await asyncio.sleep(1)
        before, now = now, await last_seqs(client, slug)
    assert sum(now.values()) > sum(opened.values())  # the case went on while the store was down
    await asyncio.sleep(2)  # the copies are retried meanwhile, and fail
    down.rmdir()
    shutil.move(kept, down)
    stored = Store(f"sqlite:///{down}")
    for wid, rows in (await stored_in_full(stored, now, 60)).items():
        live = (await investigations.events(client, slug, record=wid)).events
        assert [r.body for r in rows] == [e.model_dump(mode="json") for e in live], wid


async def test_a_record_that_continues_as_new_goes_on_storing_each_event_once(
    short_history_env, task_queue, tmp_path, slug
):
    client = short_history_env.client
    async with Worker(
        client, task_queue=task_queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
    ):
        await open_case(client, task_queue, tmp_path, slug, indexed=True)
        first_run = (await client.get_workflow_handle(workflow_id(slug)).describe()).run_id
        await to_recommendations(client, slug, [{"id": "R1", "text": "Stop."}])
        await investigations.act(
            client, slug, action("answer-recommendations", by="respondent", answers={"R1": "refused"})
        )
        await settle(client, slug)
        assert (await client.get_workflow_handle(workflow_id(slug)).describe()).run_id != first_run
        now = await last_seqs(client, slug)
        for wid, rows in (await stored_in_full(Store(), now, 30)).items():
            prev = GENESIS
            for r in rows:
                prev = link(prev, r.body)
                assert r.link == prev, f"{wid} event {r.seq}: the chain breaks"
