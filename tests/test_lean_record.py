"""A record that copies its events to the store keeps little of them itself, and does little Temporal work for
an action that changes nothing visible: under a steady stream of actions it still continues as new when the
server suggests it, the store and its live tail together give every event once, and a search attribute is
upserted only when its value changes."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

import worker as enforce_worker
from domain.chain import GENESIS, link
from domain.limits import TAIL_KEPT
from enforce import investigations
from enforce import record as records
from store import Store
from tests.conftest import SUGGEST_AFTER
from tests.live import action, open_case
from workflows.messages import workflow_id

pytestmark = pytest.mark.timeout(300)


async def runs_of(client: Client, slug: str) -> list[tuple[str, int]]:
    """(status, history length) of every run of the joint record, oldest first."""
    found = [
        (w.start_time, w.status.name, w.history_length)
        async for w in client.list_workflows(f'WorkflowId = "{workflow_id(slug)}"')
    ]
    return [(status, length) for _, status, length in sorted(found)]


async def upserts_per_run(client: Client, slug: str) -> list[int]:
    """In each run of the joint record, oldest first, the upserts that set one of the project's attributes (the
    SDK's own `TemporalChangeVersion`, upserted with each patch marker, left out)."""
    out = []
    async for w in client.list_workflows(f'WorkflowId = "{workflow_id(slug)}"'):
        n = 0
        async for e in client.get_workflow_handle(w.id, run_id=w.run_id).fetch_history_events():
            if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
                fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
                n += any(name != "TemporalChangeVersion" for name in fields)
        out.append((w.start_time, n))
    return [n for _, n in sorted(out)]


@pytest.mark.parametrize("kind", ["evidence", "measure"])
async def test_a_steady_stream_of_actions_continues_as_new_and_every_event_is_read_once(
    short_history_env, task_queue, tmp_path, slug, kind
):
    client = short_history_env.client
    async with Worker(
        client, task_queue=task_queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
    ):
        await open_case(client, task_queue, tmp_path, slug, indexed=True)
        # More events than a run keeps besides the unstored ones: the oldest are the store's alone.
        for i in range(TAIL_KEPT + 20):
            if kind == "evidence":
                act = action("record-evidence", by="opc", description=f"Exhibit {i}", purpose="p")
            else:
                act = action("record-voluntary-measure", by="respondent", description=f"Measure {i}")
            await investigations.act(client, slug, act)
        last = (await investigations.state(client, slug)).events
        assert last > TAIL_KEPT + 20

        await asyncio.sleep(1.0)  # visibility catches up
        runs = await runs_of(client, slug)
        ended = [length for status, length in runs if status == "CONTINUED_AS_NEW"]
        assert len(ended) >= 3, runs
        # Each run ended soon after the server suggested it (what comes in while its last append finishes is
        # recorded too), however steadily the actions came.
        assert max(ended) <= 10 * SUGGEST_AFTER, runs

        stored = Store()
        for _ in range(300):
            if len(stored.read(workflow_id(slug))) == last:
                break
            await asyncio.sleep(0.1)
        rows = stored.read(workflow_id(slug))
        assert [r.seq for r in rows] == list(range(1, last + 1))
        prev = GENESIS
        for r in rows:
            prev = link(prev, r.body)
            assert r.link == prev, f"event {r.seq}: the chain breaks"

        # The live record keeps only its recent events; the record read whole is the store's plus those.
        tail = (await investigations.events(client, slug)).events
        assert len(tail) <= TAIL_KEPT
        whole = await records.read(client, slug)
        assert [e.seq for e in whole.events] == list(range(1, last + 1))
        assert [e.model_dump(mode="json") for e in whole.events] == [r.body for r in rows]

        # Recording evidence or a measure changes no attribute a list filters on: after the opening run (the
        # stage, whose move, the first deadline), a run upserts at most once.
        assert max((await upserts_per_run(client, slug))[1:]) <= 1
