"""A case with more evidence than the state keeps (STATE_KEPT): the `state` answer stays bounded however many items
were recorded, an old item is still shared by its holder (re-sealed from the record's copy) and refused to anyone
else with no event and no failed task, across continue-as-new; each party reads the whole register it may see."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Replayer, Worker

import worker as enforce_worker
from domain import sealed as sealed_text
from domain.errors import Rejected
from domain.limits import STATE_KEPT
from enforce import codec, identity, investigations
from enforce import record as records
from tests.live import action, failed_tasks, open_case, settle
from tests.test_lean_record import runs_of
from workflows.messages import workflow_id

pytestmark = pytest.mark.timeout(600)

# More items than the state keeps in full, by enough to push the oldest out and continue as new a few times.
EXTRA = 25


def ids(items) -> list[str]:
    return [x.evidence_id for x in items]


async def history_length(client, slug: str) -> int:
    return (await client.get_workflow_handle(workflow_id(slug)).describe()).history_length


async def shown_as(client, slug: str, party: str):
    """What `enforce show --as party` shows: the record's state with the sealed content the party's key opens."""
    view = await records.state(client, slug, party)
    return investigations.opened(view, identity.user_for(party), party)


async def test_old_evidence_is_shared_and_read_as_its_parties_while_the_state_stays_bounded(
    short_history_env, task_queue, tmp_path, slug
):
    client = short_history_env.client
    async with Worker(
        client, task_queue=task_queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
    ):
        await open_case(client, task_queue, tmp_path, slug, indexed=True)
        # E-1 is oipc-bc's, sealed for it alone; E-2 opc's for every authority; the rest opc's own.
        first = "BC client list: 48 police forces"
        await investigations.act(
            client, slug, action("record-evidence", by="oipc-bc", description=first, scope=[], purpose="s.36")
        )
        await investigations.act(
            client, slug, action("record-evidence", by="opc", description="For all", scope=["all"], purpose="joint")
        )
        sizes = {}
        for i in range(3, STATE_KEPT + EXTRA + 1):
            await investigations.act(
                client, slug, action("record-evidence", by="opc", description=f"Exhibit {i:04}", purpose="p")
            )
            if i in (STATE_KEPT, STATE_KEPT + EXTRA):
                sizes[i] = len((await investigations.state(client, slug)).model_dump_json())
        await settle(client, slug)

        # The state keeps the most recent STATE_KEPT in full and counts them all; its answer did not grow with
        # the items past STATE_KEPT (each of which is a sealed envelope of some hundreds of bytes) beyond the
        # digits of the counters, and stays under what STATE_KEPT items of this size and the rest add up to.
        view = await investigations.state(client, slug)
        s = view.state
        assert s.evidence_recorded == STATE_KEPT + EXTRA
        assert ids(s.evidence) == [f"E-{n}" for n in range(EXTRA + 1, STATE_KEPT + EXTRA + 1)]
        assert all(len(x.model_dump_json()) > 300 for x in s.evidence)  # sealed: what the old register kept
        assert sizes[STATE_KEPT + EXTRA] - sizes[STATE_KEPT] < EXTRA * 10, sizes
        largest = max(len(x.model_dump_json()) + 1 for x in s.evidence)
        without = len(view.model_copy(update={"state": s.model_copy(update={"evidence": []})}).model_dump_json())
        assert len(view.model_dump_json()) <= without + STATE_KEPT * largest
        await asyncio.sleep(1.0)  # visibility catches up
        assert sum(status == "CONTINUED_AS_NEW" for status, _ in await runs_of(client, slug)) >= 2

        # Shared by its holder, though it left the state runs ago: oipc-bc's user re-seals it from the record.
        await investigations.act(
            client,
            slug,
            action("share-evidence", by="oipc-bc", evidence_id="E-1", shared_with=["cai-qc"], purpose="joint"),
        )
        await settle(client, slug)
        # Anyone else sharing it is refused before history: no event, no workflow task, nothing failed.
        before, length = (await investigations.state(client, slug)).events, await history_length(client, slug)
        with pytest.raises(Rejected, match="opc holds no evidence 'E-1'"):
            await investigations.act(
                client,
                slug,
                action("share-evidence", by="opc", evidence_id="E-1", shared_with=["oipc-ab"], purpose="curiosity"),
            )
        assert (await investigations.state(client, slug)).events == before
        assert await history_length(client, slug) == length
        assert await failed_tasks(client, slug) == []

        # More items, so that the index of older ones is carried across continue-as-new with the share in it.
        for i in range(EXTRA):
            await investigations.act(
                client, slug, action("record-evidence", by="opc", description=f"Later {i}", purpose="p")
            )
        await settle(client, slug)
        total = STATE_KEPT + 2 * EXTRA
        assert (await investigations.state(client, slug)).state.evidence_recorded == total

        # Read as its holder and as the party it was shared with: the whole register, the old item opened
        # with the reader's own key. As a party it was not shared with: E-1 is not there, E-2 (for all) is.
        bc = (await shown_as(client, slug, "oipc-bc")).state.evidence
        assert ids(bc)[:2] == ["E-1", "E-2"] and bc[0].description == first and bc[0].shared_with == ["cai-qc"]
        qc = (await shown_as(client, slug, "cai-qc")).state.evidence
        assert ids(qc) == ["E-1", "E-2"] and qc[0].description == first
        ab = (await shown_as(client, slug, "oipc-ab")).state.evidence
        assert ids(ab) == ["E-2"]
        opc = (await shown_as(client, slug, "opc")).state.evidence
        assert ids(opc) == [f"E-{n}" for n in range(2, total + 1)]
        assert opc[-1].description == f"Later {EXTRA - 1}"
        # Unopened, the old item shows whom it is sealed for now: its holder and the party it was shared with.
        anyone = (await records.state(client, slug)).state.evidence
        assert len(anyone) == total and sealed_text.recipients(anyone[0].description) == ["cai-qc", "oipc-bc"]

        # The live record hides the share of E-1 (in its recent events) from a party it was not shared with.
        def shares(view) -> list[str]:
            return [e.evidence_id for e in view.events if e.type == "EvidenceShared"]

        assert "E-1" in shares(await investigations.events(client, slug, as_party="cai-qc"))
        assert "E-1" not in shares(await investigations.events(client, slug, as_party="oipc-ab"))

        # Shared again after the runs that carried it: the holder still holds it, refused to others still.
        await investigations.act(
            client,
            slug,
            action("share-evidence", by="oipc-bc", evidence_id="E-1", shared_with=["oipc-ab"], purpose="court"),
        )
        await settle(client, slug)
        ab = (await shown_as(client, slug, "oipc-ab")).state.evidence
        assert ids(ab) == ["E-1", "E-2"] and ab[0].description == first
        assert await failed_tasks(client, slug) == []

        # Every run of the joint record replays on this code: those that compacted the register under the
        # patch (its marker in their history) and those that began from a compacted state.
        marked = 0
        replayer = Replayer(workflows=enforce_worker.WORKFLOWS, data_converter=codec.data_converter())
        async for w in client.list_workflows(f'WorkflowId = "{workflow_id(slug)}"'):
            history = await client.get_workflow_handle(w.id, run_id=w.run_id).fetch_history()
            marked += any(
                e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
                and b"lean-evidence" in e.marker_recorded_event_attributes.SerializeToString()
                for e in history.events
            )
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            assert result.replay_failure is None, (w.run_id, result.replay_failure)
        assert marked >= 2
