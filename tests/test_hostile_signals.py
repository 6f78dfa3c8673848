"""Nothing a client sends can forge, jam or bloat a case: events cross between a case's records only from the
case's own workflows (authenticated, numbered, checked against the receiver's state), and no input to any
handler (update, signal, query, known or not) fails a workflow task. Against a real dev server, with the
stock `temporal` CLI where an operator would use it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as enforce_worker
from domain import events as ev
from domain.actions import ACTIONS
from domain.limits import ACTION_BYTES_MAX, NESTING_MAX, QUERY_BYTES_MAX, SIGNAL_BYTES_MAX
from enforce import codec, identity, investigations, keys
from tests.live import AUTHORITIES, action, failed_tasks, open_case, settle, to_recommendations
from tests.test_stock_cli import temporal
from workflows import keys as record_keys
from workflows.messages import ActResult, StateView, track_id, workflow_id

pytestmark = pytest.mark.timeout(180)

TASK_QUEUE = f"hostile-{uuid.uuid4().hex[:8]}"
ON = datetime(2020, 3, 1, 12, tzinfo=UTC)
RPC_TIMEOUT = timedelta(seconds=10)


@pytest.fixture(scope="module")
async def live(dev_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    """A worker of this module's own on the session's dev server."""
    async with Worker(
        dev_env.client, task_queue=TASK_QUEUE, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
    ):
        yield dev_env.client


@pytest.fixture
async def case(live: Client, tmp_path) -> str:
    slug = f"case-{uuid.uuid4().hex[:8]}"
    await open_case(live, TASK_QUEUE, tmp_path, slug, indexed=True)
    return slug


def records(slug: str) -> list[str]:
    return [workflow_id(slug)] + [track_id(slug, a) for a in AUTHORITIES]


async def view(client: Client, wid: str) -> StateView:
    return await client.get_workflow_handle(wid).query("state", result_type=StateView)


async def dropped_reaches(client: Client, wid: str, count: int, timeout: float = 15.0) -> StateView:
    """The record's state once it has dropped `count` signals (failing the test if it never does)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while True:
        v = await view(client, wid)
        if v.dropped >= count or loop.time() > until:
            assert v.dropped == count, f"{wid} dropped {v.dropped} signals, not {count}"
            return v
        await asyncio.sleep(0.2)


async def event_counts(client: Client, slug: str) -> dict[str, int]:
    return {wid: (await view(client, wid)).events for wid in records(slug)}


def dump(e: ev.Event) -> dict:
    return e.model_dump(mode="json")


def forged_batches() -> list[dict]:
    """What anyone with the stock CLI could send: the case closed, a concurrence, an authority that is not one
    of the case's, a deadline nobody set. With and without a made-up MAC."""
    closed = [ev.TrackClosed(seq=1, on=ON, by=a, authority=a, outcome="resolved") for a in AUTHORITIES]
    concurred = ev.FindingsConcurred(seq=1, on=ON, by="cai-qc", authority="cai-qc")
    nope = ev.TrackClosed(seq=1, on=ON, by="nope", authority="nope", outcome="resolved")
    deadline = ev.DeadlineSet(
        seq=1,
        on=ON,
        by="opc",
        deadline_id="opc:forged:1",
        authority="opc",
        owner="opc",
        kind="response",
        rule="forged",
        statute="none",
        summary="a forged deadline",
        trigger=date(2020, 3, 1),
        due=date(2020, 3, 2),
        owed_by="respondent",
        count=1,
        unit="days",
    )
    return [
        {"events": [dump(e) for e in closed], "source": "opc"},
        {"events": [dump(concurred)], "source": "cai-qc"},
        {"events": [dump(nope)], "source": "nope"},
        {"events": [dump(deadline)], "source": "opc"},
        {"events": [dump(closed[0])], "source": "opc", "seq": 99, "key": "k0", "mac": "AAAA"},
    ]


