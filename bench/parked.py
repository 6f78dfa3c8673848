"""Many cases parked on their timers: worker memory, `state` query latency, `enforce list` latency.

    .venv/bin/python bench/parked.py [--cases 200] [--concurrency 10] [--queries 200] [--default-cache 1000]

The issue asks for 10,000 cases (`--cases 10000`). One dev server on a SQLite file (as `enforce dev up`
runs it) and the project's worker as a subprocess of its own, so that its RSS is the worker's alone. The
Clearview case is opened n times under slugs of their own; each is parked once it has opened and served its
notice of investigation (its tracks started, its one-year report clock running). Then:

1. with the worker's default workflow cache (the SDK's 1,000 workflows; each case is five workflows): the
   worker's RSS, the `state` query of the joint record on random cases (p50/p99), and
   `enforce list --due-within 30d` (and `--due-within 400d`, which every parked case matches) as a user runs
   it, a process of its own;
2. the worker restarted with every workflow cachable (max_cached_workflows = 5n + 10): every record queried
   once (the first query after a restart replays the history: its p50/p99 too), then RSS and the `state`
   query again.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.service import RPCError  # noqa: E402

from bench import harness  # noqa: E402

WORKFLOWS_PER_CASE = 5  # the joint record and four tracks
ERRORS: dict[str, int] = {}  # RPC errors met while waiting for cases to park, by message


async def serve_worker(address: str, queue: str, max_cached: int) -> None:
    """The worker subprocess: the project's workflows and activities, with a cache of `max_cached`."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    import worker as enforce_worker
    from enforce import codec, keys

    keys.install()
    client = await Client.connect(address, data_converter=codec.data_converter())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Worker(
        client,
        task_queue=queue,
        workflows=enforce_worker.WORKFLOWS,
        activities=enforce_worker.ACTIVITIES,
        max_cached_workflows=max_cached,
    ):
        print("ready", flush=True)
        await stop.wait()


