"""What the joint workflow and each authority's track share: a record (the aggregate) on the case clock,
actions as updates with validators, notices served through an activity, and a durable timer per deadline.

Deterministic only: time is `workflow.now()` shifted by the case clock; every side effect is an activity.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, time, timedelta

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Pure and deterministic: shared across workflow runs instead of re-imported per run.
    from activities.notices import UNDELIVERABLE, serve_notice
    from domain import events as ev
    from domain.actions import New, explain, parse_action
    from domain.clock import CaseClock
    from domain.errors import Rejected
    from domain.investigation import Investigation
    from domain.notices import NoticeRequest
    from domain.policy import next_reminder, notices_for, on_missed, reminder
    from domain.state import DeadlineState, events_visible_to, visible_to
    from workflows import search_attributes as sa
    from workflows.details import current_details
    from workflows.messages import ActResult, EventBatch, EventsQuery, EventsView, StateQuery, StateView

NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=8,
    non_retryable_error_types=[UNDELIVERABLE],
)
NOTICE_TIMEOUT = timedelta(minutes=2)
# The delivery heartbeats every 2 s: a worker silent for this long is dead, and its attempt is retried now.
NOTICE_HEARTBEAT = timedelta(seconds=10)
# A reminder goes out in the morning of its day, on the case clock.
REMINDER_HOUR = time(9, 0)
REJECTED = "Rejected"


def pure(fn, *args):
    """Run domain code free of the sandbox's restrictions: the holidays package reads its own translation
    files when it builds a year's calendar, which is deterministic for its pinned version."""
    with workflow.unsafe.sandbox_unrestricted():
        return fn(*args)


