"""Replay: every history committed under tests/histories/ must replay on today's workflow code, with the
same data converter the worker uses. A change that would break a running case fails here; guard it with
`workflow.patched` and record new histories beside the old (scripts/record_histories.py).

tests/histories/*.json were recorded before the codec (plaintext payloads, which the codec passes through);
tests/histories/encrypted/ holds histories recorded through it, with the TEST key set they were sealed with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

import worker as enforce_worker
from enforce import codec

PLAIN = Path(__file__).parent / "histories"
ENCRYPTED = PLAIN / "encrypted"
TEST_KEYS = ENCRYPTED / "TEST-ONLY-codec-keys.json"
# The TEST record keys the encrypted histories' batches were signed with (scripts/record_histories.py): a replay
# verifies each batch as the run did. Histories from before this set was kept were signed with keys long gone.
TEST_RECORD_KEYS = ENCRYPTED / "TEST-ONLY-record-keys.json"
HISTORIES = sorted(PLAIN.glob("*.json")) + sorted(ENCRYPTED.glob("2*.json"))
pytestmark = pytest.mark.timeout(120)


def test_there_are_histories_to_replay():
    kinds = {
        json.loads(p.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
        for p in HISTORIES
    }
    assert kinds == {"Investigation", "AuthorityTrack"}
    assert {p.parent for p in HISTORIES} == {PLAIN, ENCRYPTED}


def test_encrypted_histories_hold_no_plaintext():
    for path in ENCRYPTED.glob("2*.json"):
        text = path.read_text()
        assert "Clearview" not in text and "RCMP" not in text, path.name


@pytest.fixture(scope="module", autouse=True)
def record_keys():
    """The TEST record keys installed for verifying (the session's current signing key stays current)."""
    from enforce import keys as key_files
    from workflows import keys

    before = list(keys._current)
    current, found = key_files.load(TEST_RECORD_KEYS)
    keys.install(current, found)
    yield
    if before:
        keys.install(before[0], keys._keys)


@pytest.mark.parametrize("path", HISTORIES, ids=[f"{p.parent.name}/{p.stem}" for p in HISTORIES])
async def test_history_replays(path: Path):
    workflow_id = path.stem.split("-", 3)[3]  # <date>-<workflow id>
    history = WorkflowHistory.from_json(workflow_id, path.read_text())
    # The worker's converter; the encrypted histories open with the TEST key set they were recorded under.
    keys = codec.KeySet.from_json(TEST_KEYS.read_text()) if path.parent == ENCRYPTED else None
    replayer = Replayer(workflows=enforce_worker.WORKFLOWS, data_converter=codec.data_converter(keys))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
