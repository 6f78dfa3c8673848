"""The same case run live (opened, then acted on step by step, as `enforce open` and `enforce act` do against a
dev server) records what the parties did in the same order as its simulation.

Only what the parties did is compared: in a live run the case's clock does not jump years ahead, so the
clocks' own consequences (a missed deadline, a reminder) have not happened yet."""

from __future__ import annotations

import pytest
from temporalio.worker import Worker

import worker as enforce_worker
from domain.actions import parse_action
from enforce import investigations, simulate
from tests.casefiles import clearview
from tests.live import settle

pytestmark = pytest.mark.timeout(120)


def by_parties(events) -> list[tuple[str, str]]:
    return [(e.type, e.by) for e in events if e.by != "system" and e.type != "NoticeServed"]


async def test_live_and_simulated_runs_record_the_same_acts_in_the_same_order(dev_env, task_queue, tmp_path, slug):
    case, procedure = clearview(slug, tmp_path)
    simulated = await simulate.run(case, procedure)

    client = dev_env.client
    async with Worker(
        client, task_queue=task_queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
    ):
        await investigations.start(client, case, procedure, task_queue=task_queue)
        await settle(client, slug)
        # A run keeps only its recent events: read them as they come, as the simulation does.
        live: list = []
        await simulate.gather(client, slug, live)
        for step in case.steps:
            await investigations.act(client, slug, parse_action(step.action, {"by": step.by, **step.fields()}))
            await settle(client, slug)
            await simulate.gather(client, slug, live)

    assert by_parties(live) == by_parties(simulated.events)
    # Every scripted step is there, in order, after the opening.
    assert by_parties(live)[0] == ("InvestigationOpened", "opc")
    assert len(by_parties(live)) >= len(case.steps)