class CaseRecord:
    """Base for the investigation workflows. Subclasses set `inv`, `clock` and `indexed`, and say where
    their events go (`forward`)."""

    inv: Investigation
    clock: CaseClock
    indexed: bool

    def _setup(self, inv: Investigation, clock: CaseClock) -> None:
        self.inv = inv
        self.clock = clock
        self.timers: dict[str, asyncio.Task] = {}
        self.pending: set[str] = set()
        # Events go to the other records of the case in the order they were recorded, one batch at a time.
        self.outgoing = asyncio.Lock()
        self.sending = 0
        self.indexed = workflow.info().typed_search_attributes.get(sa.PROCEDURE) is not None

    def now(self) -> datetime:
        return self.clock.case_time(workflow.now())

    # ------------------------------------------------------------------ actions (updates)

    def _parse(self, name: str, args: Sequence[RawValue]):
        if len(args) != 1:
            raise Rejected(f"{name}: give one JSON object with the action's fields (at least `by`)")
        payload = workflow.payload_converter().from_payload(args[0].payload)
        if not isinstance(payload, dict):
            raise Rejected(f"{name}: give one JSON object with the action's fields (at least `by`)")
        return parse_action(name, payload)

    @workflow.update(dynamic=True)
    async def act(self, name: str, args: Sequence[RawValue]) -> ActResult:
        """Every action of the vocabulary (domain.actions) is an update of its own name."""
        action = self._parse(name, args)
        recorded = pure(self.inv.execute, action, self.now())
        workflow.logger.info(
            "action recorded", extra={"action": name, "by": action.by, "events": [e.type for e in recorded]}
        )
        await self.after(recorded)
        return ActResult(
            action=name,
            recorded=[e.type for e in recorded],
            first_seq=recorded[0].seq,
            last_seq=recorded[-1].seq,
            stage=self.inv.state.stage,
        )

    @act.validator
    def check_act(self, name: str, args: Sequence[RawValue]) -> None:
        # Rejected here, the update never reaches history: no event, no failed workflow task.
        try:
            action = self._parse(name, args)
        except Rejected as e:
            by = self._actor(args)
            if by:
                e = pure(explain, e, self.inv.state, self.inv.ctx(self.now()), by)
            raise ApplicationError(str(e), type=REJECTED, non_retryable=True) from None
        try:
            pure(self.inv.validate, action, self.now())
        except Rejected as e:
            raise ApplicationError(str(e), type=REJECTED, non_retryable=True) from None

    def _actor(self, args: Sequence[RawValue]) -> str | None:
        try:
            payload = workflow.payload_converter().from_payload(args[0].payload)
        except Exception:
            return None
        return payload.get("by") if isinstance(payload, dict) and isinstance(payload.get("by"), str) else None

    # ------------------------------------------------------------------ what follows recording

    async def after(self, recorded: list[ev.Event], mirrored: Collection[int] = ()) -> None:
        """Publish, tell the other records of the case, serve notices, and (re)arm clocks.

        `mirrored`: the seqs of events taken in from another record, which this one neither re-sends nor
        serves notices for."""
        self.publish()
        originated = [e for e in recorded if e.seq not in mirrored]
        self.arm_timers()
        for e in originated:
            for req in pure(notices_for, self.inv.state, e, self.inv.ctx(self.now())):
                # Served in the background: an action returns once recorded, not once delivered.
                self.pending.add(req.notice_id)
                asyncio.create_task(self.serve(req))
        await self.forward(originated)

    async def send(self, workflow_id: str, signal: str, events: list[ev.Event]) -> None:
        """Send events to another record of the case, after whatever this one sent before."""
        self.sending += 1
        try:
            async with self.outgoing:
                await workflow.get_external_workflow_handle(workflow_id).signal(
                    signal, EventBatch(events=events, source=self.inv.owner)
                )
        except Exception as e:  # that record is gone (closed, terminated): this one goes on
            workflow.logger.warning("events not delivered", extra={"to": workflow_id, "error": str(e)})
        finally:
            self.sending -= 1

    def take_in(self, batch: EventBatch) -> tuple[list[ev.Event], set[int]]:
        """Record events another record of the case sent, and what follows from them here."""
        recorded, mirrored = [], set()
        for event in batch.events:
            taken = pure(self.inv.mirror, event)
            mirrored.add(taken[0].seq)
            recorded += taken
        return recorded, mirrored

    async def forward(self, events: list[ev.Event]) -> None:
        raise NotImplementedError

    async def serve(self, req: NoticeRequest) -> None:
        by = req.senders[0].id if len(req.senders) == 1 else self.inv.state.lead
        common = dict(
            notice_id=req.notice_id,
            kind=req.kind,
            senders=[s.id for s in req.senders],
            to=req.to,
            cause=req.cause,
            cause_type=req.cause_type,
        )
        self.pending.add(req.notice_id)
        try:
            receipt = await workflow.execute_activity(
                serve_notice,
                req,
                start_to_close_timeout=NOTICE_TIMEOUT,
                heartbeat_timeout=NOTICE_HEARTBEAT,
                retry_policy=NOTICE_RETRY,
                summary=f"Serve {req.kind.replace('-', ' ')} on {req.to.name}",
            )
        except ActivityError as e:
            reason = e.cause.message if isinstance(e.cause, ApplicationError) else str(e.cause or e)
            workflow.logger.warning("notice not served", extra={"notice_id": req.notice_id, "reason": reason})
            new = New(ev.NoticeFailed, by, {**common, "channel": req.to.channel, "reason": reason})
        else:
            new = New(
                ev.NoticeServed,
                by,
                {
                    **common,
                    "section": req.section,
                    "channel": receipt.channel,
                    "message_id": receipt.message_id,
                    "delivered_at": self.now(),
                    "document": receipt.document,
                    "sha256": receipt.sha256,
                    "deadline": req.deadline,
                },
            )
        try:
            await self.after(pure(self.inv.record, [new], self.now()))
        finally:
            self.pending.discard(req.notice_id)

    # ------------------------------------------------------------------ clocks

    def arm_timers(self) -> None:
        """One durable timer per running deadline this record keeps; a moved deadline re-arms its own."""
        for d in self.inv.state.deadlines.values():
            if d.owner == self.inv.owner and d.running and not self._timer_alive(d.deadline_id):
                self.timers[d.deadline_id] = asyncio.create_task(self.watch(d.deadline_id))

    def _timer_alive(self, did: str) -> bool:
        task = self.timers.get(did)
        return task is not None and not task.done()

    def _deadline(self, did: str) -> DeadlineState:
        return self.inv.state.deadlines[did]

    async def watch(self, did: str) -> None:
        while (d := self._deadline(did)).running:
            ctx = self.inv.ctx(self.now())
            remind = pure(next_reminder, self.inv.state, d, ctx, self.now().date())
            expiry = self.clock.end_of_day(d.due)
            if remind is not None and remind <= d.due:
                target = self.clock.real_time(datetime.combine(remind, REMINDER_HOUR, tzinfo=UTC))
                summary = f"Reminder: {d.summary} (due {d.due.isoformat()})"
            else:
                remind, target, summary = None, expiry, f"{d.summary} (due {d.due.isoformat()})"
            version = d.version
            delay = (target - workflow.now()).total_seconds()
            if delay > 0:
                try:
                    await workflow.wait_condition(
                        lambda v=version: self._deadline(did).version != v, timeout=delay, timeout_summary=summary
                    )
                    continue  # extended, paused, met: look again
                except TimeoutError:
                    if self._deadline(did).version != version:
                        continue  # moved in the same instant the timer fired: the move wins
            if remind is not None:
                await self.serve(pure(reminder, self.inv.state, d, ctx, remind))
                continue
            workflow.logger.info("deadline missed", extra={"deadline": did})
            missed = pure(on_missed, self.inv.state, d, ctx)
            await self.after(pure(self.inv.record, missed, self.now()))
            return

    async def settle(self) -> None:
        """Before this run ends: no update half-done, no notice half-served."""
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not self.pending and not self.sending
        )

    # ------------------------------------------------------------------ what people see

    def publish(self) -> None:
        state = self.inv.state
        workflow.set_current_details(current_details(state, self.inv.events, self.now(), self.inv.owner))
        if not self.indexed:
            return  # started without search attributes: the time-skipping test server knows none
        nxt = state.next_deadline
        updates: list[SearchAttributeUpdate] = [
            sa.AWAITING_PARTY.value_set(state.awaiting_party),
            sa.NEXT_DEADLINE.value_set(self.clock.start_of_day(nxt.due)) if nxt else sa.NEXT_DEADLINE.value_unset(),
            *self.stage_attributes(),
        ]
        workflow.upsert_search_attributes(updates)

    def stage_attributes(self) -> list[SearchAttributeUpdate]:
        return []

    @workflow.query(name="state")
    def query_state(self, q: StateQuery | None = None) -> StateView:
        state = self.inv.state
        if q and q.as_party:
            state = visible_to(state, q.as_party)
        return StateView(state=state, clock=self.now(), events=len(self.inv.events), pending=len(self.pending))

    @workflow.query(name="events")
    def query_events(self, q: EventsQuery | None = None) -> EventsView:
        events = self.inv.events_after(q.after if q else 0)
        if q and q.as_party:
            events = events_visible_to(events, self.inv.state, q.as_party)
        return EventsView(events=events)
