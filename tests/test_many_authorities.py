"""A case of many authorities (a GDPR case can involve every EU authority): an action taken the moment the
joint record answers that the case is open reaches every authority's track, none lost to a track not yet
started (the joint record starts its tracks together, and an action waits until all of them run)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.worker import Worker

import worker as enforce_worker
from bench.authorities import extra_ids, write_procedure_case
from domain.actions import parse_action
from enforce import identity, investigations
from enforce.simulate import settled
from tests.live import failed_tasks
from workflows.messages import track_id

pytestmark = pytest.mark.timeout(120)

N = 16


async def test_a_draft_taken_at_once_reaches_all_sixteen_tracks(dev_env, task_queue, tmp_path):
    identity.ensure_parties(extra_ids(N))  # the generated authorities sign their acts too
    identity.install()
    case, procedure = write_procedure_case(N, tmp_path)
    slug = f"many-{uuid.uuid4().hex[:8]}"
    case = case.model_copy(update={"slug": slug})
    client = dev_env.client
    async with Worker(
        client, task_queue=task_queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
    ):
        await investigations.start(client, case, procedure, task_queue=task_queue)
        while (await investigations.state(client, slug)).state.stage is None:
            await asyncio.sleep(0.02)
        # At once: no waiting for the tracks to answer.
        draft = parse_action("draft-findings", {"by": case.lead, "finding": "well-founded", "summary": "s"})
        await investigations.act(client, slug, draft)
        for aid in case.authorities:
            if aid != case.lead:
                await investigations.act(client, slug, parse_action("concur", {"by": aid}))
        await settled(client, slug, case.authorities)

        view = await investigations.state(client, slug)
        assert view.state.stage.value == "recommendations", view.state.stage
        concurred = [
            e.authority for e in (await investigations.events(client, slug)).events if e.type == "FindingsConcurred"
        ]
        assert sorted(concurred) == sorted(a for a in case.authorities if a != case.lead)
        for aid in case.authorities:
            seen = [e.type for e in (await investigations.events(client, slug, record=track_id(slug, aid))).events]
            assert "FindingsDrafted" in seen, (aid, seen)
        assert await failed_tasks(client, slug, case.authorities) == []
