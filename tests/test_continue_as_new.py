"""A long case continues as new when Temporal suggests it, carrying its state, recent events and its clock.

A dev server started for this test suggests continue-as-new after a short history (a dynamic config value),
so the real suggestion, not a test switch in the workflow, drives it."""

from __future__ import annotations

import pytest
from temporalio.worker import Worker

import worker as enforce_worker
from domain.state import fold
from enforce import investigations
from tests.live import action, failed_tasks, open_case, settle, to_recommendations
from workflows import search_attributes as sa
from workflows.messages import workflow_id

pytestmark = pytest.mark.timeout(120)


async def test_the_record_survives_continue_as_new(short_history_env, task_queue, tmp_path, slug):
    client = short_history_env.client
    async with Worker(
        client, task_queue=task_queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
    ):
        await open_case(client, task_queue, tmp_path, slug, indexed=True)
        handle = client.get_workflow_handle(workflow_id(slug))
        first_run = (await handle.describe()).run_id
        await to_recommendations(client, slug, [{"id": "R1", "text": "Stop."}])
        before = await investigations.events(client, slug)

        desc = await client.get_workflow_handle(workflow_id(slug)).describe()
        assert desc.run_id != first_run, "the joint record did not continue as new"
        # The new run holds the record (short enough to be all in its tail), and goes on taking actions.
        result = await investigations.act(
            client, slug, action("answer-recommendations", by="respondent", answers={"R1": "refused"})
        )
        assert result.first_seq == before.events[-1].seq + 1
        await settle(client, slug)
        view = await investigations.state(client, slug)
        events = (await investigations.events(client, slug)).events
        assert events[: len(before.events)] == before.events
        assert fold(events) == view.state and view.state.stage.value == "escalation"
        assert view.clock.date() == before.events[0].on.date()  # the case clock came along
        assert desc.typed_search_attributes.get(sa.PROCEDURE) == "ca-joint"
        assert await desc.memo() == {}  # case content is in no memo, before or after
        assert await failed_tasks(client, slug) == []
