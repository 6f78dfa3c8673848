"""Replay: every history committed under tests/histories/ must replay on today's workflow code, with the
same data converter the worker uses. A change that would break a running case fails here; guard it with
`workflow.patched` and record new histories beside the old (scripts/record_histories.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

import worker as enforce_worker

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
pytestmark = pytest.mark.timeout(120)


def test_there_are_histories_to_replay():
    kinds = {
        json.loads(p.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
        for p in HISTORIES
    }
    assert kinds == {"Investigation", "AuthorityTrack"}


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path):
    workflow_id = path.stem.split("-", 3)[3]  # <date>-<workflow id>
    history = WorkflowHistory.from_json(workflow_id, path.read_text())
    replayer = Replayer(workflows=enforce_worker.WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
