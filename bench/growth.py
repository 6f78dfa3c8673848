"""What an action and every payload cost as one case grows: flat in the number of events, or not.

    .venv/bin/python bench/growth.py [--events 1000] [--every 250] [--action evidence|message|measure]
        [--suggest-after 1000]

The issue asks for 5,000 events (`--events 5000`). The Clearview case is opened on a dev server (with the
project's search attributes, and suggesting continue-as-new after `--suggest-after` history events, so
that a run of 1,000 events continues as new a few times; Temporal's own default is 4,096 over 50 MB), then
one cheap action is repeated until the joint record holds that many events:

- `evidence` (the default): `record-evidence` by the lead, one EvidenceRecorded event, no notice;
- `message`: the lead writes to one co-authority, a MessageSent event and the message's NoticeServed;
- `measure`: `record-voluntary-measure` by the respondent, one event.

Every `--every` events it prints: the mean time per action over the last block, the size of the `state`
query answer (its JSON), the current details (the workflow's `__temporal_workflow_metadata` query), the
input of the current run (its WorkflowExecutionStarted payload, which is the continue-as-new input once the
record has continued) and the part of it that is the index of older evidence items (`index B`, the JSON of
`InvestigationState.evidence_older`), its history length, and the run count. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402


def action_for(kind: str, i: int, co: str):
    from domain.actions import parse_action

    if kind == "evidence":
        return parse_action("record-evidence", {"by": "opc", "description": f"Exhibit {i}", "purpose": "growth"})
    if kind == "message":
        return parse_action("message", {"by": "opc", "to": [co], "subject": f"Note {i}", "text": "See the file."})
    return parse_action("record-voluntary-measure", {"by": "respondent", "description": f"Measure {i}"})


async def sizes(client, slug: str) -> dict[str, int]:
    from temporalio.api.sdk.v1 import WorkflowMetadata

    from enforce import investigations
    from workflows.messages import workflow_id

    view = await investigations.state(client, slug)
    handle = client.get_workflow_handle(workflow_id(slug))
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    desc = await handle.describe()
    start_input, index = 0, 0
    async for e in client.get_workflow_handle(workflow_id(slug), run_id=desc.run_id).fetch_history_events():
        payloads = list(e.workflow_execution_started_event_attributes.input.payloads)
        start_input = sum(len(p.data) for p in payloads)
        index = await evidence_index_bytes(client, payloads)
        break
    return {
        "state": len(view.model_dump_json()),
        "details": len(meta.current_details.encode()),
        "input": start_input,
        "index": index,
        "history": desc.history_length,
    }


async def evidence_index_bytes(client, payloads) -> int:
    """The JSON bytes of the evidence index (`InvestigationState.evidence_older`) the run's input carries: what
    the input still holds of the evidence items older than the state's STATE_KEPT (0 before a continue-as-new)."""
    import json

    decoded = await client.data_converter.payload_codec.decode(payloads)
    started = json.loads(decoded[0].data) if decoded else {}
    state = ((started or {}).get("carried") or {}).get("state") or {}
    older = state.get("evidence_older")
    return len(json.dumps(older, separators=(",", ":"))) if older else 0


async def main(args) -> None:
    harness.private_env()
    from temporalio.worker import Worker

    import worker as enforce_worker
    from enforce import investigations
    from enforce.cases import load_case
    from enforce.simulate import settled

    base, procedure = load_case(ROOT / "cases" / "clearview.toml")
    case = base.model_copy(update={"slug": f"gr-{uuid.uuid4().hex[:6]}"})
    co = case.authorities[1]
    extra = ["--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={args.suggest_after}"]
    async with harness.dev_server(extra_args=extra) as env:
        client = env.client
        queue = f"growth-{case.slug}"
        async with Worker(
            client, task_queue=queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
        ):
            await investigations.start(client, case, procedure, task_queue=queue, indexed=True)
            view = await settled(client, case.slug, case.authorities)
            print(f"growth of one case by `{args.action}`, to {args.events} events of the joint record; continue-as-"
                  f"new suggested after {args.suggest_after} history events")  # fmt: skip
            print(f"{'events':>7} {'ms/action':>10} {'state B':>9} {'details B':>10} {'run input B':>12} "
                  f"{'index B':>8} {'history':>8} {'runs':>5}")  # fmt: skip
            events, i, block, mark = view.events, 0, [], view.events
            cpu = harness.Cpu()
            cpu.start()
            while events < args.events:
                i += 1
                started = time.perf_counter()
                result = await investigations.act(client, case.slug, action_for(args.action, i, co))
                block.append(time.perf_counter() - started)
                events = result.last_seq
                if events - mark >= args.every or events >= args.events:
                    if args.action == "message":
                        await settled(client, case.slug, case.authorities)  # its notices served
                    s = await sizes(client, case.slug)
                    runs = await runs_of(client, case.slug)
                    print(f"{events:>7} {sum(block) / len(block) * 1000:>10.1f} {s['state']:>9} {s['details']:>10} "
                          f"{s['input']:>12} {s['index']:>8} {s['history']:>8} {runs:>5}")  # fmt: skip
                    block, mark = [], events
            cpu.stop()
            print(f"{i} actions in {cpu.wall:.1f} s (server CPU {cpu.server:.1f} s, worker+client CPU {cpu.me:.1f} s)")
            print("targets: time per action and every payload flat in the number of events")


async def runs_of(client, slug: str) -> int:
    from workflows.messages import workflow_id

    n = 0
    async for _ in client.list_workflows(f"WorkflowId = '{workflow_id(slug)}'"):
        n += 1
    return n


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=1000, help="events of the joint record (default 1000; issue: 5000)")
    p.add_argument("--every", type=int, default=250, help="print every this many events")
    p.add_argument("--action", choices=["evidence", "message", "measure"], default="evidence")
    p.add_argument("--suggest-after", type=int, default=1000, help="history events before continue-as-new")
    asyncio.run(main(p.parse_args()))
    sys.stdout.flush()
    harness.os._exit(0)  # sdk-python#300
