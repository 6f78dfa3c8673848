"""How long the whole Clearview case takes to simulate, against its floor, and what the pure parts cost.

    .venv/bin/python bench/simulation.py [runs]        # default 3 runs

The simulation (`enforce.simulate.run`, as `enforce simulate cases/clearview.toml` runs it) is timed whole,
server start included, with its settling counted by wrapping `enforce.simulate.quiet` (a wait until the case
is quiet), `enforce.investigations.quiet` (one record's `quiet` query, then its update if busy) and
`enforce.investigations.state` from here, and the time spent waiting for quiet. Its histories (the joint
record and every track) are read before its server stops, and give the FLOOR: a bare workflow (bench/bare.py
`BareFloor`) on a time-skipping server of its own, doing the same timers (those that fired, at the same case
times; those cancelled or left running, started and cancelled) and the same number of activities, timed the
same way (server start, worker, run, shutdown) in the same run.

Prints figures; asserts nothing. Speed is measured here, never in the test suite.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from bench import bare, harness  # noqa: E402
from domain.deadlines import due_date  # noqa: E402
from domain.state import fold  # noqa: E402
from enforce import investigations, simulate  # noqa: E402
from enforce.cases import load_case  # noqa: E402
from workflows.messages import track_id, workflow_id  # noqa: E402


class Settling:
    """How the simulation knows a case has settled: the `quiet` asks of the records (enforce.investigations.quiet,
    one update each) and the rounds of them (enforce.simulate.quiet), counted and timed by wrapping those
    functions from here (enforce/ is not edited), and the state queries besides."""

    def __init__(self) -> None:
        self.asks = self.calls = self.states = 0
        self.seconds = 0.0

    def install(self) -> None:
        ask, settle, state = investigations.quiet, simulate.quiet, investigations.state

        async def counted_ask(client, record):
            self.asks += 1
            return await ask(client, record)

        async def counted_state(client, slug, as_party=None):
            self.states += 1
            return await state(client, slug, as_party)

        async def timed_settle(client, slug, authorities):
            self.calls += 1
            started = time.perf_counter()
            try:
                return await settle(client, slug, authorities)
            finally:
                self.seconds += time.perf_counter() - started

        investigations.quiet, simulate.quiet, investigations.state = counted_ask, timed_settle, counted_state


async def histories(client, slug: str, authorities: list[str]):
    """The work of the simulation's records, and the floor's input: its timers and activities in case time."""
    ids = [workflow_id(slug)] + [track_id(slug, a) for a in authorities]
    work = await harness.work_of_ids(client, ids)
    starts, fires, cancelled, activities = [], [], [], []
    started_timers: dict[tuple[str, int], float] = {}
    for wid in ids:
        async for e in client.get_workflow_handle(wid).fetch_history_events():
            at = e.event_time.ToDatetime().timestamp()
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                starts.append(at)
            elif e.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                length = e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
                started_timers[(wid, e.event_id)] = length
            elif e.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
                fires.append(at)
                started_timers.pop((wid, e.timer_fired_event_attributes.started_event_id), None)
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                activities.append(at)
    cancelled = list(started_timers.values())  # cancelled, or still running when the simulation ended
    t0 = min(starts)
    fires = sorted(f - t0 for f in fires)
    moments = [bare.Moment(at=f, activities=0) for f in fires]
    at_start = 0
    for a in activities:
        a -= t0
        before = [m for m in moments if m.at <= a + 1e-6]
        if before:
            before[-1].activities += 1
        else:
            at_start += 1
    return work, bare.FloorInput(moments=moments, cancelled=cancelled, activities_at_start=at_start)


async def floor(spec: bare.FloorInput) -> tuple[float, harness.Work]:
    started = time.perf_counter()
    async with harness.skipping_server() as env:
        async with Worker(env.client, task_queue="floor", workflows=[bare.BareFloor], activities=[bare.bare_notice]):
            await env.client.execute_workflow(bare.BareFloor.run, spec, id="floor", task_queue="floor")
            seconds = time.perf_counter() - started
            work = await harness.work_of_ids(env.client, ["floor"])
    return seconds, work


def main(runs: int) -> None:
    harness.private_env()
    case, procedure = load_case(ROOT / "cases" / "clearview.toml")
    settling = Settling()
    settling.install()
    seconds, result, found = [], None, {}

    async def keep(client):
        if not found:
            found["work"], found["floor"] = await histories(client, case.slug, case.authorities)

    for _ in range(runs):
        started = time.perf_counter()
        result = asyncio.run(simulate.run(case, procedure, before_shutdown=keep))
        seconds.append(time.perf_counter() - started)
    assert result is not None
    spec: bare.FloorInput = found["floor"]
    work: harness.Work = found["work"]
    floors, floor_work = [], None
    for _ in range(runs):
        s, floor_work = asyncio.run(floor(spec))
        floors.append(s)
    sim, flo = statistics.median(seconds), statistics.median(floors)
    print(
        f"simulate clearview: {len(result.events)} events, {len(result.deadlines)} deadlines, "
        f"{runs} runs: median {sim:.2f} s, min {min(seconds):.2f} s, max {max(seconds):.2f} s"
    )
    print(f"  settling per run: {settling.calls / runs:.0f} waits for quiet, {settling.asks / runs:.0f} quiet asks "
          f"of the records, {settling.states / runs:.0f} state queries; {settling.seconds / runs:.2f} s waiting "
          f"({settling.seconds / runs / sim:.0%} of the run)")  # fmt: skip
    timers = len(spec.moments) + len(spec.cancelled)
    acts = spec.activities_at_start + sum(m.activities for m in spec.moments)
    print(
        f"floor (bare time-skipping workflow, {len(spec.moments)} timers fired, {len(spec.cancelled)} started "
        f"and cancelled, {acts} activities): median {flo:.2f} s, min {min(floors):.2f} s, max {max(floors):.2f} s"
    )
    print(f"  simulation / floor: {sim / flo:.1f}x  (issue target <= 2x)")
    print(f"  history events: simulation {work.total} over {sum(work.runs.values())} workflows "
          f"(timers started {sum(n for (k, e), n in work.kinds.items() if e == 'timer_started')}, "
          f"activities {sum(work.activities.values())}); floor {floor_work.total if floor_work else 0} "
          f"({timers} timers, {acts} activities)")  # fmt: skip
    harness.print_work(work, 1, "simulation", top=16)

    started = time.perf_counter()
    for _ in range(200):
        fold(result.events)
    print(f"fold of {len(result.events)} events: {(time.perf_counter() - started) / 200 * 1000:.2f} ms")

    rule = procedure.authority("oipc-bc").deadlines["compliance"]
    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(2000)]
    started = time.perf_counter()
    for d in days:
        due_date(rule, d, procedure.calendars)
    print(
        f"BC PIPA 30-day due dates: {(time.perf_counter() - started) / len(days) * 1e6:.1f} us each "
        f"(calendars cached after the first year)"
    )
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    sys.stdout.flush()
    harness.os._exit(0)  # sdk-python#300: a process that ran a worker can abort at interpreter exit
