"""The event store under worker kills: live Clearview cases on a dev server, driven through their scripted steps
while the worker (`python -m worker`, a subprocess) is killed with SIGKILL and restarted, `--kills` times.
At the end every record's stored events are compared with the workflow's own record: each event once (seqs
1..n, none missing, none extra), the same bodies, and the hash chain intact from the first link.

    .venv/bin/python bench/store_kills.py [--cases 2] [--kills 30] [--every 1.5]

Prints the kills, the events per record in the workflows and in the store, what differs, and how long the store
took to catch up after the last step.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402


def clearview_text(slug: str) -> str:
    text = (ROOT / "cases" / "clearview.toml").read_text()
    return text.replace('slug = "clearview-ai"', f'slug = "{slug}"', 1)


async def act_until_taken(client, slug: str, action) -> None:
    """An act sent while the worker is down waits; one refused because it came too late is left."""
    from temporalio.client import WorkflowUpdateFailedError

    from enforce import investigations

    for _ in range(60):
        try:
            await asyncio.wait_for(investigations.act(client, slug, action), 30)
            return
        except WorkflowUpdateFailedError:
            return  # refused for what the case allows now (live, clocks do not run ahead): nothing recorded
        except Exception:
            await asyncio.sleep(0.5)


async def drive(client, slug: str, folder: Path) -> None:
    from domain.actions import parse_action
    from enforce import investigations
    from enforce.cases import load_case

    path = folder / f"{slug}.toml"
    path.write_text(clearview_text(slug))
    case, procedure = load_case(path)
    await investigations.start(client, case, procedure)
    for step in case.steps:
        await act_until_taken(client, slug, parse_action(step.action, {"by": step.by, **step.fields()}))
    view = await investigations.state(client, slug)
    for aid in view.state.open_tracks:
        await act_until_taken(client, slug, parse_action("close-track", {"by": aid, "outcome": "closed"}))


def compare(store, wid: str, events: list) -> tuple[int, int, list[str]]:
    from domain.chain import GENESIS, link

    rows = store.read(wid)
    problems = []
    seqs = [r.seq for r in rows]
    if seqs != list(range(1, len(rows) + 1)):
        problems.append(f"{wid}: stored seqs are not 1..{len(rows)}")
    bodies = {e.seq: e.model_dump(mode="json") for e in events}
    if len(rows) != len(bodies):
        problems.append(f"{wid}: {len(bodies)} events in the workflow, {len(rows)} in the store")
    prev = GENESIS
    for r in rows:
        if r.seq in bodies and r.body != bodies[r.seq]:
            problems.append(f"{wid}: event {r.seq} differs from the workflow's")
        if r.link != link(prev, r.body):
            problems.append(f"{wid}: event {r.seq}: the chain is broken")
        prev = r.link
    return len(bodies), len(rows), problems


async def main(args) -> None:
    data = harness.private_env("enforce-bench-kills-")
    import os

    from enforce import investigations
    from store import Store
    from workflows.messages import track_id, workflow_id

    started = time.monotonic()
    async with harness.dev_server() as env:
        client = env.client
        worker_env = {**os.environ, "TEMPORAL_ADDRESS": client.service_client.config.target_host}

        def start_worker() -> subprocess.Popen:
            return subprocess.Popen(
                [sys.executable, "-m", "worker"], env=worker_env, cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip

        worker = start_worker()
        slugs = [f"kills-{i}-{random.randrange(16**6):06x}" for i in range(args.cases)]
        driving = asyncio.gather(*(drive(client, s, data) for s in slugs))
        kills = 0
        try:
            while kills < args.kills and not driving.done():
                await asyncio.sleep(random.uniform(0.3, 2 * args.every - 0.3))
                worker.send_signal(signal.SIGKILL)
                await asyncio.to_thread(worker.wait)
                kills += 1
                worker = start_worker()
            await driving
            steps_done = time.monotonic()
            # Every record settles its copy before its run completes: wait for each to end.
            ids = []
            for slug in slugs:
                view = await investigations.state(client, slug)
                ids += [workflow_id(slug)] + [track_id(slug, a) for a in view.state.authorities]
            for wid in ids:
                await asyncio.wait_for(client.get_workflow_handle(wid).result(), 600)
            caught_up = time.monotonic() - steps_done
            store = Store()
            total_wf = total_st = 0
            problems: list[str] = []
            for wid in ids:
                slug = wid.removeprefix("investigation-").split(".", 1)[0]
                events = (await investigations.events(client, slug, record=wid)).events
                n_wf, n_st, p = compare(store, wid, events)
                total_wf, total_st = total_wf + n_wf, total_st + n_st
                problems += p
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
    print(f"cases: {args.cases}, records: {len(ids)}, worker kills: {kills}")
    print(f"events in the workflows: {total_wf}, in the store: {total_st}, each once: {not problems}")
    for p in problems[:20]:
        print(f"  {p}")
    print(f"store caught up {caught_up:.1f} s after the last step (every run completed with its copy settled)")
    print(f"wall time: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--every", type=float, default=1.5, help="mean seconds between kills")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
