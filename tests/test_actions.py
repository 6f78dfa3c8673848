"""Actions as updates with validators: a command the stage, the actor or the payload does not allow is
rejected before it reaches history; what is accepted is recorded, and the state is always the fold of the
record. Runs on the real time-skipping test server."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

import worker as enforce_worker
from domain.actions import ACTIONS, parse_action
from domain.errors import Rejected
from domain.state import fold
from enforce import codec, investigations
from enforce.simulate import start_skipping
from tests.live import AUTHORITIES, action, failed_tasks, open_case, settle, to_recommendations
from workflows.messages import workflow_id

pytestmark = pytest.mark.timeout(180)
REJECTIONS = [
    (
        "the respondent issuing findings",
        # Built past the CLI's own check (parse_action refuses it too), so the workflow's validator decides.
        lambda: ACTIONS["draft-findings"].model_validate(
            {"by": "respondent", "finding": "well-founded", "summary": "x"}
        ),
        "the respondent cannot draft-findings",
    ),
    (
        "an authority not party to the case",
        lambda: action("record-evidence", by="oipc-on", description="d", purpose="p"),
        "'oipc-on' is not a party",
    ),
    (
        "a co-authority drafting findings",
        lambda: action("draft-findings", by="cai-qc", finding="well-founded", summary="x"),
        "draft-findings is for the lead (opc)",
    ),
    (
        "the wrong stage",
        lambda: action("answer-recommendations", by="respondent", answers={"R1": "refused"}),
        "not allowed in stage investigating",
    ),
    (
        "an order before any refusal",
        lambda: action("issue-order", by="oipc-bc", order="P1"),
        "oipc-bc orders only from inquiry",
    ),
    ("an authority without the power", lambda: action("open-inquiry", by="opc"), "opc has no power"),
]


@pytest.mark.parametrize("label,make,reason", REJECTIONS, ids=[r[0] for r in REJECTIONS])
async def test_a_rejected_action_leaves_no_trace(running, label, make, reason):
    env, client, slug = running
    before = await investigations.events(client, slug)
    with pytest.raises(Rejected) as caught:
        await investigations.act(client, slug, make())
    assert reason in str(caught.value)
    assert "allowed now for" in str(caught.value)
    after = await investigations.events(client, slug)
    assert after.events == before.events
    assert await failed_tasks(client, slug) == []


def test_unknown_actions_and_malformed_fields_are_refused_before_sending():
    with pytest.raises(Rejected, match="unknown action 'close-everything'"):
        parse_action("close-everything", {"by": "opc"})
    with pytest.raises(Rejected, match="draft-findings: finding: "):
        parse_action("draft-findings", {"by": "opc", "finding": "guilty", "summary": "x"})
    with pytest.raises(Rejected, match="issue-order: order: missing"):
        parse_action("issue-order", {"by": "oipc-bc"})


async def test_the_workflow_itself_rejects_what_it_is_sent_raw(running):
    """Through the update API directly (as `temporal workflow update execute` does), not our CLI's parsing."""
    env, client, slug = running
    handle = client.get_workflow_handle(workflow_id(slug))
    before = (await investigations.events(client, slug)).events
    for name, payload in [
        ("frobnicate", {"by": "opc"}),
        ("draft-findings", {"by": "opc", "finding": 7}),
        ("draft-findings", ["not", "an", "object"]),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(name, payload)
        cause = caught.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "Rejected", cause
    assert (await investigations.events(client, slug)).events == before
    assert await failed_tasks(client, slug) == []


async def test_an_unknown_recommendation_is_named(running):
    env, client, slug = running
    await to_recommendations(client, slug, [{"id": "R1", "text": "Stop."}])
    with pytest.raises(Rejected, match="unknown or already answered recommendation 'R9'"):
        await investigations.act(
            client, slug, action("answer-recommendations", by="respondent", answers={"R9": "accepted"})
        )
    result = await investigations.act(
        client, slug, action("answer-recommendations", by="respondent", answers={"R1": "accepted"})
    )
    assert result.stage.value == "compliance-monitoring"


# ---------------------------------------------------------------- random commands (hypothesis)

FIELD_VALUES = {
    "finding": st.sampled_from(["well-founded", "not-well-founded", "guilty"]),
    "summary": st.sampled_from(["s", ""]),
    "reasons": st.just("because"),
    "description": st.just("a measure"),
    "purpose": st.just("this investigation"),
    "items": st.just(["the list of Canadian clients"]),
    "request_id": st.sampled_from(["RFI-1", "RFI-2"]),
    "recommendations": st.just([{"id": "R1", "text": "Stop."}, {"id": "R2", "text": "Delete."}]),
    "answers": st.sampled_from([{"R1": "refused"}, {"R1": "accepted", "R2": "accepted"}, {"R3": "accepted"}]),
    "order": st.sampled_from(["P1", "P2"]),
    "authority": st.sampled_from(AUTHORITIES),
    "court": st.just("a court"),
    "outcome": st.sampled_from(["upheld", "quashed", "done"]),
    "recommendation": st.sampled_from(["R1", "R2"]),
}
commands = st.builds(
    lambda name, by, fields: (name, {"by": by, **fields}),
    st.sampled_from([*ACTIONS, "frobnicate"]),
    st.sampled_from([*AUTHORITIES, "respondent", "oipc-on"]),
    st.dictionaries(st.sampled_from(sorted(FIELD_VALUES)), st.just(None), max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries({k: FIELD_VALUES[k] for k in keys})
    ),
)


@pytest.fixture(scope="module")
def background(tmp_path_factory) -> Iterator[tuple[asyncio.AbstractEventLoop, Client, str]]:
    """A time-skipping server and a worker on a loop of their own, for hypothesis's synchronous examples."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    ready: dict = {}
    stop = asyncio.Event()

    async def host() -> None:
        env = await start_skipping(data_converter=codec.data_converter())
        queue = f"prop-{uuid.uuid4().hex[:6]}"
        async with Worker(
            env.client, task_queue=queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
        ):
            ready["client"], ready["queue"] = env.client, queue
            await stop.wait()
        await env.shutdown()

    hosting = asyncio.run_coroutine_threadsafe(host(), loop)
    while "client" not in ready:
        assert not hosting.done(), hosting.exception()
        threading.Event().wait(0.05)
    yield loop, ready["client"], ready["queue"]
    loop.call_soon_threadsafe(stop.set)
    hosting.result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None)
@given(script=st.lists(commands, min_size=1, max_size=8))
def test_random_commands_keep_state_the_fold_of_the_record(background, tmp_path, script):
    loop, client, queue = background

    async def run() -> None:
        slug = f"prop-{uuid.uuid4().hex[:8]}"
        await open_case(client, queue, tmp_path, slug)
        for name, payload in script:
            try:
                act = parse_action(name, payload)
            except Rejected:
                continue
            count = (await investigations.state(client, slug)).events
            try:
                await investigations.act(client, slug, act)
            except Rejected:
                assert (await investigations.state(client, slug)).events == count
            await settle(client, slug)
            view = await investigations.state(client, slug)
            record = (await investigations.events(client, slug)).events
            assert fold(record) == view.state
        assert await failed_tasks(client, slug) == []

    asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=60)