async def test_forged_events_are_dropped_and_the_case_goes_on(live: Client, dev_env, case: str):
    slug, wid = case, workflow_id(case)
    before = await event_counts(live, slug)
    assert (await view(live, wid)).dropped == 0, "genuine batches between the records were dropped"
    handle = live.get_workflow_handle(wid)
    forged = forged_batches()
    for batch in forged:
        await handle.signal("track_event", batch)
    # The stock CLI, as anyone with write access to the namespace: once as JSON, once as binary/plain (which
    # used to fail every later workflow task of the case).
    batch = json.dumps(forged[0])
    for meta in ([], ["--input-meta", "encoding=binary/plain"]):
        sent = await temporal(
            dev_env, "workflow", "signal", "-w", wid, "--name", "track_event", "--input", batch, *meta
        )
        assert sent.returncode == 0, sent.stderr
    # A track hears only from the joint record: the same forgery sent to one is dropped there.
    await live.get_workflow_handle(track_id(slug, "opc")).signal("joint_event", forged[0])

    state = (await dropped_reaches(live, wid, len(forged) + 2)).state
    await dropped_reaches(live, track_id(slug, "opc"), 1)
    assert await event_counts(live, slug) == before
    assert state.stage.value == "investigating" and "opc:forged:1" not in state.deadlines
    assert all(t.status.value != "closed" for t in state.tracks.values())
    assert await failed_tasks(live, slug) == []

    # The case still takes its next valid action.
    result = await investigations.act(live, slug, action("request-information", by="opc", items=["the sources"]))
    assert result.recorded == ["InformationRequested"]
    assert (await view(live, wid)).events == before[wid] + 1


async def signals_in(client: Client, wid: str, name: str) -> list[Payload]:
    out = []
    async for e in client.get_workflow_handle(wid).fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attrs = e.workflow_execution_signaled_event_attributes
            if attrs.signal_name == name:
                out.append(attrs.input.payloads[0])
    return out


async def test_a_genuine_batch_replayed_is_dropped(live: Client, case: str):
    slug = case
    # The joint record sends every track the drafted findings: one genuine, authenticated batch each.
    await investigations.act(live, slug, action("draft-findings", by="opc", finding="well-founded", summary="s"))
    await settle(live, slug)
    track = track_id(slug, "cai-qc")
    [sealed] = await signals_in(live, track, "joint_event")
    # History holds it sealed by the payload codec; opened, it is the batch as the joint record sent it.
    [genuine] = await codec.data_converter().payload_codec.decode([sealed])
    assert json.loads(genuine.data)["mac"], "the joint record's batch carries no MAC"
    before = await view(live, track)
    assert before.dropped == 0

    # Captured from history and sent again, as is: the track has heard that batch number already.
    await live.get_workflow_handle(track).signal("joint_event", RawValue(genuine))
    after = await dropped_reaches(live, track, 1)
    assert after.events == before.events
    # The same batch addressed to another track fails authentication there (it names its target).
    other = track_id(slug, "oipc-bc")
    await live.get_workflow_handle(other).signal("joint_event", RawValue(genuine))
    await dropped_reaches(live, other, 1)
    assert await failed_tasks(live, slug) == []
    # The case goes on: the co-authority concurs on its track and the joint record hears of it.
    done = await investigations.act(live, slug, action("concur", by="cai-qc"))
    assert done.recorded[0] == "FindingsConcurred"
    await settle(live, slug)
    joint = (await investigations.events(live, slug)).events
    assert [e.type for e in joint].count("FindingsConcurred") == 1


# ----------------------------------------------------------------------------------------------------
# Any payload, any encoding, any handler


