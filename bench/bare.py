"""Bare Temporal baselines for the benchmarks: the least Temporal work that reaches a business outcome, and
no domain logic. Not the project's workflows; never registered by the project's worker.

- `BareCase`: one workflow per case, the joint lifecycle to escalation. One update per business step
  (draft findings, each co-authority's concurrence, the recommendations, the answer), one activity per notice
  the project serves at that step (one notice of investigation; the draft findings to each co-authority; the
  report of findings), one durable timer per deadline the project runs (the lead's report year, the comments
  window, the response window from service, the court-application year after the findings), cancelled when
  met, and one search-attribute upsert per stage change (what `enforce list --stage` reads).
- `BareFloor`: the timers and activities of a real simulation, nothing else: at each moment a timer fired
  in the real run it sleeps until then and runs that moment's activities; the timers the real run cancelled
  are started and cancelled.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa

NOTICE_TIMEOUT = timedelta(seconds=60)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)
DAY = timedelta(days=1)


class BareNotice(BaseModel):
    case: str
    kind: str
    to: str


class BareReceipt(BaseModel):
    sha256: str


@activity.defn(name="bare_notice")
async def bare_notice(n: BareNotice) -> BareReceipt:
    """A notice's side effect at its cheapest: its digest (the project renders, files and delivers)."""
    return BareReceipt(sha256=hashlib.sha256(f"{n.case}/{n.kind}/{n.to}".encode()).hexdigest())


class BareInput(BaseModel):
    case: str
    lead: str
    authorities: list[str]
    indexed: bool = True


class BareStep(BaseModel):
    by: str
    refused: bool = False


class BareResult(BaseModel):
    stage: str


class BareView(BaseModel):
    stage: str
    concurred: list[str]
    timers: list[str]


@workflow.defn(name="BareCase")
class BareCase:
    @workflow.init
    def __init__(self, input: BareInput) -> None:
        self.input = input
        self.stage = "investigating"
        self.concurred: list[str] = []
        self.timers: dict[str, asyncio.Task] = {}

    def _set_stage(self, stage: str) -> None:
        self.stage = stage
        if self.input.indexed:
            workflow.upsert_search_attributes([sa.INVESTIGATION_STAGE.value_set(stage)])

    def _timer(self, name: str, delay: timedelta) -> None:
        self.timers[name] = asyncio.create_task(workflow.sleep(delay, summary=name))

    def _met(self, name: str) -> None:
        task = self.timers.pop(name, None)
        if task is not None:
            task.cancel()

    async def _notify(self, kind: str, to: str) -> None:
        await workflow.execute_activity(
            bare_notice,
            BareNotice(case=self.input.case, kind=kind, to=to),
            start_to_close_timeout=NOTICE_TIMEOUT,
            retry_policy=RETRY,
        )

    def _need(self, stage: str, by: str | None = None) -> None:
        if self.stage != stage:
            raise ApplicationError(f"not allowed in stage {self.stage}", non_retryable=True)
        if by is not None and by != self.input.lead:
            raise ApplicationError(f"{by} is not the lead", non_retryable=True)

    @workflow.run
    async def run(self, input: BareInput) -> BareResult:
        self._timer("report", 365 * DAY)
        asyncio.create_task(self._notify("notice-of-investigation", "respondent"))
        await workflow.wait_condition(lambda: self.stage == "closed")
        return BareResult(stage=self.stage)

    @workflow.update(name="draft-findings")
    async def draft(self, step: BareStep) -> BareResult:
        self._set_stage("findings")
        self._timer("comments", 10 * DAY)
        for aid in self.input.authorities:
            if aid != self.input.lead:
                asyncio.create_task(self._notify("draft-findings", aid))
        return BareResult(stage=self.stage)

    @draft.validator
    def _check_draft(self, step: BareStep) -> None:
        self._need("investigating", step.by)

    @workflow.update(name="concur")
    async def concur(self, step: BareStep) -> BareResult:
        self.concurred.append(step.by)
        if len(self.concurred) == len(self.input.authorities) - 1:
            self._met("report")
            self._met("comments")
            self._timer("court-application", 365 * DAY)
            self._set_stage("recommendations")
        return BareResult(stage=self.stage)

    @concur.validator
    def _check_concur(self, step: BareStep) -> None:
        self._need("findings")
        if step.by == self.input.lead or step.by not in self.input.authorities or step.by in self.concurred:
            raise ApplicationError(f"{step.by} may not concur", non_retryable=True)

    @workflow.update(name="issue-recommendations")
    async def recommend(self, step: BareStep) -> BareResult:
        self._set_stage("serving")
        # The response window runs from service: the update returns once the report is served.
        await self._notify("report-of-findings", "respondent")
        self._timer("response", 30 * DAY)
        self._set_stage("awaiting-response")
        return BareResult(stage=self.stage)

    @recommend.validator
    def _check_recommend(self, step: BareStep) -> None:
        self._need("recommendations", step.by)

    @workflow.update(name="answer-recommendations")
    async def answer(self, step: BareStep) -> BareResult:
        self._met("response")
        self._set_stage("escalation" if step.refused else "closed")
        return BareResult(stage=self.stage)

    @answer.validator
    def _check_answer(self, step: BareStep) -> None:
        self._need("awaiting-response")

    @workflow.query(name="state")
    def state(self) -> BareView:
        return BareView(stage=self.stage, concurred=self.concurred, timers=sorted(self.timers))


