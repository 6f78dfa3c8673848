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
FAILED: dict[str, int] = {}  # queries failed while filling the cache, by error (asked again)


async def serve_worker(address: str, queue: str, options: dict) -> None:
    """The worker subprocess: the project's worker as `worker.build` makes it (its sandbox runner and passthrough),
    with these `Worker` options (the cache size, task slots, pollers). With `trace` set: tracemalloc runs, and
    SIGUSR1 writes a snapshot to that path (then "snapshot" on stdout)."""
    import tracemalloc

    from temporalio.client import Client

    import worker as enforce_worker
    from enforce import codec

    trace = options.pop("trace", None)
    bare_runner = options.pop("bare", None)
    if trace:
        tracemalloc.start(int(options.pop("trace_frames", 1)))
    client = await Client.connect(address, data_converter=codec.data_converter())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if trace:

        def snapshot() -> None:
            import gc

            gc.collect()
            tracemalloc.take_snapshot().dump(trace)
            print("snapshot", flush=True)

        loop.add_signal_handler(signal.SIGUSR1, snapshot)
    if bare_runner:  # the bare floor: BareCase alone, under the project's sandbox or none
        from temporalio.worker import UnsandboxedWorkflowRunner, Worker

        from bench.bare import BareCase, bare_notice

        runner = enforce_worker.RUNNER if bare_runner == "sandbox" else UnsandboxedWorkflowRunner()
        built = Worker(
            client, task_queue=queue, workflows=[BareCase], activities=[bare_notice], workflow_runner=runner, **options
        )
    else:
        if options.pop("unsandboxed", False):  # --no-sandbox: what the sandbox costs the project's workflows
            from temporalio.worker import UnsandboxedWorkflowRunner

            enforce_worker.RUNNER = UnsandboxedWorkflowRunner()
        built = enforce_worker.build(client, task_queue=queue, **options)
    async with built:
        print("ready", flush=True)
        await stop.wait()


def start_worker(address: str, queue: str, max_cached: int, **options) -> subprocess.Popen:
    import json

    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-worker", address, queue,
         json.dumps({"max_cached_workflows": max_cached, **options})],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    wait_for(proc, "ready")
    return proc


