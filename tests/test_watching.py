"""`enforce list`, `enforce setup` and `enforce watch` as a user runs them: subprocesses against the dev server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as enforce_worker
from enforce import investigations
from enforce.watching import build_query, days_left, parse_duration
from tests.casefiles import ROOT, clearview
from tests.test_cli import enforce
from workflows import search_attributes as sa

pytestmark = pytest.mark.timeout(120)

# This module's cases run on a task queue of their own, with a worker in this process: the session's dev server
# allows one worker per task queue in a process, and tests/test_cli.py's `cli` has the project's queue.
TASK_QUEUE = f"watching-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
async def cli(dev_env: WorkflowEnvironment, data_dir) -> AsyncIterator[dict[str, str]]:
    """Environment for `enforce` subprocesses against the session's dev server."""
    async with Worker(
        dev_env.client,
        task_queue=TASK_QUEUE,
        workflows=enforce_worker.WORKFLOWS,
        activities=enforce_worker.ACTIVITIES,
    ):
        yield {
            **os.environ,
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "ENFORCE_DATA_DIR": str(data_dir),
        }


# ----------------------------------------------------------------------------------------------------
# Without a server


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14d", timedelta(days=14)),
        ("2w", timedelta(weeks=2)),
        ("36h", timedelta(hours=36)),
        (" 1w3d ", timedelta(days=10)),
        ("1W", timedelta(weeks=1)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "14", "d", "3x", "14 days", "-2d", "0d", "1.5d", "2w junk"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_query_names_only_investigations_and_quotes_values():
    q = build_query(
        stages=["escalation", "awaiting-response"],
        authority="oipc-bc",
        due_before=datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC),
        awaiting='Acme "Widgets" \\ Co',
        raw="StartTime > '2020-01-01T00:00:00Z'",
    )
    assert q == (
        'WorkflowType = "Investigation" AND ExecutionStatus != "ContinuedAsNew"'
        ' AND InvestigationStage IN ("escalation", "awaiting-response")'
        ' AND Authorities = "oipc-bc"'
        ' AND NextDeadline <= "2027-01-02T03:04:05Z"'
        ' AND AwaitingParty = "Acme \\"Widgets\\" \\\\ Co"'
        " AND (StartTime > '2020-01-01T00:00:00Z')"
    )
    assert build_query(state="open").endswith('ExecutionStatus = "Running"')
    assert 'ExecutionStatus != "Running"' in build_query(state="closed")


def test_days_left_counts_days_as_the_case_details_do():
    now = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
    assert days_left(None, now) is None
    assert days_left(datetime(2026, 11, 22, tzinfo=UTC), now) == 0
    assert days_left(datetime(2026, 12, 6, tzinfo=UTC), now) == 14
    assert days_left(datetime(2026, 11, 20, tzinfo=UTC), now) == -2


# ----------------------------------------------------------------------------------------------------
# Against the dev server


async def open_case(client: Client, env: dict[str, str], folder: Path, slug: str) -> str:
    """The Clearview case, opened, served and indexed with its next deadline; its slug."""
    case, procedure = clearview(slug, folder)
    await investigations.start(client, case, procedure, task_queue=TASK_QUEUE)
    for _ in range(75):
        rows = await list_json(env, slug)
        if rows and rows[0]["stage"] == "investigating" and rows[0]["next_deadline"]:
            return slug
        await asyncio.sleep(0.2)
    raise AssertionError(f"enforce list never showed {slug} investigating with a deadline")


@pytest.fixture(scope="module")
async def opened(cli, dev_env, tmp_path_factory) -> str:
    """One open case for the tests that only read it."""
    return await open_case(dev_env.client, cli, tmp_path_factory.mktemp("case"), f"watch-{uuid.uuid4().hex[:8]}")


def mine(slug: str) -> list[str]:
    """Only this test's case: the session's dev server holds every other test's too."""
    return ["-q", f'WorkflowId = "investigation-{slug}"']


