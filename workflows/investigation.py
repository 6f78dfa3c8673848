"""The investigation workflow (`investigation-<slug>`): the joint record of one case.

It owns the joint stages (opening, investigation, findings, recommendations, the respondent's answer) and
starts one track per authority (`workflows.track`), which owns that authority's concurrence and escalation.
Parent and tracks keep each other informed by signals; neither reads the other's state.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain import events as ev
    from domain.actions import CASE
    from domain.clock import CaseClock
    from domain.investigation import Investigation
    from domain.state import Stage
    from workflows import search_attributes as sa
    from workflows.messages import (
        InvestigationInput,
        InvestigationResult,
        TrackInput,
        track_id,
    )
    from workflows.record import CaseRecord, pure
    from workflows.track import AuthorityTrackWorkflow

# From this patch on, a run that continues as new passes its memo on.
MEMO_CARRIED = "memo-carried"
# From this patch on, the tracks are started together, and an action waits until all of them run: before it,
# one track was started per workflow task, and an action taken in between reached only the tracks started.
TRACKS_TOGETHER = "tracks-together"
# From this patch on, a case under a procedure of its own steps (eu-gdpr) is listed at its phase
# (`InvestigationStage = dispute-resolution`), which is where it is; before it, at the common stage only.
STAGE_IS_PHASE = "stage-is-phase"
# From this patch on, a joint batch goes to every track at once (ordered per track), not one track after another.
SIGNALS_TOGETHER = "signals-together"


@workflow.defn(name="Investigation")
class InvestigationWorkflow(CaseRecord):
    # Events of the authorities' tracks, for the joint record (see CaseRecord.on_signal).
    inbox = "track_event"

    @workflow.init
    def __init__(self, input: InvestigationInput) -> None:
        self.case = input.case
        carried = input.carried
        clock = carried.clock if carried else CaseClock.starting(workflow.now(), input.case.opened)
        inv = carried.record(input.procedure, CASE) if carried else Investigation(input.procedure, CASE)
        self._setup(inv, clock, carried)

    @workflow.run
    async def run(self, input: InvestigationInput) -> InvestigationResult:
        if self.inv.state.last_seq == 0:
            recorded = pure(self.inv.open, self.case, self.now())
            workflow.logger.info("investigation opened", extra={"slug": self.case.slug})
            if workflow.patched(TRACKS_TOGETHER):
                self.opening = True
                try:
                    await asyncio.gather(*(self.start_track(aid, recorded[0]) for aid in self.case.authorities))
                finally:
                    self.opening = False
            else:
                for aid in self.case.authorities:
                    await self.start_track(aid, recorded[0])
            await self.after(recorded)
        else:
            self.publish()
            self.arm_timers()
            if self.unstored:
                self.store()  # what the run before could not store yet goes first

        await workflow.wait_condition(
            lambda: self.inv.state.stage == Stage.CLOSED or workflow.info().is_continue_as_new_suggested()
        )
        await self.settle()
        if self.inv.state.stage != Stage.CLOSED:
            # The server drops a memo on continue-as-new: the next run keeps the one `enforce list` reads.
            memo = dict(workflow.memo()) if workflow.patched(MEMO_CARRIED) else None
            workflow.continue_as_new(
                InvestigationInput(
                    case=self.case,
                    procedure=self.inv.procedure,
                    carried=self.carry(),
                ),
                memo=memo,
            )
        state = self.inv.state
        return InvestigationResult(
            slug=state.slug,
            stage=state.stage,
            events=self.inv.state.last_seq,
            outcomes={a: t.outcome for a, t in state.tracks.items()},
        )

    async def start_track(self, aid: str, opened: ev.Event) -> None:
        procedure = self.inv.procedure
        auth = procedure.authority(aid)
        attrs = None
        if self.indexed:
            attrs = TypedSearchAttributes(
                [
                    SearchAttributePair(sa.PROCEDURE, procedure.id),
                    SearchAttributePair(sa.AUTHORITY, aid),
                    SearchAttributePair(sa.LEAD_AUTHORITY, self.case.lead),
                ]
            )
        await workflow.start_child_workflow(
            AuthorityTrackWorkflow.run,
            TrackInput(authority=aid, procedure=procedure, opened=opened, clock=self.clock, indexed=self.indexed),
            id=track_id(self.case.slug, aid),
            # A track lives its own life: it outlasts a continue-as-new of this run.
            parent_close_policy=ParentClosePolicy.ABANDON,
            search_attributes=attrs,
            static_summary=f"{auth.short} track of {self.case.title}, under {auth.cite}",
        )

    async def forward(self, events: list[ev.Event]) -> None:
        joint = [e for e in events if e.type in self.follow]
        if not joint:
            return
        # Every track hears of the closure; the others only while they are open.
        state = self.inv.state
        batches = [
            (track_id(state.slug, aid), batch)
            for aid in state.tracks
            if (batch := [e for e in joint if aid in state.open_tracks or e.type == "InvestigationClosed"])
        ]
        if not batches:
            return
        if workflow.patched(SIGNALS_TOGETHER):
            # All the tracks' signals in one workflow task, each still after the batches sent to that track
            # before: one round trip for the lot, where one a track followed the other.
            await asyncio.gather(*(self.send(t, "joint_event", b, together=True) for t, b in batches))
        else:
            for target, batch in batches:
                await self.send(target, "joint_event", batch)

    def stage_attributes(self) -> list[tuple[SearchAttributeKey, object]]:
        state = self.inv.state
        stage = state.stage.value if state.stage else Stage.OPENED.value
        if state.stage_name != stage and state.stage is not None and workflow.patched(STAGE_IS_PHASE):
            stage = state.stage_name
        return [(sa.INVESTIGATION_STAGE, stage)]
