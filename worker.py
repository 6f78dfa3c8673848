"""The enforce worker: every workflow and activity on one task queue. Run `python -m worker` or `enforce worker`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from activities.notices import serve_notice
from activities.store import append_events
from enforce import keys, logs, settings
from enforce.connect import Unreachable, connect
from workflows.investigation import InvestigationWorkflow
from workflows.track import AuthorityTrackWorkflow

WORKFLOWS = [InvestigationWorkflow, AuthorityTrackWorkflow]
ACTIVITIES = [serve_notice, append_events]

log = structlog.get_logger("enforce.worker")


def build(client: Client, task_queue: str = settings.TASK_QUEUE) -> Worker:
    """A worker with the record key set loaded (created first where it is missing), for its workflows."""
    path = keys.install()
    log.info("record keys loaded", file=str(path))
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES)


async def serve(stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = await connect()
    worker = build(client)
    log.info(
        "worker started",
        task_queue=settings.TASK_QUEUE,
        address=client.service_client.config.target_host,
        namespace=client.namespace,
    )
    async with worker:
        await stop.wait()
        log.info("worker stopping")
    log.info("worker stopped")


def main() -> int:
    logs.configure()
    try:
        asyncio.run(serve())
        return 0
    except (Unreachable, keys.KeyFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # sdk-python#300: leave without interpreter teardown, which can abort with status 134.
    os._exit(code)