async def list_json(env, slug: str, *args: str) -> list[dict]:
    result = await enforce(env, "list", *mine(slug), *args, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_list_shows_the_case_on_a_line_of_its_own(cli, opened):
    result = await enforce(cli, "list", *mine(opened))
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if opened in line]
    for expected in ("investigating", "opc", "running", " d "):
        assert expected in line, line
    assert "1 investigation (1 open, 0 closed)" in result.stdout


def test_list_keeps_each_case_on_one_aligned_line():
    """A page of cases is one line each, columns aligned whatever a cell holds: markup is shown as written, a
    line break, tab or escape sequence is shown escaped, wide characters are measured by their width, a slug
    is shown whole, a value longer than any real one (set by hand through the stock CLI) is cut, and rich does
    not wrap the lines on a narrow terminal."""
    import io

    from rich.cells import cell_len
    from rich.console import Console

    from enforce.watching import table

    def case(slug, stage="investigating", days=30, status="running"):
        due = "2027-01-01T00:00:00+00:00" if days is not None else None
        return {"slug": slug, "stage": stage, "awaiting": "opc", "next_deadline": due, "days_left": days,
                "open": status == "running", "status": status}  # fmt: skip

    longest = "s" * 63  # the longest slug a case file may have
    rows = [case("plain"), case("[red]x[/red]", days=-3), case("two\nlines\there"), case("調査-2027"),
            case("finished", stage="closed", days=None, status="completed"), case(longest),
            case("esc\x1b[31mred", stage="x" * 2000)]  # fmt: skip
    console = Console(file=io.StringIO(), width=30, force_terminal=False)
    console.print(table(rows), soft_wrap=True, highlight=False)
    lines = console.file.getvalue().splitlines()
    assert len(lines) == 1 + len(rows), lines
    assert lines[0].split() == ["case", "stage", "whose", "move", "next", "deadline", "left", "status"]
    assert "[red]x[/red]" in lines[2] and "overdue 3 d" in lines[2]
    assert "two\\nlines\\there" in lines[3]
    assert longest in lines[6]
    assert "\x1b" not in lines[7] and "esc\\x1b[31mred" in lines[7]
    assert "x" * 39 + "…" in lines[7] and "x" * 41 not in lines[7]
    # Every line has the stage and the status columns at the same width (the CJK slug is 2 cells a character).
    stages = ["stage", *(r["stage"][:10] for r in rows)]
    statuses = ["status", *(r["status"] for r in rows)]
    for words, find in ((stages, str.index), (statuses, str.rindex)):
        starts = {cell_len(line[: find(line, word)]) for line, word in zip(lines, words, strict=True)}
        assert len(starts) == 1, lines


async def test_list_json_is_for_scripts(cli, opened):
    [row] = await list_json(cli, opened)
    assert row["slug"] == opened and row["workflow_id"] == f"investigation-{opened}"
    assert row["status"] == "running" and row["open"] is True
    assert row["stage"] == "investigating" and row["awaiting"] == "opc"
    assert sorted(row["authorities"]) == ["cai-qc", "oipc-ab", "oipc-bc", "opc"]
    assert row["respondent"] == "Clearview AI, Inc." and row["lead"] == "opc"
    deadline = datetime.fromisoformat(row["next_deadline"])
    assert row["days_left"] == (deadline.date() - datetime.now(UTC).date()).days > 30


@pytest.mark.parametrize(
    ("args", "found"),
    [
        (["--stage", "investigating"], True),
        (["--stage", "escalation"], False),
        (["-s", "escalation", "-s", "investigating"], True),
        (["--authority", "oipc-bc"], True),
        (["--authority", "oipc-on"], False),
        (["--respondent", "Clearview AI, Inc."], True),
        (["--respondent", "Clearview"], False),
        (["--awaiting", "opc"], True),
        (["--awaiting", "respondent"], False),
        (["--due-within", "30d"], False),
        (["--due-within", "60w"], True),
        (["--open"], True),
        (["--closed"], False),
        (["--stage", "investigating", "--authority", "opc", "--due-within", "9000h"], True),
    ],
)
async def test_list_filters(cli, opened, args, found):
    rows = await list_json(cli, opened, *args)
    assert [r["slug"] for r in rows] == ([opened] if found else [])


