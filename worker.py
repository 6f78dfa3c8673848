"""The enforce worker: every workflow and activity on one task queue. Run `python -m worker` or `enforce worker`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import structlog
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.notices import serve_notice
from activities.store import append_events
from enforce import identity, keys, logs, settings
from enforce.connect import Unreachable, connect, worker_identity
from workflows.investigation import InvestigationWorkflow
from workflows.track import AuthorityTrackWorkflow

WORKFLOWS = [InvestigationWorkflow, AuthorityTrackWorkflow]
ACTIVITIES = [serve_notice, append_events]
# `cryptography` is a native extension that cannot be loaded a second time inside the sandbox: workflow code
# that reaches it (signatures, through domain.signing) shares the worker's copy. It does no I/O on its own.
RUNNER = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("cryptography"))

log = structlog.get_logger("enforce.worker")


def build(client: Client, task_queue: str = settings.TASK_QUEUE, **options) -> Worker:
    """A worker with the record key set loaded (created first where it is missing), for its workflows.
    `options`: more `Worker` options (a benchmark's cache size or task slots), the runner always RUNNER."""
    path = keys.install()
    log.info("record keys loaded", file=str(path))
    ring = identity.keyring_file()
    if ring.exists():
        log.info("keyring loaded", file=str(ring), users=len(identity.install(ring)))
    else:
        log.warning("no keyring: every act is refused until there is one", file=str(ring))
    return Worker(
        client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES, workflow_runner=RUNNER, **options
    )


async def serve(stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = await connect(identity=worker_identity())
    worker = build(client)
    log.info(
        "worker started",
        task_queue=settings.TASK_QUEUE,
        address=client.service_client.config.target_host,
        namespace=client.namespace,
    )
    async with worker:
        reload = asyncio.create_task(watch_keyring())
        await stop.wait()
        reload.cancel()
        log.info("worker stopping")
    log.info("worker stopped")


KEYRING_POLL_S = 2.0


async def watch_keyring() -> None:
    """Reload the keyring when its file changes: a key revoked there is refused from the next act on. A file
    that does not read keeps the keyring as it was, and says so."""
    ring = identity.keyring_file()
    seen = None
    while True:
        try:
            stat = ring.stat()
            mark = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            mark = None
        if mark != seen and mark is not None:
            try:
                users = len(identity.install(ring))
                if seen is not None:
                    log.info("keyring reloaded", file=str(ring), users=users)
            except identity.KeyError_ as e:
                log.warning("keyring not reloaded", error=str(e))
        seen = mark
        await asyncio.sleep(KEYRING_POLL_S)


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