def wait_for(proc: subprocess.Popen, word: str) -> None:
    """Read the worker's stdout up to a line `word` (its log lines come before)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == word:
            return
    raise SystemExit(f"the worker ended before saying {word!r}")


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


POLLS = [0]  # state queries asked while waiting for cases to park
PARKING: list[float] = []  # seconds from start to parked, per case


async def open_parked(client, case, procedure, queue: str, gate: asyncio.Semaphore, poll: float) -> None:
    from enforce import investigations

    async with gate:
        started = time.perf_counter()
        await investigations.start(client, case, procedure, task_queue=queue, indexed=True)
        while True:
            await asyncio.sleep(poll)
            POLLS[0] += 1
            try:
                view = await investigations.state(client, case.slug)
            except RPCError as e:  # a dev server too busy to answer in time: ask again
                ERRORS[e.message] = ERRORS.get(e.message, 0) + 1
                await asyncio.sleep(1.0)
                continue
            if view.state.stage is not None and view.state.stage.value == "investigating" and not view.pending:
                PARKING.append(time.perf_counter() - started)
                return


async def query_latencies(client, slugs: list[str], k: int) -> list[float]:
    from enforce import investigations

    out = []
    for slug in random.sample(slugs, min(k, len(slugs))) if k < len(slugs) else random.choices(slugs, k=k):
        started = time.perf_counter()
        await investigations.state(client, slug)
        out.append(time.perf_counter() - started)
    return out


def cli_list(address: str, *args: str) -> tuple[float, str]:
    import json

    seconds, done = harness.enforce("list", *args, "-o", "json", env={"TEMPORAL_ADDRESS": address})
    if done.returncode != 0:
        return seconds, f"exit {done.returncode}: {done.stderr.strip()[:200]}"
    return seconds, f"{len(json.loads(done.stdout))} cases listed"


def database_mib(db: Path | None) -> str:
    if db is None:
        return "in memory"
    return f"{sum(p.stat().st_size for p in db.parent.glob('temporal.db*')) / 2**20:.1f} MiB"


def worker_options(args) -> dict:
    out = {}
    if args.workflow_tasks:
        out["max_concurrent_workflow_tasks"] = args.workflow_tasks
    if args.pollers:
        out["max_concurrent_workflow_task_polls"] = args.pollers
    if args.no_sandbox:
        out["unsandboxed"] = True
    return out


def ms(xs: list[float]) -> str:
    p50, p99 = harness.quantiles(xs)
    return f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms over {len(xs)}"


async def memory_profile(args) -> None:
    """What a cached case costs the worker: tracemalloc snapshots in the worker subprocess after n and 2n cases
    parked (every workflow cached), the difference by file and line, and by traceback for the largest."""
    import tracemalloc

    harness.private_env()
    from enforce.cases import load_case

    n = args.profile_memory
    run = uuid.uuid4().hex[:6]
    base, procedure = load_case(ROOT / "cases" / "clearview.toml")
    cases = [base.model_copy(update={"slug": f"pm-{run}-{i:05d}"}) for i in range(2 * n)]
    folder = Path(tempfile.mkdtemp(prefix="enforce-parked-trace-"))
    async with harness.dev_server() as env:
        client = env.client
        address = client.service_client.config.target_host
        queue = f"parked-{run}"
        worker = start_worker(address, queue, 10 * n + 10, trace=str(folder / "a"), trace_frames=args.frames)
        try:
            gate = asyncio.Semaphore(args.concurrency)
            snaps, rss = [], []
            for k, part in enumerate((cases[:n], cases[n:])):
                await asyncio.gather(*(open_parked(client, c, procedure, queue, gate, args.poll) for c in part))
                await asyncio.sleep(3.0)  # the last appends and their workflow tasks
                path = folder / f"s{k}"
                os.kill(worker.pid, signal.SIGUSR1)
                await asyncio.to_thread(wait_for, worker, "snapshot")
                (folder / "a").rename(path)
                snaps.append(tracemalloc.Snapshot.load(str(path)))
                rss.append(harness.rss_mib(worker.pid))
        finally:
            stop_worker(worker)
    grown = snaps[1].compare_to(snaps[0], "lineno")
    total = sum(d.size_diff for d in grown)
    wf = n * WORKFLOWS_PER_CASE
    print(
        f"{n} more cases ({wf} workflows) cached: traced Python memory +{total / 2**20:.1f} MiB "
        f"({total / n / 1024:.0f} KiB a case, {total / wf / 1024:.0f} KiB a workflow); worker RSS "
        f"{rss[0]:.0f} -> {rss[1]:.0f} MiB (+{(rss[1] - rss[0]) / n * 1024:.0f} KiB a case, with tracemalloc's own)"
    )
    by_file: dict[str, int] = {}
    for d in grown:
        f = d.traceback[0].filename
        f = f.split("site-packages/")[-1].split(str(ROOT) + "/")[-1]
        by_file[f] = by_file.get(f, 0) + d.size_diff
    print("  by file (KiB a case):")
    for f, size in sorted(by_file.items(), key=lambda x: -x[1])[:15]:
        print(f"    {size / n / 1024:8.1f}  {f}")
    print("  by line (KiB a case, blocks a case):")
    for d in grown[:25]:
        fr = d.traceback[0]
        f = fr.filename.split("site-packages/")[-1].split(str(ROOT) + "/")[-1]
        print(f"    {d.size_diff / n / 1024:8.1f}  {d.count_diff / n:8.0f}  {f}:{fr.lineno}")
    if args.frames > 1:
        print("  by traceback, the largest:")
        for d in snaps[1].compare_to(snaps[0], "traceback")[:8]:
            print(f"    {d.size_diff / n / 1024:8.1f} KiB a case")
            for fr in d.traceback.format()[-2 * args.frames :]:
                print(f"        {fr}")


async def park_bare(client, queue: str, i: int, gate: asyncio.Semaphore) -> None:
    from bench.bare import BareCase, BareInput, BareView

    async with gate:
        h = await client.start_workflow(
            BareCase.run,
            BareInput(case=f"{queue}-{i}", lead="opc", authorities=["opc"], indexed=False),
            id=f"{queue}-{i}",
            task_queue=queue,
        )
        await h.query("state", result_type=BareView)


async def bare_floor(args) -> None:
    """What the Python SDK itself costs a cached workflow: n `BareCase` workflows (bench/bare.py: one timer of a
    year, one notice activity, no domain logic), parked and all cached, with the project's data converter and
    sandbox runner and then with no sandbox. The floor under any design of the project's records."""
    harness.private_env()
    n = args.bare
    async with harness.dev_server() as env:
        client = env.client
        address = client.service_client.config.target_host
        print(f"{n} bare workflows (BareCase: a timer of a year, one activity), parked and all cached:")
        for runner in ("sandbox", "none"):
            queue = f"bare-{uuid.uuid4().hex[:6]}"
            worker = start_worker(address, queue, n + 10, bare=runner)
            try:
                rss0 = harness.rss_mib(worker.pid)
                gate = asyncio.Semaphore(args.concurrency)
                started = time.perf_counter()
                await asyncio.gather(*(park_bare(client, queue, i, gate) for i in range(n)))
                await asyncio.sleep(2.0)
                rss = harness.rss_mib(worker.pid)
                what = "the project's sandbox runner" if runner == "sandbox" else "no sandbox"
                print(f"  {what:>28}: worker RSS {rss0:.0f} -> {rss:.0f} MiB in {time.perf_counter() - started:.0f} s, "
                      f"{(rss - rss0) / n * 1024:.0f} KiB a workflow; 50,000 workflows (10,000 cases of five) "
                      f"~{(rss0 + (rss - rss0) / n * 50_000) / 1024:.1f} GiB")  # fmt: skip
            finally:
                stop_worker(worker)


