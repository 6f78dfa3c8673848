"""The event store: the durable copy of every record, append-only, idempotent on (record, seq), chained."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from datetime import datetime, timedelta

import pytest

from domain.chain import GENESIS, chain, link
from domain.events import EVENT_ADAPTER
from domain.state import fold
from enforce import codec
from store import ChainBroken, RecordConflict, Store, StoreUnavailable
from tests.test_policy import act, joint, to_recommendations

RECORD = "investigation-c"


@pytest.fixture
def bodies(tmp_path) -> list[dict]:
    inv, _ = joint(tmp_path)
    to_recommendations(inv)
    act(inv, "answer-recommendations", by="respondent", answers={"R1": "refused", "R2": "accepted"})
    return [e.model_dump(mode="json") for e in inv.events]


def linked(bodies: list[dict]) -> list[tuple[dict, str]]:
    out, prev = [], GENESIS
    for b in bodies:
        prev = link(prev, b)
        out.append((b, prev))
    return out


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'data' / 'record.db'}")


def test_link_is_the_exported_chain(bodies):
    assert [lnk for _, lnk in linked(bodies)] == [json.loads(line)["hash"] for line in chain(bodies)]


def test_append_then_read_gives_the_events_back(store, bodies):
    assert store.append(RECORD, linked(bodies)) == len(bodies)
    rows = store.read(RECORD)
    assert [r.body for r in rows] == bodies
    assert [r.seq for r in rows] == list(range(1, len(bodies) + 1))
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.records("c") == [RECORD] and store.cases() == ["c"]


def test_re_append_is_silent_and_writes_nothing(store, bodies):
    store.append(RECORD, linked(bodies)[:3])
    assert store.append(RECORD, linked(bodies)) == len(bodies) - 3
    assert store.append(RECORD, linked(bodies)) == 0
    assert len(store.read(RECORD)) == len(bodies)


def test_a_different_event_at_a_stored_seq_is_a_conflict(store, bodies):
    store.append(RECORD, linked(bodies))
    other = {**bodies[1], "by": "respondent"}
    with pytest.raises(RecordConflict, match="event 2"):
        store.append(RECORD, [(other, link(linked(bodies)[0][1], other))])
    assert [r.body for r in store.read(RECORD)] == bodies


def test_a_link_that_does_not_follow_is_refused(store, bodies):
    pairs = linked(bodies)
    store.append(RECORD, pairs[:2])
    with pytest.raises(ChainBroken, match="event 3"):
        store.append(RECORD, [(bodies[2], link(GENESIS, bodies[2]))])
    with pytest.raises(ChainBroken, match="event 4 is not stored"):
        store.append(RECORD, [pairs[4]])
    assert len(store.read(RECORD)) == 2


async def test_concurrent_appends_of_one_batch_write_once(store, bodies):
    counts = await asyncio.gather(*(asyncio.to_thread(store.append, RECORD, linked(bodies)) for _ in range(2)))
    assert sorted(counts) == [0, len(bodies)]
    assert len(store.read(RECORD)) == len(bodies)


def test_as_of_fold_holds_only_events_up_to_that_date(store, bodies):
    # The events of one record a day apart (event n on day n), so a date cuts the record after an event.
    spread = []
    for b in bodies:
        on = datetime.fromisoformat(b["on"]) + timedelta(days=b["seq"])
        spread.append({**b, "on": on.isoformat().replace("+00:00", "Z") if b["on"].endswith("Z") else on.isoformat()})
    store.append(RECORD, linked(spread))
    issued = next(b for b in spread if b["type"] == "FindingsIssued")
    cut = datetime.fromisoformat(issued["on"]).date() - timedelta(days=1)
    rows = store.read(RECORD, upto=cut)
    assert [r.seq for r in rows] == list(range(1, issued["seq"]))
    then = fold(EVENT_ADAPTER.validate_python(r.body) for r in rows)
    now = fold(EVENT_ADAPTER.validate_python(b) for b in spread)
    assert then.stage != now.stage  # before the findings were issued the case was at another stage


def test_an_unwritable_store_is_unavailable(tmp_path, bodies):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "record.db").mkdir()  # a folder where the file should be: cannot be opened as a database
    with pytest.raises(StoreUnavailable):
        Store(f"sqlite:///{folder / 'record.db'}").append(RECORD, linked(bodies))


# The activity, in a real worker on the time-skipping server, called by a tiny workflow.

from temporalio import workflow  # noqa: E402
from temporalio.client import WorkflowFailureError  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402
from temporalio.worker import UnsandboxedWorkflowRunner, Worker  # noqa: E402

from activities.store import (  # noqa: E402
    APPEND_RETRY,
    APPEND_TIMEOUT,
    AppendInput,
    AppendResult,
    StoredEvent,
    append_events,
)
from tests.conftest import executable  # noqa: E402


@workflow.defn(sandboxed=False)
class AppendTwice:
    @workflow.run
    async def run(self, req: AppendInput) -> list[AppendResult]:
        out = []
        for _ in range(2):
            out.append(
                await workflow.execute_activity(
                    append_events, req, start_to_close_timeout=APPEND_TIMEOUT, retry_policy=APPEND_RETRY
                )
            )
        return out


@pytest.fixture
async def worker_env():
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=executable("temporal-test-server"), data_converter=codec.data_converter()
    )
    async with Worker(
        env.client,
        task_queue="store-test",
        workflows=[AppendTwice],
        activities=[append_events],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield env
    await env.shutdown()


def _input(bodies) -> AppendInput:
    return AppendInput(record=RECORD, events=[StoredEvent(body=b, link=lnk) for b, lnk in linked(bodies)])


async def _run(env, req: AppendInput, wid: str) -> list[AppendResult]:
    return await env.client.execute_workflow(AppendTwice.run, req, id=wid, task_queue="store-test")


async def test_the_activity_appends_once_when_called_twice(worker_env, tmp_path, monkeypatch, bodies):
    url = f"sqlite:///{tmp_path / 'record.db'}"
    monkeypatch.setenv("ENFORCE_RECORD_URL", url)
    first, second = await _run(worker_env, _input(bodies), "append-twice")
    assert (first.appended, second.appended) == (len(bodies), 0)
    assert first.head == second.head == linked(bodies)[-1][1]
    assert [r.body for r in Store(url).read(RECORD)] == bodies


async def test_a_conflict_fails_the_workflow_without_retrying(worker_env, tmp_path, monkeypatch, bodies):
    url = f"sqlite:///{tmp_path / 'record.db'}"
    monkeypatch.setenv("ENFORCE_RECORD_URL", url)
    Store(url).append(RECORD, linked(bodies))
    other = [{**bodies[0], "by": "respondent"}]
    with pytest.raises(WorkflowFailureError) as failed:
        await _run(worker_env, _input(other), "append-conflict")
    cause = failed.value.cause.cause
    assert cause.type == "RecordConflict" and "event 1" in cause.message
    assert [r.body for r in Store(url).read(RECORD)] == bodies


async def test_a_store_down_is_retried_until_it_is_back(worker_env, tmp_path, monkeypatch, bodies):
    path = tmp_path / "record.db"
    path.mkdir()  # the store cannot be opened while a folder stands where its file goes
    monkeypatch.setenv("ENFORCE_RECORD_URL", f"sqlite:///{path}")
    handle = await worker_env.client.start_workflow(
        AppendTwice.run, _input(bodies), id="append-down", task_queue="store-test"
    )
    await asyncio.sleep(3)
    desc = await handle.describe()
    assert desc.status.name == "RUNNING"
    path.rmdir()
    first, _ = await asyncio.wait_for(handle.result(), 60)
    assert first.appended == len(bodies)
    assert len(Store(f"sqlite:///{path}").read(RECORD)) == len(bodies)


def test_stats_count_what_the_stored_record_holds(store, bodies):
    from domain.stats import stats

    store.append(RECORD, linked(bodies))
    events = [EVENT_ADAPTER.validate_python(r.body) for r in store.read(RECORD)]
    figures = stats([events])
    # By hand: the record opens one case (2021, its procedure), none closed; one deadline was set and met.
    opened = bodies[0]
    assert [(r.year, r.procedure, r.opened, r.closed) for r in figures.opened_closed] == [
        (int(opened["opened"][:4]), opened["procedure"], 1, 0)
    ]
    sets = [b for b in bodies if b["type"] == "DeadlineSet"]
    mets = [b for b in bodies if b["type"] == "DeadlineMet"]
    assert len(sets) >= 1 and len(mets) == 1
    kind = next(b for b in sets if b["deadline_id"] == mets[0]["deadline_id"])
    assert [(r.authority, r.kind, r.met, r.missed) for r in figures.deadlines] == [
        (kind["authority"], kind["kind"], 1, 0)
    ]
