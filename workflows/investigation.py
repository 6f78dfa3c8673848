"""The investigation workflow (`investigation-<slug>`): owns the joint record of one case.

Deterministic orchestration only: the rules live in `domain`, the side effects in `activities`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Pure and deterministic: safe to share across workflow runs instead of re-importing per run.
    from activities.notices import UNDELIVERABLE, serve_notice
    from domain.case import CaseFile
    from domain.clock import CaseClock
    from domain.events import AnyEvent, NoticeFailed, NoticeServed
    from domain.investigation import Investigation
    from domain.notices import NoticeRequest
    from domain.procedure import Procedure
    from domain.state import InvestigationState, Stage
    from workflows import search_attributes as sa
    from workflows.details import current_details

NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=8,
    non_retryable_error_types=[UNDELIVERABLE],
)
NOTICE_TIMEOUT = timedelta(minutes=2)


def workflow_id(slug: str) -> str:
    return f"investigation-{slug}"


class Carried(BaseModel):
    """What a continued-as-new run takes over: the whole record and the case clock."""

    events: list[AnyEvent]
    clock: CaseClock


class InvestigationInput(BaseModel):
    case: CaseFile
    procedure: Procedure
    carried: Carried | None = None


class InvestigationResult(BaseModel):
    slug: str
    stage: Stage | None
    events: int


class StateQuery(BaseModel):
    pass


class StateView(BaseModel):
    state: InvestigationState
    clock: datetime
    events: int


class EventsQuery(BaseModel):
    after: int = 0


class EventsView(BaseModel):
    events: list[AnyEvent]


@workflow.defn(name="Investigation")
class InvestigationWorkflow:
    @workflow.init
    def __init__(self, input: InvestigationInput) -> None:
        self.case = input.case
        carried = input.carried
        self.inv = Investigation(input.procedure, carried.events if carried else [])
        self.clock = carried.clock if carried else CaseClock.starting(workflow.now(), input.case.opened)

    def now(self) -> datetime:
        return self.clock.case_time(workflow.now())

    @workflow.run
    async def run(self, input: InvestigationInput) -> InvestigationResult:
        if not self.inv.events:
            opened = self.inv.open(self.case, self.now())
            workflow.logger.info("investigation opened", extra={"slug": self.case.slug})
            self._publish()
            await self.serve(self.inv.notice_of_investigation(self.case, opened))

        await workflow.wait_condition(
            lambda: self.inv.state.stage == Stage.CLOSED or workflow.info().is_continue_as_new_suggested()
        )
        # Let any update still running finish writing its events before this run ends.
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.inv.state.stage != Stage.CLOSED:
            workflow.continue_as_new(
                InvestigationInput(
                    case=self.case,
                    procedure=self.inv.procedure,
                    carried=Carried(events=self.inv.events, clock=self.clock),
                )
            )
        return InvestigationResult(slug=self.case.slug, stage=self.inv.state.stage, events=len(self.inv.events))

    async def serve(self, req: NoticeRequest) -> None:
        by = req.senders[0].id if len(req.senders) == 1 else self.inv.state.lead
        try:
            receipt = await workflow.execute_activity(
                serve_notice,
                req,
                start_to_close_timeout=NOTICE_TIMEOUT,
                retry_policy=NOTICE_RETRY,
                summary=f"Serve {req.kind.replace('-', ' ')} on {req.to.name}",
            )
        except ActivityError as e:
            cause = e.cause.message if isinstance(e.cause, ApplicationError) else str(e.cause or e)
            self.inv.record(
                NoticeFailed,
                on=self.now(),
                by=by,
                notice_id=req.notice_id,
                kind=req.kind,
                senders=[s.id for s in req.senders],
                to=req.to,
                channel=req.to.channel,
                reason=cause,
            )
            workflow.logger.warning("notice not served", extra={"notice_id": req.notice_id, "reason": cause})
        else:
            self.inv.record(
                NoticeServed,
                on=self.now(),
                by=by,
                notice_id=req.notice_id,
                kind=req.kind,
                senders=[s.id for s in req.senders],
                section=req.section,
                to=req.to,
                channel=receipt.channel,
                message_id=receipt.message_id,
                delivered_at=self.now(),
                document=receipt.document,
                sha256=receipt.sha256,
            )
        self._publish()

    def _publish(self) -> None:
        """Refresh what the UI and visibility show: current details, and the search attributes if indexed."""
        state = self.inv.state
        workflow.set_current_details(current_details(state, self.inv.events, self.now()))
        # Only a run started with search attributes upserts them: the time-skipping test server knows none.
        if workflow.info().typed_search_attributes.get(sa.PROCEDURE) is None:
            return
        workflow.upsert_search_attributes(
            [
                sa.INVESTIGATION_STAGE.value_set(state.stage.value if state.stage else "opened"),
                sa.AWAITING_PARTY.value_set(state.awaiting_party),
            ]
        )

    @workflow.query(name="state")
    def query_state(self, q: StateQuery | None = None) -> StateView:
        return StateView(state=self.inv.state, clock=self.now(), events=len(self.inv.events))

    @workflow.query(name="events")
    def query_events(self, q: EventsQuery | None = None) -> EventsView:
        return EventsView(events=self.inv.events_after(q.after if q else 0))
