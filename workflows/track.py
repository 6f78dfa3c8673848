"""An authority's track (`investigation-<slug>.<authority>`): its concurrence in the findings, its own
legal finding, and its escalation under its own statute, with its own clocks.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import events as ev
    from domain.investigation import Investigation
    from domain.state import Stage
    from workflows.messages import InvestigationResult, TrackInput, workflow_id
    from workflows.record import CaseRecord, pure


@workflow.defn(name="AuthorityTrack")
class AuthorityTrackWorkflow(CaseRecord):
    # Joint events this track follows (findings, recommendations, the answer, escalation, closure).
    inbox = "joint_event"

    @workflow.init
    def __init__(self, input: TrackInput) -> None:
        self.authority = input.authority
        self.opened = input.opened
        carried = input.carried
        self._setup(
            carried.record(input.procedure, input.authority)
            if carried
            else Investigation(input.procedure, input.authority),
            carried.clock if carried else input.clock,
            carried,
        )

    def closed(self) -> bool:
        # A closed track stays until the investigation closes: its record then ends with the joint one.
        return self.inv.state.stage == Stage.CLOSED

    @workflow.run
    async def run(self, input: TrackInput) -> InvestigationResult:
        if self.inv.state.last_seq == 0:
            recorded = pure(self.inv.mirror, input.opened)
            await self.after(recorded, {recorded[0].seq})
        else:
            self.publish()
            self.arm_timers()
            if self.unstored:
                self.store()  # what the run before could not store yet goes first
        await workflow.wait_condition(lambda: self.closed() or workflow.info().is_continue_as_new_suggested())
        await self.settle()
        if not self.closed():
            workflow.continue_as_new(input.model_copy(update={"carried": self.carry()}))
        state = self.inv.state
        return InvestigationResult(
            slug=state.slug,
            stage=state.stage,
            events=self.inv.state.last_seq,
            outcomes={self.authority: state.tracks[self.authority].outcome},
        )

    async def forward(self, events: list[ev.Event]) -> None:
        """Everything this track records belongs in the joint record too."""
        if events:
            await self.send(workflow_id(self.inv.state.slug), "track_event", events)
