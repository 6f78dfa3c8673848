"""Helpers for tests that drive running investigations."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from domain.actions import Action, parse_action
from enforce import investigations
from enforce.simulate import settled
from tests.casefiles import ROOT, clearview
from workflows.messages import track_id, workflow_id

AUTHORITIES = ["opc", "cai-qc", "oipc-bc", "oipc-ab"]


async def settle(client: Client, slug: str) -> None:
    """Until no notice is in flight and the joint record and tracks have stopped growing."""
    await settled(client, slug, AUTHORITIES)


async def failed_tasks(client: Client, slug: str, authorities: list[str] = AUTHORITIES) -> list[str]:
    """Workflow tasks that failed, in the joint record and every track."""
    out = []
    for wid in [workflow_id(slug)] + [track_id(slug, a) for a in authorities]:
        async for event in client.get_workflow_handle(wid).fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                out.append(f"{wid}: {event.workflow_task_failed_event_attributes.failure.message}")
    return out


async def open_case(client: Client, queue: str, tmp_path, slug: str, indexed: bool = False) -> None:
    """Open the Clearview case under `slug`; `indexed` on a server that knows the search attributes."""
    case, procedure = clearview(slug, tmp_path)
    await investigations.start(client, case, procedure, task_queue=queue, indexed=indexed)
    await settle(client, slug)


def action(name: str, **fields) -> Action:
    return parse_action(name, fields)


async def to_recommendations(client: Client, slug: str, recommendations: list[dict]) -> None:
    """The lead drafts, every co-authority concurs, and the report's recommendations go out."""
    await investigations.act(client, slug, action("draft-findings", by="opc", finding="well-founded", summary="s"))
    for aid in AUTHORITIES[1:]:
        await investigations.act(client, slug, action("concur", by=aid))
    await settle(client, slug)
    await investigations.act(client, slug, action("issue-recommendations", by="opc", recommendations=recommendations))
    await settle(client, slug)


async def enforce(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run the `enforce` command as a user would: a process of its own, its output and exit status."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "enforce.main", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT
    )
    out, err = await proc.communicate()
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())