ENCODINGS = [b"json/plain", b"binary/plain", b"binary/null", b"json/protobuf", b"binary/made-up", None]
HANDLERS = (
    [("update", name) for name in ACTIONS]
    + [("update", "no-such-action"), ("update", "")]
    + [("signal", "track_event"), ("signal", "joint_event"), ("signal", "no-such-signal")]
    + [("query", "state"), ("query", "events"), ("query", "no-such-query")]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
plausible = st.sampled_from(
    [
        *forged_batches(),
        {"by": "opc", "items": "not a list"},
        {"by": "respondent", "items": 5},
        {"as_party": 7},
        {"after": "x"},
        {"events": "nope", "source": "case"},
    ]
)


@st.composite
def data(draw, huge: bool) -> bytes:
    kind = draw(st.sampled_from(["json", "plausible", "bytes", "deep", *(["huge"] if huge else [])]))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "plausible":
        return json.dumps(draw(plausible)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "deep":
        n = draw(st.integers(NESTING_MAX + 1, 5000))
        return b"[" * n + b"]" * n
    limit = draw(st.sampled_from([QUERY_BYTES_MAX, ACTION_BYTES_MAX, SIGNAL_BYTES_MAX]))
    return json.dumps({"by": "nobody", "pad": "x" * limit}).encode()


@st.composite
def payloads(draw) -> list[Payload]:
    out = []
    count = draw(st.integers(0, 2))
    for _ in range(count):
        encoding = draw(st.sampled_from(ENCODINGS))
        meta = {"encoding": encoding} if encoding is not None else {}
        if draw(st.booleans()):
            meta[draw(st.sampled_from(["messageType", "x-made-up"]))] = draw(st.binary(max_size=16))
        # One oversized payload per request: two of a megabyte each make an update whose rejection, which
        # the SDK's core echoes with the request, exceeds Temporal's 2 MB limit (see docs/operations.md).
        out.append(Payload(metadata=meta, data=draw(data(huge=count == 1))))
    return out


@pytest.fixture(scope="module")
async def target(live: Client, tmp_path_factory) -> str:
    """One case for every generated input: each must leave it as it was."""
    slug = f"case-{uuid.uuid4().hex[:8]}"
    await open_case(live, TASK_QUEUE, tmp_path_factory.mktemp("hostile"), slug, indexed=True)
    return slug


sent_signals: dict[str, int] = {}


@settings(
    max_examples=70,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    handler=st.sampled_from(HANDLERS),
    record=st.sampled_from(["case", *AUTHORITIES]),
    args=payloads(),
)
async def test_no_input_to_any_handler_fails_a_workflow_task(live: Client, target: str, handler, record, args):
    slug = target
    wid = workflow_id(slug) if record == "case" else track_id(slug, record)
    handle = live.get_workflow_handle(wid)
    kind, name = handler
    raw = [RawValue(p) for p in args]
    before = (await view(live, wid)).events
    if kind == "update":
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):  # refused: nothing recorded
            await handle.execute_update(name, args=raw, result_type=ActResult, rpc_timeout=RPC_TIMEOUT)
    elif kind == "signal":
        await handle.signal(name, args=raw)
        sent_signals[wid] = sent_signals.get(wid, 0) + 1
        await dropped_reaches(live, wid, sent_signals[wid])
    else:
        try:
            await handle.query(name, args=raw, rpc_timeout=RPC_TIMEOUT)
        except Exception as e:  # an error to the caller, never a failed task
            assert "WorkflowTaskFailed" not in str(e)
    after = await view(live, wid)  # the record still answers
    assert after.events == before, f"{kind} {name!r} recorded something"
    assert await failed_tasks(live, slug) == []


async def test_after_every_hostile_input_the_case_takes_its_next_action(live: Client, target: str):
    """Runs after the property test (same module, in file order): the case it battered goes on."""
    slug = target
    assert await failed_tasks(live, slug) == []
    result = await investigations.act(live, slug, action("request-information", by="opc", items=["the sources"]))
    assert result.recorded == ["InformationRequested"]
    await settle(live, slug)
    assert await failed_tasks(live, slug) == []


# ----------------------------------------------------------------------------------------------------
# Retries


def signed_fields(slug: str, request_id: str) -> dict:
    """opc's request for information, signed by opc's user as `enforce act` signs it (the update id is the
    request id): what a client retrying an update sends again, byte for byte."""
    user = identity.user_for("opc")
    assert user is not None
    return investigations.signed_payload(
        slug, action("request-information", by="opc", items=["the sources"]), request_id, user
    )


async def test_an_update_retried_under_its_id_records_once(live: Client, case: str):
    handle = live.get_workflow_handle(workflow_id(case))
    fields = signed_fields(case, "req-1")
    first = await handle.execute_update("request-information", fields, id="req-1", result_type=ActResult)
    again = await handle.execute_update("request-information", fields, id="req-1", result_type=ActResult)
    assert again == first
    other = await handle.execute_update(
        "request-information", signed_fields(case, "req-2"), id="req-2", result_type=ActResult
    )
    assert other.first_seq > first.last_seq
    events = (await investigations.events(live, case)).events
    assert [e.type for e in events].count("InformationRequested") == 2


async def test_an_update_retried_after_continue_as_new_records_once(short_history_env, tmp_path):
    client, queue, slug = (
        short_history_env.client,
        f"hostile-can-{uuid.uuid4().hex[:8]}",
        f"case-{uuid.uuid4().hex[:8]}",
    )
    async with Worker(
        client, task_queue=queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
    ):
        await open_case(client, queue, tmp_path, slug, indexed=True)
        handle = client.get_workflow_handle(workflow_id(slug))
        first_run = (await handle.describe()).run_id
        fields = signed_fields(slug, "req-x")
        first = await handle.execute_update("request-information", fields, id="req-x", result_type=ActResult)
        await to_recommendations(client, slug, [{"id": "R1", "text": "Stop."}])
        assert (await handle.describe()).run_id != first_run, "the joint record did not continue as new"
        before = (await investigations.events(client, slug)).events

        again = await handle.execute_update("request-information", fields, id="req-x", result_type=ActResult)
        assert again == first
        assert (await investigations.events(client, slug)).events == before
        assert (await view(client, workflow_id(slug))).dropped == 0
        assert await failed_tasks(client, slug) == []


# ----------------------------------------------------------------------------------------------------
# The key set on disk


def test_the_key_set_is_created_for_its_owner_only_and_never_overwritten(tmp_path):
    path = tmp_path / "keys" / "record-keys.json"
    assert keys.ensure(path) == path
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    first = path.read_text()
    keys.ensure(path)
    assert path.read_text() == first
    current, found = keys.load(path)
    assert current in found and len(found[current]) == keys.KEY_BYTES


@pytest.mark.parametrize(
    "text",
    ["", "[]", '{"current": "a"}', '{"current": "a", "keys": {"b": "AAAA"}}', '{"current": "a", "keys": {"a": "!!"}}'],
)
def test_a_bad_key_set_is_one_line_naming_the_file(tmp_path, text):
    path = tmp_path / "record-keys.json"
    path.write_text(text)
    with pytest.raises(keys.KeyFileError) as e:
        keys.load(path)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_a_batch_signed_before_a_rotation_still_verifies(tmp_path):
    message = record_keys.canonical("investigation-x", "opc", 1, [])
    old_kid, old_mac = record_keys.sign(message)
    path = tmp_path / "rotated.json"
    rotated = keys.new_key_set()
    path.write_text(json.dumps(rotated))
    keys.install(path, create=False)
    new_kid, new_mac = record_keys.sign(message)
    assert new_kid == rotated["current"] != old_kid
    assert record_keys.verify(old_kid, old_mac, message) and record_keys.verify(new_kid, new_mac, message)
    assert not record_keys.verify(new_kid, old_mac, message)
    assert not record_keys.verify(old_kid, old_mac, record_keys.canonical("investigation-y", "opc", 1, []))
