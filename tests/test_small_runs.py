"""A run stays small however long the case: it keeps the state, the chain head and a bounded tail of recent
events, and a continue-as-new carries only those (workflows.messages.Carried), never the whole record.

Long cases are driven through the domain aggregate (5,000 events in seconds); a case whose every text field is
at its limit is driven live on a dev server that suggests continue-as-new after a short history, and goes on
in its new run."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

import worker as enforce_worker
from domain import events as ev
from domain.actions import New, parse_action
from domain.case import Recipient
from domain.chain import GENESIS, chain
from domain.clock import CaseClock
from domain.investigation import Investigation
from domain.limits import (
    CARRIED_BYTES_MAX,
    CARRIED_FULL_BYTES_MAX,
    SHORT_MAX,
    STATE_KEPT,
    TAIL_BYTES,
    TAIL_EVENTS,
    TEXT_MAX,
)
from domain.policy import notices_for
from domain.state import fold
from enforce import investigations
from tests.casefiles import clearview
from tests.live import AUTHORITIES, action, enforce, failed_tasks, open_case, settle
from workflows.messages import ActResult, Carried, DoneUpdate, StateView, workflow_id

T0 = datetime(2020, 2, 21, 9, 0, tzinfo=UTC)
RESPONDENT = Recipient(id="respondent", name="Clearview AI, Inc.")
LONG = 5000


def opened(tmp_path) -> tuple[Investigation, list[ev.Event]]:
    case, proc = clearview("clearview-ai", tmp_path)
    inv = Investigation(proc)
    return inv, inv.open(case, T0)


def served(
    inv: Investigation, cause: ev.Event, on: datetime, notice: str = "", to: Recipient = RESPONDENT
) -> list[ev.Event]:
    fields = dict(
        notice_id=notice or f"n-{cause.seq}",
        kind="request-for-information",
        senders=["opc"],
        section="PIPEDA s.12.1",
        to=to,
        channel="outbox",
        message_id=f"<{notice or cause.seq}@enforce>",
        delivered_at=on,
        document=f"outbox/{notice or cause.seq}.md",
        sha256="ab" * 32,
        cause=cause.seq,
        cause_type=cause.type,
    )
    return inv.record([New(ev.NoticeServed, "opc", fields)], on)


def cheap(i: int):
    """Alternately a message between authorities and a voluntary measure: one event each, short fields."""
    if i % 2:
        return parse_action("message", {"by": "opc", "to": ["cai-qc"], "subject": f"s{i}", "text": f"t{i}"})
    return parse_action("record-voluntary-measure", {"by": "respondent", "description": f"measure {i}"})


def drive(inv: Investigation, record: list[ev.Event], until: int) -> None:
    """Cheap actions until the record holds `until` events, each notice they send served as the workflow
    serves it (domain.policy.notices_for)."""
    i = 0
    while inv.state.last_seq < until:
        on = T0 + timedelta(minutes=i)
        recorded = inv.execute(cheap(i), on)
        for e in list(recorded):
            for req in notices_for(inv.state, e, inv.ctx(on)):
                recorded += served(inv, e, on, req.notice_id, req.to)
        record += recorded
        i += 1


def carried(inv: Investigation, updates: int = 0) -> Carried:
    # The most a record remembers of its updates: ids as long as a client's uuid, results as a real one's.
    done = [
        DoneUpdate(
            id=str(uuid.uuid4()),
            result=ActResult(action="message", recorded=["MessageSent"], first_seq=n, last_seq=n, stage=None),
        )
        for n in range(updates)
    ]
    return Carried(
        clock=CaseClock(),
        state=inv.state,
        last_seq=inv.state.last_seq,
        head=inv.head,
        tail=inv.events,
        causes=list(inv.causes.values()),
        updates=done,
    )


def size(model) -> int:
    return len(pydantic_data_converter.payload_converter.to_payloads([model])[0].data)


def head_of(record: list[ev.Event]) -> str:
    lines = chain(e.model_dump(mode="json") for e in record)
    return json.loads(lines[-1])["hash"] if lines else GENESIS


def test_a_case_of_5000_events_carries_under_the_bound(tmp_path):
    inv, record = opened(tmp_path)
    drive(inv, record, LONG)
    c = carried(inv, updates=1000)
    encoded = size(c)
    print(f"{LONG} events: Carried {encoded} bytes (bound {CARRIED_BYTES_MAX}), tail {len(c.tail)} events")
    assert encoded < CARRIED_BYTES_MAX
    # The `state` query answers with the state: no larger.
    assert size(StateView(state=inv.state, clock=T0, events=inv.state.last_seq)) < encoded
    assert len(inv.events) == TAIL_EVENTS and inv.events[-1].seq == LONG
    assert len(inv.state.messages) == STATE_KEPT and len(inv.state.voluntary_measures) == STATE_KEPT
    # The head is the chain of the whole record, though the run holds only its tail.
    assert inv.head == head_of(record)
    assert inv.state.last_seq == len(record) == LONG


def test_a_resumed_record_goes_on_where_the_last_run_stopped(tmp_path):
    inv, record = opened(tmp_path)
    drive(inv, record, 300)
    c = Carried.model_validate_json(carried(inv).model_dump_json())
    again = c.record(inv.procedure, inv.owner)
    assert again.state == inv.state and again.head == inv.head and again.events == inv.events
    more = again.execute(cheap(1), T0 + timedelta(days=1))
    record += more
    assert more[0].seq == inv.state.last_seq + 1 and more[0].message_id == f"M-{inv.state.messages_sent + 1}"
    assert again.head == head_of(record) and again.state == fold(record)


def test_an_input_of_the_old_shape_is_folded_on_start(tmp_path):
    inv, record = opened(tmp_path)
    drive(inv, record, 120)
    old = {"events": [e.model_dump(mode="json") for e in record], "clock": {"offset_days": 0}, "dropped": 2}
    c = Carried.model_validate(old)
    again = c.record(inv.procedure, inv.owner)
    assert c.state is None and c.dropped == 2
    assert again.state == inv.state and again.head == head_of(record) and again.events == inv.events


@pytest.mark.parametrize("answered_first", [False, True])
def test_a_clock_run_from_service_starts_on_a_cause_long_out_of_the_tail(tmp_path, answered_first):
    """The request is hundreds of events back when its notice is served: its clock starts all the same, unless
    what it asks for came first."""
    inv, record = opened(tmp_path)
    [request] = inv.execute(parse_action("request-information", {"by": "opc", "items": ["logs"]}), T0)
    drive(inv, record, TAIL_EVENTS + 200)
    if answered_first:
        inv.execute(parse_action("provide-information", {"by": "respondent", "request_id": "RFI-1"}), T0)
        drive(inv, record, TAIL_EVENTS + 300)
    assert request.seq not in {e.seq for e in inv.events}
    recorded = served(inv, request, T0 + timedelta(days=2))
    started = [e for e in recorded if isinstance(e, ev.DeadlineSet)]
    if answered_first:
        assert started == []
    else:
        assert [(d.deadline_id, d.subject, d.trigger) for d in started] == [
            (f"case:information:{request.seq}", "RFI-1", (T0 + timedelta(days=2)).date())
        ]
        assert request.seq not in inv.causes  # its clock is set: nothing more to keep of it
        assert served(inv, request, T0 + timedelta(days=3))[1:] == []  # served twice, set once


def test_the_tail_holds_no_more_bytes_than_its_bound(tmp_path):
    inv, record = opened(tmp_path)
    for i in range(20):
        inv.execute(
            parse_action(
                "message",
                {"by": "opc", "to": ["all"], "subject": "s" * SHORT_MAX, "text": (str(i) * TEXT_MAX)[:TEXT_MAX]},
            ),
            T0,
        )
    tail = sum(len(e.model_dump_json().encode()) for e in inv.events)
    assert tail <= TAIL_BYTES and 1 <= len(inv.events) < 20 and inv.events[-1].seq == 21
    assert size(carried(inv, updates=1000)) < CARRIED_FULL_BYTES_MAX


# ---------------------------------------------------------------- live: the new run starts and acts

# A few dozen actions: whole, their record is several times Temporal's 2 MB payload limit.
FULL = 30


async def continued_inputs(client, wid: str) -> list[int]:
    """The encoded size of each continue-as-new input of `wid`, following its runs from the first."""
    sizes: list[int] = []
    desc = await client.get_workflow_handle(wid).describe()
    run_id = desc.raw_description.workflow_execution_info.first_run_id or desc.run_id
    while run_id:
        nxt = None
        async for event in client.get_workflow_handle(wid, run_id=run_id).fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                attrs = event.workflow_execution_continued_as_new_event_attributes
                sizes.append(attrs.input.ByteSize())
                nxt = attrs.new_execution_run_id
        run_id = nxt
    return sizes


async def first_run(client, wid: str) -> str:
    return (await client.get_workflow_handle(wid).describe()).run_id


def full_message(i: int):
    # Every field a party writes at its limit: the subject is one line (SHORT_MAX), the text TEXT_MAX.
    return action(
        "message", by="opc", to=["all"], subject=chr(65 + i % 26) * SHORT_MAX, text=(str(i) * TEXT_MAX)[:TEXT_MAX]
    )


async def test_a_case_of_full_size_fields_continues_as_new_and_acts(short_history_env, task_queue, tmp_path, slug):
    client = short_history_env.client
    wid = workflow_id(slug)
    async with Worker(
        client, task_queue=task_queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
    ):
        await open_case(client, task_queue, tmp_path, slug, indexed=True)
        run = await first_run(client, wid)
        for i in range(FULL):
            await investigations.act(client, slug, full_message(i))
            await settle(client, slug)
        sizes = await continued_inputs(client, wid)
        print(f"{FULL} full-size messages: continue-as-new inputs {sizes} bytes (bound {CARRIED_FULL_BYTES_MAX})")
        assert len(sizes) >= 2 and await first_run(client, wid) != run
        assert max(sizes) < CARRIED_FULL_BYTES_MAX
        before = await investigations.state(client, slug)
        result = await investigations.act(client, slug, full_message(FULL))
        await settle(client, slug)
        after = await investigations.state(client, slug)
        # The new run took the action, numbered after everything the runs before it recorded.
        assert result.first_seq == before.state.last_seq + 1 and result.recorded == ["MessageSent"]
        assert after.state.messages_sent == FULL + 1 and after.events > before.events
        assert size(after) < CARRIED_FULL_BYTES_MAX
        tail = (await investigations.events(client, slug)).events
        assert tail[-1].seq == after.state.last_seq and sum(len(e.model_dump_json()) for e in tail) <= TAIL_BYTES
        assert await failed_tasks(client, slug) == []


async def test_a_long_live_case_carries_under_the_bound(short_history_env, task_queue, tmp_path, slug):
    """Hundreds of cheap actions, several continues-as-new in the joint record and the tracks: every input
    under the bound."""
    client = short_history_env.client
    async with Worker(
        client, task_queue=task_queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
    ):
        await open_case(client, task_queue, tmp_path, slug, indexed=True)
        for i in range(60):
            await investigations.act(client, slug, action("message", by="opc", to=["cai-qc"], subject="s", text="t"))
            if i % 10 == 9:
                await settle(client, slug)
        await settle(client, slug)
        view = await investigations.state(client, slug)
        assert view.state.messages_sent == 60
        sizes = {}
        for wid in [workflow_id(slug)] + [f"{workflow_id(slug)}.{a}" for a in AUTHORITIES]:
            sizes[wid] = await continued_inputs(client, wid)
        print(f"{view.state.last_seq} events in the joint record; continue-as-new inputs: {sizes}")
        assert len(sizes[workflow_id(slug)]) >= 2
        assert max(max(v) for v in sizes.values() if v) < CARRIED_BYTES_MAX
        # Within its tail, the record is exported whole across the continue-as-new runs, head included.
        out = tmp_path / "export.jsonl"
        env = {**os.environ, "TEMPORAL_ADDRESS": client.service_client.config.target_host}
        done = await enforce(env, "export", slug, "--out", str(out))
        assert done.returncode == 0, done.stderr
        assert len(out.read_text().splitlines()) == view.state.last_seq + 1
        assert await failed_tasks(client, slug) == []