def start_worker(address: str, queue: str, max_cached: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-worker", address, queue, str(max_cached)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready"
    return proc


def stop_worker(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def list_in_process(client, within_days: int) -> tuple[float, int]:
    """The query `enforce list --due-within` sends, from this process: the list without the CLI's start."""
    from datetime import UTC, datetime, timedelta

    from enforce.watching import DEFAULT_LIMIT, build_query

    q = build_query(due_before=datetime.now(UTC) + timedelta(days=within_days))
    started = time.perf_counter()
    n = 0
    async for _ in client.list_workflows(q, limit=DEFAULT_LIMIT + 1):
        n += 1
    return time.perf_counter() - started, n


async def open_parked(client, case, procedure, queue: str, gate: asyncio.Semaphore) -> None:
    from enforce import investigations

    async with gate:
        await investigations.start(client, case, procedure, task_queue=queue, indexed=True)
        while True:
            try:
                view = await investigations.state(client, case.slug)
            except RPCError as e:  # a dev server too busy to answer in time: ask again
                ERRORS[e.message] = ERRORS.get(e.message, 0) + 1
                await asyncio.sleep(1.0)
                continue
            if view.state.stage is not None and view.state.stage.value == "investigating" and not view.pending:
                return
            await asyncio.sleep(0.2)


async def query_latencies(client, slugs: list[str], k: int) -> list[float]:
    from enforce import investigations

    out = []
    for slug in random.sample(slugs, min(k, len(slugs))) if k < len(slugs) else random.choices(slugs, k=k):
        started = time.perf_counter()
        await investigations.state(client, slug)
        out.append(time.perf_counter() - started)
    return out


def cli_list(address: str, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "enforce.main", "list", *args, "-o", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TEMPORAL_ADDRESS": address},
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return seconds, f"exit {done.returncode}: {done.stderr.strip()[:200]}"
    import json

    return seconds, f"{len(json.loads(done.stdout))} cases listed"


def ms(xs: list[float]) -> str:
    p50, p99 = harness.quantiles(xs)
    return f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms over {len(xs)}"


async def main(args) -> None:
    harness.private_env()
    from enforce import investigations
    from enforce.cases import load_case
    from workflows.messages import track_id

    run = uuid.uuid4().hex[:6]
    base, procedure = load_case(ROOT / "cases" / "clearview.toml")
    cases = [base.model_copy(update={"slug": f"pk-{run}-{i:05d}"}) for i in range(args.cases)]
    slugs = [c.slug for c in cases]
    db = Path(tempfile.mkdtemp(prefix="enforce-parked-")) / "temporal.db"
    startup = time.perf_counter()
    async with harness.dev_server(db=db) as env:
        print(f"dev server (SQLite file) ready in {time.perf_counter() - startup:.1f} s")
        client = env.client
        address = client.service_client.config.target_host
        queue = f"parked-{run}"
        server = harness.server_pids()
        worker = start_worker(address, queue, args.default_cache)
        try:
            print(f"worker RSS before any case: {harness.rss_mib(worker.pid):.0f} MiB")
            gate = asyncio.Semaphore(args.concurrency)
            started = time.perf_counter()
            cpu0 = sum(harness.cpu_seconds(p) for p in server)
            jobs = [asyncio.create_task(open_parked(client, c, procedure, queue, gate)) for c in cases]
            step = max(len(jobs) // 4, 1)
            for i, job in enumerate(jobs, 1):
                await job
                if i % step == 0 or i == len(jobs):
                    rate, rss = i / (time.perf_counter() - started), harness.rss_mib(worker.pid)
                    print(f"  {i:>6} cases parked, {rate:.2f} cases/s, worker RSS {rss:.0f} MiB, "
                          f"database {db.stat().st_size / 2**20:.1f} MiB")  # fmt: skip
            opening = time.perf_counter() - started
            server_cpu = sum(harness.cpu_seconds(p) for p in server) - cpu0
            if ERRORS:
                print(f"  RPC errors while parking (asked again): {ERRORS}")
            await asyncio.sleep(2.0)
            size = db.stat().st_size + sum(p.stat().st_size for p in db.parent.glob("temporal.db-*"))
            n = args.cases
            print(f"{n} cases opened and parked in {opening:.1f} s ({n / opening:.2f} cases/s; server CPU "
                  f"{server_cpu:.1f} s); SQLite database {size / 2**20:.1f} MiB, "
                  f"{size / n / 1024:.0f} KiB per case")  # fmt: skip

            print(f"default cache ({args.default_cache} workflows; {n * WORKFLOWS_PER_CASE} parked):")
            print(f"  worker RSS {harness.rss_mib(worker.pid):.0f} MiB  (issue target with all cached: <= 1024 MiB)")
            print(f"  state query on random cases: {ms(await query_latencies(client, slugs, args.queries))}"
                  f"  (target p99 <= 100 ms)")  # fmt: skip
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "enforce.main", "--help"], capture_output=True, cwd=ROOT)
            print(f"  `enforce --help` (the command's start, no server): {time.perf_counter() - started:.2f} s")
            for days in (30, 400):
                seconds, what = cli_list(address, "--due-within", f"{days}d")
                inner, found = await list_in_process(client, days)
                print(f"  enforce list --due-within {days}d: {seconds:.2f} s as a command ({what}); its query "
                      f"alone {inner * 1000:.0f} ms ({found} workflows)  (target <= 1 s)")  # fmt: skip
        finally:
            stop_worker(worker)

        cache = n * WORKFLOWS_PER_CASE + 10
        worker = start_worker(address, queue, cache)
        try:
            first = []
            for slug in slugs:
                started = time.perf_counter()
                await investigations.state(client, slug)
                first.append(time.perf_counter() - started)
                for aid in base.authorities:
                    h = client.get_workflow_handle(track_id(slug, aid))
                    await h.query("state", investigations.StateQuery(), result_type=investigations.StateView)
            print(f"all cached (max_cached_workflows {cache}), every record queried once after the restart:")
            print(f"  first state query after the restart (replays the history): {ms(first)}")
            print(f"  worker RSS {harness.rss_mib(worker.pid):.0f} MiB  (target <= 1024 MiB)")
            print(f"  state query on random cases: {ms(await query_latencies(client, slugs, args.queries))}"
                  f"  (target p99 <= 100 ms)")  # fmt: skip
        finally:
            stop_worker(worker)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-worker":
        asyncio.run(serve_worker(sys.argv[2], sys.argv[3], int(sys.argv[4])))
        os._exit(0)  # sdk-python#300
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=200, help="cases to park (default 200; the issue: 10000)")
    p.add_argument("--concurrency", type=int, default=10, help="cases being opened at once")
    p.add_argument("--queries", type=int, default=200, help="state queries timed on random cases")
    p.add_argument("--default-cache", type=int, default=1000, help="the default cache (the SDK's: 1000)")
    asyncio.run(main(p.parse_args()))
    sys.stdout.flush()
    os._exit(0)
