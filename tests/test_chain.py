"""The exported record as a hash chain: `enforce verify` names any edited, dropped or reordered line."""

from __future__ import annotations

import json
import os

import pytest

from domain.chain import export_lines, verify
from tests.live import enforce
from tests.test_policy import act, joint, to_recommendations


@pytest.fixture
def lines(tmp_path) -> list[str]:
    inv, _ = joint(tmp_path)
    to_recommendations(inv)
    act(inv, "answer-recommendations", by="respondent", answers={"R1": "refused", "R2": "accepted"})
    events = [e.model_dump(mode="json") for e in inv.events]
    return export_lines(events, case="c", record="investigation-c", exported_at="2026-01-01T00:00:00+00:00")


def test_an_intact_export_verifies(lines):
    assert len(lines) > 8
    assert verify(lines) == []


def test_an_edited_line_is_named(lines):
    record = json.loads(lines[4])
    record["by"] = "respondent"
    edited = [*lines[:4], json.dumps(record), *lines[5:]]
    assert verify(edited) == ["line 5: its content does not match its hash (edited)"]


def test_a_dropped_line_is_named(lines):
    problems = verify(lines[:3] + lines[4:])
    assert problems[0].startswith("line 4: does not follow line 3")


def test_a_file_cut_short_or_with_a_wrong_head_is_refused(lines):
    assert verify(lines[:-1]) == [f"line {len(lines) - 1}: the file ends without its head (cut short?)"]
    assert verify([]) == ["the file is empty: not an export"]
    head = json.loads(lines[-1])
    head["events"] += 1
    assert f"line {len(lines)}: the head counts" in " ".join(verify([*lines[:-1], json.dumps(head)]))


def test_reordered_lines_are_named(lines):
    swapped = [*lines[:2], lines[3], lines[2], *lines[4:]]
    assert any(p.startswith("line 3:") for p in verify(swapped))


@pytest.mark.timeout(30)
async def test_enforce_verify_exits_1_naming_the_line(lines, tmp_path):
    env = {**os.environ, "ENFORCE_DATA_DIR": str(tmp_path)}
    good = tmp_path / "record.jsonl"
    good.write_text("\n".join(lines) + "\n")
    ok = await enforce(env, "verify", str(good), "--offline")
    assert ok.returncode == 0 and "chain intact" in ok.stdout
    bad = tmp_path / "tampered.jsonl"
    bad.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    result = await enforce(env, "verify", str(bad), "--offline")
    assert result.returncode == 1
    assert "line 3: does not follow line 2" in result.stderr