async def drive_bare(client, case: str, lead: str, authorities: list[str], task_queue: str, indexed: bool = True):
    """One bare case from its start to escalation: the same business steps as the project's lifecycle."""
    handle = await client.start_workflow(
        BareCase.run,
        BareInput(case=case, lead=lead, authorities=authorities, indexed=indexed),
        id=f"bare-{case}",
        task_queue=task_queue,
        search_attributes=None,
    )
    await handle.execute_update("draft-findings", BareStep(by=lead), result_type=BareResult)
    for aid in authorities:
        if aid != lead:
            await handle.execute_update("concur", BareStep(by=aid), result_type=BareResult)
    await handle.execute_update("issue-recommendations", BareStep(by=lead), result_type=BareResult)
    result = await handle.execute_update(
        "answer-recommendations", BareStep(by="respondent", refused=True), result_type=BareResult
    )
    return result.stage


# ------------------------------------------------------------------------------------------ the simulation's floor


class Moment(BaseModel):
    """A moment a timer fired in the real run, in seconds after its start, and the activities run then."""

    at: float
    activities: int


class FloorInput(BaseModel):
    moments: list[Moment]
    cancelled: list[float]  # the lengths (seconds) of the timers the real run started and cancelled
    activities_at_start: int = 0


class FloorResult(BaseModel):
    timers: int
    activities: int


@workflow.defn(name="BareFloor")
class BareFloor:
    @workflow.run
    async def run(self, input: FloorInput) -> FloorResult:
        start = workflow.now()
        done = 0

        async def burst(k: int) -> None:
            await asyncio.gather(
                *(
                    workflow.execute_activity(
                        bare_notice,
                        BareNotice(case="floor", kind="notice", to=str(i)),
                        start_to_close_timeout=NOTICE_TIMEOUT,
                        retry_policy=RETRY,
                    )
                    for i in range(k)
                )
            )

        # The timers the real run cancelled: started now, long enough not to fire, cancelled in a later task
        # (a timer started and cancelled in one workflow task never reaches history).
        span = max((m.at for m in input.moments), default=0.0)
        cancelled = [
            asyncio.create_task(workflow.sleep(length + span + 1, summary=f"cancelled {i}"))
            for i, length in enumerate(input.cancelled)
        ]
        await burst(input.activities_at_start)
        done += input.activities_at_start
        if not input.activities_at_start:
            await workflow.sleep(1.0)
        for task in cancelled:
            task.cancel()
        for m in sorted(input.moments, key=lambda m: m.at):
            delay = m.at - (workflow.now() - start).total_seconds()
            await workflow.sleep(max(delay, 1.0))
            await burst(m.activities)
            done += m.activities
        return FloorResult(timers=len(input.moments) + len(input.cancelled), activities=done)