async def resume(args) -> None:
    """The all-cached phase again, over the database and data folder an earlier run left (`--resume DB --data
    DIR --run ID --cases N`): its 10,000 cases take ~35 minutes to open, its keys are in its data folder."""
    from enforce.cases import load_case

    harness.use_data(Path(args.data))
    base, _ = load_case(ROOT / "cases" / "clearview.toml")
    slugs = [f"pk-{args.run}-{i:05d}" for i in range(args.cases)]
    extra = [a for p in args.pragma for a in ("--sqlite-pragma", p)]
    async with harness.dev_server(extra_args=extra, db=Path(args.resume)) as env:
        client = env.client
        address = client.service_client.config.target_host
        print(f"resumed {args.resume} ({database_mib(Path(args.resume))}), {len(slugs)} cases of run {args.run}")
        await all_cached(client, address, f"parked-{args.run}", slugs, base.authorities, worker_options(args), args)


async def main(args) -> None:
    data = harness.private_env()
    from enforce.cases import load_case

    run = uuid.uuid4().hex[:6]
    base, procedure = load_case(ROOT / "cases" / "clearview.toml")
    cases = [base.model_copy(update={"slug": f"pk-{run}-{i:05d}"}) for i in range(args.cases)]
    slugs = [c.slug for c in cases]
    db = None if args.memory else Path(tempfile.mkdtemp(prefix="enforce-parked-")) / "temporal.db"
    extra = [a for p in args.pragma for a in ("--sqlite-pragma", p)]
    options = worker_options(args)
    startup = time.perf_counter()
    async with harness.dev_server(extra_args=extra, db=db) as env:
        where = "in memory" if db is None else "SQLite file"
        print(f"dev server ({where}{', ' + ' '.join(args.pragma) if args.pragma else ''}) ready in "
              f"{time.perf_counter() - startup:.1f} s; worker options {options or 'the SDK defaults'}, "
              f"{args.concurrency} cases opened at once, parked polled every {args.poll} s")  # fmt: skip
        if db is not None:
            print(f"for --resume: --resume {db} --data {data} --run {run} --cases {args.cases}")
        client = env.client
        address = client.service_client.config.target_host
        queue = f"parked-{run}"
        server = harness.server_pids()
        worker = start_worker(address, queue, args.default_cache, **options)
        try:
            print(f"worker RSS before any case: {harness.rss_mib(worker.pid):.0f} MiB")
            gate = asyncio.Semaphore(args.concurrency)
            started = time.perf_counter()
            cpu0 = sum(harness.cpu_seconds(p) for p in server)
            wcpu0, me0, load0 = harness.cpu_seconds(worker.pid), time.process_time(), os.getloadavg()[0]
            jobs = [asyncio.create_task(open_parked(client, c, procedure, queue, gate, args.poll)) for c in cases]
            step = max(len(jobs) // 4, 1)
            for i, job in enumerate(jobs, 1):
                await job
                if i % step == 0 or i == len(jobs):
                    rate, rss = i / (time.perf_counter() - started), harness.rss_mib(worker.pid)
                    print(f"  {i:>6} cases parked, {rate:.2f} cases/s, worker RSS {rss:.0f} MiB, "
                          f"database {database_mib(db)}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
            opening = time.perf_counter() - started
            server_cpu = sum(harness.cpu_seconds(p) for p in server) - cpu0
            worker_cpu = harness.cpu_seconds(worker.pid) - wcpu0
            client_cpu = time.process_time() - me0
            if ERRORS:
                print(f"  RPC errors while parking (asked again): {ERRORS}")
            await asyncio.sleep(2.0)
            n = args.cases
            print(f"{n} cases opened and parked in {opening:.1f} s: {n / opening:.2f} cases/s (opening rate)")
            cores = (server_cpu + worker_cpu + client_cpu) / opening
            print(f"  CPU a case: server {server_cpu / n * 1000:.0f} ms, worker {worker_cpu / n * 1000:.0f} ms, "
                  f"bench client {client_cpu / n * 1000:.0f} ms; in all {cores:.2f} "
                  f"of the machine's {os.cpu_count()} cores (load average {load0:.1f} at the start)")  # fmt: skip
            print(f"  start to parked, a case: {ms(PARKING)}; {POLLS[0] / n:.1f} state polls a case")
            if db is not None:
                size = db.stat().st_size + sum(p.stat().st_size for p in db.parent.glob("temporal.db-*"))
                print(f"  SQLite database {size / 2**20:.1f} MiB, {size / n / 1024:.0f} KiB per case")

            if args.only_open:
                return
            print(f"default cache ({args.default_cache} workflows; {n * WORKFLOWS_PER_CASE} parked):")
            print(f"  worker RSS {harness.rss_mib(worker.pid):.0f} MiB  (issue target with all cached: <= 1024 MiB)")
            print(f"  state query on random cases: {ms(await query_latencies(client, slugs, args.queries))}"
                  f"  (target p99 <= 100 ms)")  # fmt: skip
            seconds, _ = harness.enforce("--help")
            print(f"  `enforce --help` (the command's start, no server): {seconds:.2f} s")
            for days in (30, 400):
                seconds, what = cli_list(address, "--due-within", f"{days}d")
                inner, found = await list_in_process(client, days)
                print(f"  enforce list --due-within {days}d: {seconds:.2f} s as a command ({what}); its query "
                      f"alone {inner * 1000:.0f} ms ({found} workflows)  (target <= 1 s)")  # fmt: skip
        finally:
            stop_worker(worker)

        await all_cached(client, address, queue, slugs, base.authorities, options, args)


async def all_cached(client, address: str, queue: str, slugs: list[str], authorities, options: dict, args) -> None:
    """The worker restarted with every workflow cachable, every record queried once, then RSS and `state`."""
    n = len(slugs)
    cache = n * WORKFLOWS_PER_CASE + 10
    worker = start_worker(address, queue, cache, **options)
    try:
        print(f"all cached (max_cached_workflows {cache}), every record queried once after the restart, "
              f"{args.warm_concurrency} cases at once:")  # fmt: skip
        first, warmed, rss0 = await warm(client, worker, slugs, authorities, args)
        print(f"  first state query after the restart (replays the history): {ms(first)}")
        if FAILED:
            print(f"  queries failed while filling the cache (asked again): {FAILED}")
        rss = harness.rss_mib(worker.pid)
        if warmed < n:
            print(f"  stopped warming at {warmed} cases: worker RSS {rss:.0f} MiB passed --rss-limit "
                  f"{args.rss_limit} MiB; at {(rss - rss0) / warmed * 1024:.0f} KiB a case, all {n} would be "
                  f"~{(rss0 + (rss - rss0) / warmed * n) / 1024:.1f} GiB")  # fmt: skip
        print(f"  worker RSS {rss:.0f} MiB with {warmed} cases ({warmed * WORKFLOWS_PER_CASE} workflows) "
              f"cached  (target <= 1024 MiB)")  # fmt: skip
        cached = await query_latencies(client, slugs[:warmed], args.queries)
        print(f"  state query on random cached cases: {ms(cached)}  (target p99 <= 100 ms)")
    finally:
        stop_worker(worker)


async def warm(client, worker: subprocess.Popen, slugs: list[str], authorities, args) -> tuple[list[float], int, float]:
    """Every record of every case queried once (the first query replays its history, which caches it), a few
    cases at once, RSS printed along the way; stops early once the worker's RSS passes `--rss-limit`. Returns
    the joint record's first-query latencies, the number of cases warmed and the RSS before."""
    from enforce import investigations
    from workflows.messages import track_id

    first: list[float] = []
    gate = asyncio.Semaphore(args.warm_concurrency)
    over = asyncio.Event()

    async def ask(call):
        for attempt in range(5):  # a query failed by the worker (a deadlock detected during a GC pause): again
            try:
                return await call()
            except Exception as e:  # noqa: BLE001 (counted and printed)
                key = f"{type(e).__name__}: {e}"[:120]
                FAILED[key] = FAILED.get(key, 0) + 1
                if attempt == 4:
                    raise
                await asyncio.sleep(1.0)

    async def one(slug: str) -> None:
        async with gate:
            if over.is_set():
                return
            started = time.perf_counter()
            await ask(lambda: investigations.state(client, slug))
            first.append(time.perf_counter() - started)
            for aid in authorities:
                h = client.get_workflow_handle(track_id(slug, aid))
                await ask(
                    lambda h=h: h.query("state", investigations.StateQuery(), result_type=investigations.StateView)
                )

    step = max(len(slugs) // 8, 1)
    started, warmed, rss0 = time.perf_counter(), 0, harness.rss_mib(worker.pid)
    for i in range(0, len(slugs), step):
        await asyncio.gather(*(one(s) for s in slugs[i : i + step]))
        warmed = min(i + step, len(slugs))
        rss = harness.rss_mib(worker.pid)
        each = (rss - rss0) / warmed * 1024
        print(f"    {warmed:>6} cases warmed in {time.perf_counter() - started:.0f} s, worker RSS {rss:.0f} MiB "
              f"({each:.0f} KiB a case over its {rss0:.0f} MiB at the restart)", flush=True)  # fmt: skip
        if args.rss_limit and rss > args.rss_limit:
            break
    return first, warmed, rss0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-worker":
        import json

        asyncio.run(serve_worker(sys.argv[2], sys.argv[3], json.loads(sys.argv[4])))
        os._exit(0)  # sdk-python#300
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=200, help="cases to park (default 200; the issue: 10000)")
    p.add_argument("--concurrency", type=int, default=10, help="cases being opened at once")
    p.add_argument("--queries", type=int, default=200, help="state queries timed on random cases")
    p.add_argument("--default-cache", type=int, default=1000, help="the default cache (the SDK's: 1000)")
    p.add_argument("--poll", type=float, default=0.5, help="seconds between state polls while a case parks")
    p.add_argument("--memory", action="store_true", help="the dev server in memory, not on a SQLite file")
    p.add_argument("--pragma", action="append", default=[], help="a --sqlite-pragma for the dev server, e.g. "
                   "journal_mode=wal or synchronous=off (repeatable)")  # fmt: skip
    p.add_argument("--workflow-tasks", type=int, default=0, help="worker max_concurrent_workflow_tasks")
    p.add_argument("--pollers", type=int, default=0, help="worker max_concurrent_workflow_task_polls")
    p.add_argument(
        "--profile-memory",
        type=int,
        default=0,
        metavar="N",
        help="instead: tracemalloc in the worker between N and 2N cases cached (what a case costs)",
    )
    p.add_argument("--frames", type=int, default=1, help="traceback frames kept with --profile-memory")
    p.add_argument("--warm-concurrency", type=int, default=8, help="cases queried at once to fill the cache")
    p.add_argument("--rss-limit", type=int, default=16384, metavar="MIB",
                   help="stop filling the cache once the worker's RSS passes this (0: no limit)")  # fmt: skip
    p.add_argument("--no-sandbox", action="store_true", help="the worker without the workflow sandbox (to "
                   "measure what it costs; the project's worker always runs it)")  # fmt: skip
    p.add_argument("--bare", type=int, default=0, metavar="N",
                   help="instead: N bare workflows cached, what the SDK itself costs a workflow")  # fmt: skip
    p.add_argument("--resume", metavar="DB", help="instead: the all-cached phase over an earlier run's database")
    p.add_argument("--data", help="with --resume: that run's data folder (its keys)")
    p.add_argument("--run", help="with --resume: that run's id (its slugs are pk-<run>-00000 ...)")
    p.add_argument("--only-open", action="store_true", help="stop once the cases are parked (the opening rate)")
    args = p.parse_args()
    asyncio.run(
        memory_profile(args)
        if args.profile_memory
        else bare_floor(args)
        if args.bare
        else resume(args)
        if args.resume
        else main(args)
    )
    sys.stdout.flush()
    os._exit(0)