async def test_list_shows_closed_cases_too(cli, dev_env, tmp_path, slug):
    opened = await open_case(dev_env.client, cli, tmp_path, slug)
    await dev_env.client.get_workflow_handle(f"investigation-{opened}").terminate("test: closed")
    for _ in range(50):
        rows = await list_json(cli, opened)
        if rows and rows[0]["status"] == "terminated":
            break
        await asyncio.sleep(0.2)
    [row] = rows
    assert row["status"] == "terminated" and row["open"] is False and row["closed"]
    assert await list_json(cli, opened, "--closed") == rows
    assert await list_json(cli, opened, "--open") == []
    table = await enforce(cli, "list", *mine(opened))
    assert "terminated" in table.stdout and "(0 open, 1 closed)" in table.stdout


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--due-within", "soon"], "--due-within"),
        (["--due-within", "14"], "--due-within"),
        (["--stage", "pondering"], "--stage"),
        (["-q", "InvestigationStage = "], "-q"),
        (["--open", "--closed"], "--open"),
    ],
)
async def test_list_usage_errors_are_one_line_with_status_2(cli, args, names):
    result = await enforce(cli, "list", *args)
    assert result.returncode == 2, result
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ") and names in result.stderr
    assert result.stdout == ""


async def test_list_when_temporal_is_unreachable_is_one_line(tmp_path):
    env = {**os.environ, "TEMPORAL_ADDRESS": "127.0.0.1:1", "ENFORCE_DATA_DIR": str(tmp_path)}
    for command in (["list"], ["setup"], ["watch", "clearview-ai"]):
        result = await enforce(env, *command)
        assert result.returncode == 1, (command, result)
        assert len(result.stderr.strip().splitlines()) == 1 and "127.0.0.1:1" in result.stderr


async def test_setup_creates_what_is_missing_then_finds_all_present(cli, dev_env):
    """On a namespace of its own: the session's `default` has every attribute from the start."""
    namespace = f"setup-{uuid.uuid4().hex[:8]}"
    service = dev_env.client.workflow_service
    await service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400))
    )
    for _ in range(100):
        try:
            await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
            break
        except RPCError:
            await asyncio.sleep(0.1)
    env = {**cli, "TEMPORAL_NAMESPACE": namespace}

    first = await enforce(env, "setup")
    assert first.returncode == 0, first.stderr
    assert f"Created {len(sa.ALL)} search attributes" in first.stdout
    assert all(k.name in first.stdout for k in sa.ALL)
    assert f"namespace {namespace}" in first.stdout

    again = await enforce(env, "setup")
    assert again.returncode == 0, again.stderr
    assert f"all {len(sa.ALL)} search attributes present" in again.stdout


async def test_watch_prints_changes_until_interrupted(cli, opened):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "enforce.main",
        "watch",
        opened,
        "--interval",
        "0.2",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli,
        cwd=ROOT,
    )
    lines = []
    while not any("NoticeServed" in line for line in lines):
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line, f"watch ended early: {lines}"
        lines.append(line)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: how one stops watching
    await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 0, await proc.stderr.read()
    assert lines[0].strip() == f"{opened}: stage investigating, whose move opc, workflow running"
    assert "InvestigationOpened" in "".join(lines)


async def test_watch_of_an_unknown_case_is_one_line(cli):
    result = await enforce(cli, "watch", "no-such-case")
    assert result.returncode == 1
    assert result.stderr.strip() == result.stderr.strip().splitlines()[0]
    assert "no investigation 'no-such-case'" in result.stderr


@pytest.mark.parametrize("command", ["list", "setup", "watch"])
async def test_help_shows_an_example(cli, command):
    result = await enforce(cli, command, "--help")
    assert result.returncode == 0
    assert "Example:" in result.stdout and f"enforce {command}" in result.stdout
