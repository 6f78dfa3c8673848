"""The CLI against what a hostile or unlucky user gives it, as a subprocess against a real dev server with a
worker: `enforce verify` on files that are empty, binary, cut short, edited (with and without their hashes and
head recomputed); `enforce act` retried with one --request-id, and with its worker stopped; and bad arguments.
Every refusal is one line, with the exit status documented, and no traceback."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as enforce_worker
from domain.chain import export_lines
from domain.limits import ACTION_BYTES_MAX, ID_MAX, TEXT_MAX
from enforce import investigations
from enforce.simulate import settled
from tests.casefiles import clearview
from tests.live import AUTHORITIES, action, enforce
from workflows.messages import workflow_id

pytestmark = pytest.mark.timeout(180)

PENDING = 4


def _worker(env: WorkflowEnvironment, queue: str) -> Worker:
    return Worker(
        env.client, task_queue=queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
    )


async def _open(env: WorkflowEnvironment, queue: str, tmp: Path, slug: str) -> None:
    case, procedure = clearview(slug, tmp)
    await investigations.start(env.client, case, procedure, task_queue=queue)
    await settled(env.client, slug, AUTHORITIES)


@pytest.fixture(scope="module")
async def case(dev_env: WorkflowEnvironment, data_dir, tmp_path_factory) -> AsyncIterator[tuple[dict, str, list]]:
    """A Clearview case with a worker of its own, its environment for `enforce`, and its export's lines."""
    queue, slug = f"hostile-{uuid.uuid4().hex[:8]}", f"case-{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("hostile")
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "ENFORCE_DATA_DIR": str(data_dir),
    }
    async with _worker(dev_env, queue):
        await _open(dev_env, queue, tmp, slug)
        for n in range(3):
            await investigations.act(dev_env.client, slug, action("request-information", by="opc", items=[f"i{n}"]))
        await settled(dev_env.client, slug, AUTHORITIES)
        out = tmp / "export.jsonl"
        exported = await enforce(env, "export", slug, "--out", str(out))
        assert exported.returncode == 0, exported.stderr
        lines = out.read_text().splitlines()
        assert len(lines) >= 9, "the opened case should hold a handful of events"
        yield env, slug, lines


def _one_line(result, code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    text = result.stderr.strip()
    return text


def _events(lines: list[str]) -> list[dict]:
    out = []
    for line in lines[:-1]:
        record = json.loads(line)
        record.pop("prev"), record.pop("hash")
        out.append(record)
    return out


def _head(lines: list[str]) -> dict:
    return json.loads(lines[-1])


def _recomputed(events: list[dict], lines: list[str], **head) -> list[str]:
    """A forger's export: every hash and the head recomputed over `events`."""
    h = {**_head(lines), **head}
    return export_lines(events, case=h["case"], record=h["record"], exported_at=h["exported_at"])


async def _verify(env, tmp_path, content: str | bytes, *args: str):
    path = tmp_path / "under-test.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return await enforce(env, "verify", str(path), *args)


# ---------------------------------------------------------------- verify: files that are not exports


@pytest.mark.parametrize(
    "content",
    [b"\x00\x01\x02binary", b"\x89PNG\r\n\x1a\n\x00\x00", b"caf\xe9 au lait\n", b"\xff\xfe{\x00}\x00", b"{}\n\xc3"],
    ids=["nul", "png", "latin-1", "utf-16", "cut-utf-8"],
)
async def test_a_binary_or_non_utf8_file_is_exit_2_in_one_line(case, tmp_path, content):
    env, _, _ = case
    text = _one_line(await _verify(env, tmp_path, content, "--offline"), 2)
    assert len(text.splitlines()) == 1 and ("binary" in text or "not UTF-8" in text)


@pytest.mark.parametrize("content", ["", "\n", "  \n\n\t\n"], ids=["empty", "newline", "blank"])
async def test_an_empty_file_is_refused(case, tmp_path, content):
    env, _, _ = case
    assert "empty" in _one_line(await _verify(env, tmp_path, content, "--offline"), 1)


# ---------------------------------------------------------------- verify: exports cut, edited, forged


async def test_the_whole_export_verifies_and_matches_the_live_record(case, tmp_path):
    env, slug, lines = case
    offline = await _verify(env, tmp_path, "\n".join(lines) + "\n", "--offline")
    assert offline.returncode == 0 and "chain intact, head matches" in offline.stdout and "offline" in offline.stdout
    live = await _verify(env, tmp_path, "\n".join(lines) + "\n")
    assert live.returncode == 0, live.stderr
    assert "matches the live record" in live.stdout and workflow_id(slug) in live.stdout


async def test_a_track_exports_and_verifies_against_its_live_record(case, tmp_path):
    env, slug, _ = case
    out = tmp_path / "track.jsonl"
    exported = await enforce(env, "export", slug, "--track", "opc", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    head = _head(out.read_text().splitlines())
    assert head["record"] == f"investigation-{slug}.opc" and head["case"] == slug
    verified = await enforce(env, "verify", str(out), "--live")
    assert verified.returncode == 0 and "matches the live record" in verified.stdout, verified.stderr


@pytest.mark.parametrize("keep", range(1, 8))
async def test_an_export_cut_after_any_line_is_refused(case, tmp_path, keep):
    env, _, lines = case
    keep = min(keep, len(lines) - 1)
    text = _one_line(await _verify(env, tmp_path, "\n".join(lines[:keep]) + "\n", "--offline"), 1)
    assert f"line {keep}: the file ends without its head" in text


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
async def test_an_export_cut_inside_a_line_is_refused(case, tmp_path, fraction):
    env, _, lines = case
    whole = "\n".join(lines) + "\n"
    cut = whole[: int(len(whole) * fraction)]
    if cut.endswith("\n"):
        cut = cut[:-2]
    text = _one_line(await _verify(env, tmp_path, cut, "--offline"), 1)
    last = len(cut.splitlines())
    assert f"line {last}:" in text.splitlines()[0]


@pytest.mark.parametrize("index", [0, 2, 4])
async def test_an_edited_line_is_named(case, tmp_path, index):
    env, _, lines = case
    record = json.loads(lines[index])
    record["by"] = "respondent" if record.get("by") != "respondent" else "opc"
    edited = [*lines[:index], json.dumps(record), *lines[index + 1 :]]
    text = _one_line(await _verify(env, tmp_path, "\n".join(edited), "--offline"), 1)
    assert text.splitlines()[0].endswith(f"line {index + 1}: its content does not match its hash (edited)")


@pytest.mark.parametrize("index", [1, 3])
async def test_an_edited_line_with_its_chain_recomputed_fails_at_the_head(case, tmp_path, index):
    env, _, lines = case
    events = _events(lines)
    events[index]["by"] = "respondent"
    forged = [*export_lines(events, case="x", record="x", exported_at="x")[:-1], lines[-1]]
    text = _one_line(await _verify(env, tmp_path, "\n".join(forged), "--offline"), 1)
    assert f"line {len(lines)}: does not follow" in text or "the head's last hash" in text


@pytest.mark.parametrize("index", [0, 2, 5])
async def test_a_forgery_with_chain_and_head_recomputed_is_named_against_the_live_record(case, tmp_path, index):
    env, _, lines = case
    events = _events(lines)
    events[index]["on"] = "2019-01-01T00:00:00Z"
    forged = "\n".join(_recomputed(events, lines))
    offline = await _verify(env, tmp_path, forged, "--offline")
    assert offline.returncode == 0 and "offline" in offline.stdout  # what a file alone cannot prove
    text = _one_line(await _verify(env, tmp_path, forged), 1)
    assert f"line {index + 1}: differs from event {index + 1} of the live record" in text


async def test_an_event_added_with_chain_and_head_recomputed_is_named(case, tmp_path):
    env, _, lines = case
    events = _events(lines)
    events.append({**events[-1], "seq": events[-1]["seq"] + 1})
    text = _one_line(await _verify(env, tmp_path, "\n".join(_recomputed(events, lines))), 1)
    assert f"the file holds {len(events)} events, the live record only {len(events) - 1}" in text


async def test_a_removed_head_is_refused(case, tmp_path):
    env, _, lines = case
    text = _one_line(await _verify(env, tmp_path, "\n".join(lines[:-1]), "--offline"), 1)
    assert f"line {len(lines) - 1}: the file ends without its head" in text


@pytest.mark.parametrize("delta", [-1, 1, 100])
async def test_a_head_with_a_wrong_count_is_refused_even_with_its_hash_recomputed(case, tmp_path, delta):
    env, _, lines = case
    from domain.chain import _digest

    head = _head(lines)
    head.pop("hash")
    head["events"] += delta
    prev = head.pop("prev")
    forged = [*lines[:-1], json.dumps({**head, "prev": prev, "hash": _digest(prev, head)})]
    text = _one_line(await _verify(env, tmp_path, "\n".join(forged), "--offline"), 1)
    assert f"line {len(lines)}: the head counts {head['events']} events, the file holds {len(lines) - 1}" in text


@pytest.mark.parametrize(
    "change",
    [{"events": "7"}, {"last_hash": "0" * 64}, {"head": "other/9"}, {"extra": 1}, {"case": None}],
    ids=["count-text", "last-hash", "format", "extra-field", "no-case"],
)
async def test_a_malformed_head_is_named(case, tmp_path, change):
    env, _, lines = case
    head = _head(lines)
    head.update(change)
    text = _one_line(await _verify(env, tmp_path, "\n".join([*lines[:-1], json.dumps(head)]), "--offline"), 1)
    assert f"line {len(lines)}:" in text


async def test_lines_after_the_head_or_reordered_are_named(case, tmp_path):
    env, _, lines = case
    doubled = _one_line(await _verify(env, tmp_path, "\n".join([*lines, lines[-1]]), "--offline"), 1)
    assert f"line {len(lines) + 1}: a line after the head" in doubled
    swapped = [lines[0], lines[2], lines[1], *lines[3:]]
    assert "line 2: does not follow line 1" in _one_line(await _verify(env, tmp_path, "\n".join(swapped)), 1)


async def test_a_head_of_another_case_cannot_be_compared_live(case, tmp_path):
    env, _, lines = case
    other = _recomputed(_events(lines), lines, case="no-such-case", record="investigation-no-such-case")
    result = await _verify(env, tmp_path, "\n".join(other), "--live")
    assert "cannot compare with the live record investigation-no-such-case" in _one_line(result, 1)
    quiet = await _verify(env, tmp_path, "\n".join(other))
    assert quiet.returncode == 0 and "offline: investigation-no-such-case did not answer" in quiet.stdout


# ---------------------------------------------------------------- act: retries


async def _count(env, slug: str, event_type: str) -> int:
    result = await enforce(env, "timeline", slug, "-o", "json")
    assert result.returncode == 0, result.stderr
    return sum(1 for e in json.loads(result.stdout) if e["type"] == event_type)


async def test_the_same_request_id_twice_records_once_and_prints_the_same(case):
    env, slug, _ = case
    before = await _count(env, slug, "InformationRequested")
    rid = f"retry-{uuid.uuid4().hex[:8]}"
    args = ("act", slug, "request-information", "--as", "opc", "-f", 'items=["the retention policy"]')
    first = await enforce(env, *args, "--request-id", rid)
    assert first.returncode == 0, first.stderr
    assert rid in first.stdout and "InformationRequested" in first.stdout
    second = await enforce(env, *args, "--request-id", rid)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert await _count(env, slug, "InformationRequested") == before + 1
    fresh = await enforce(env, *args)  # a new id: a new request
    assert fresh.returncode == 0 and "request id " in fresh.stdout and rid not in fresh.stdout
    assert await _count(env, slug, "InformationRequested") == before + 2


async def test_a_request_id_used_for_another_action_records_nothing(case):
    env, slug, _ = case
    rid = f"reuse-{uuid.uuid4().hex[:8]}"
    base = ("act", slug, "request-information", "--as", "opc", "-f", 'items=["x"]', "--request-id", rid)
    assert (await enforce(env, *base)).returncode == 0
    before = await _count(env, slug, "EvidenceRecorded")
    evidence = ("act", slug, "record-evidence", "--as", "opc", "-f", "description=d", "-f", "purpose=p")
    other = await enforce(env, *evidence, "--request-id", rid)
    assert f"request id {rid} was already used for request-information" in _one_line(other, 1)
    assert await _count(env, slug, "EvidenceRecorded") == before


async def test_with_the_worker_stopped_act_is_pending_then_lands_once(dev_env, data_dir, tmp_path):
    queue, slug = f"stopped-{uuid.uuid4().hex[:8]}", f"case-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "ENFORCE_DATA_DIR": str(data_dir),
    }
    async with _worker(dev_env, queue):
        await _open(dev_env, queue, tmp_path, slug)
    # No worker polls the case's queue now.
    rid = f"pending-{uuid.uuid4().hex[:8]}"
    args = ("act", slug, "request-information", "--as", "opc", "-f", 'items=["a list"]', "--request-id", rid)
    started = time.monotonic()
    pending = await enforce(env, *args, "--wait", "3s")
    took = time.monotonic() - started
    text = _one_line(pending, PENDING)
    assert took < 20, f"pending after {took:.0f} s, the wait was 3 s"
    assert len(text.splitlines()) == 1 and "pending" in text and "failed" not in text
    assert rid in text and f"enforce timeline {slug}" in text and f"--request-id {rid}" in text
    async with _worker(dev_env, queue):
        retry = await enforce(env, *args, "--wait", "60s")
        assert retry.returncode == 0, retry.stderr
        assert rid in retry.stdout
        again = await enforce(env, *args)
        assert again.returncode == 0 and again.stdout == retry.stdout
        assert await _count(env, slug, "InformationRequested") == 1


# ---------------------------------------------------------------- act: hostile arguments

HUGE = "x" * (TEXT_MAX + 10)
BIG = "y" * (ACTION_BYTES_MAX // 3 + 10)  # three of them: over the limit, each within a command line's 128 KiB
BAD_ARGS = [
    (["--request-id", "r" * (ID_MAX + 1)], 2, "--request-id"),
    (["--request-id", "a\x01b"], 2, "--request-id"),
    (["--request-id", "a\nb"], 2, "--request-id"),
    (["--request-id", "a b"], 2, "--request-id"),
    (["--request-id", ".hidden"], 2, "--request-id"),
    (["--request-id", "id\x1b[31m"], 2, "--request-id"),
    (["-f", "items"], 2, "is not key=value"),
    (["-f", "=value"], 2, "is not key=value"),
    (["-f", 'items=["a"]', "-f", "colour=red"], 2, "colour"),
    (["-f", f"colour={HUGE}"], 2, "colour"),
    ([f"-fa={BIG}", f"-fb={BIG}", f"-fc={BIG}"], 2, f"more than {ACTION_BYTES_MAX}"),
    (["-f", "items=" + "[" * 5000], 2, "nest"),
    (["--json", "[1, 2]"], 2, "--json"),
    (["--json", "{"], 2, "--json"),
    (["-f", "items=[]"], 2, "items"),
    (["--wait", "soon"], 2, "--wait"),
    (["--wait", "0s"], 2, "--wait"),
    (["--wait", "99999m"], 2, "--wait"),
]


@pytest.mark.parametrize(("extra", "code", "named"), BAD_ARGS, ids=[f"arg{i}" for i in range(len(BAD_ARGS))])
async def test_bad_act_arguments_are_one_line(case, extra, code, named):
    env, slug, _ = case
    before = await _count(env, slug, "InformationRequested")
    args = ["act", slug, "request-information", "--as", "opc", *extra]
    if not any(a.startswith("items") for a in extra) and "--json" not in extra:
        args += ["-f", 'items=["x"]']
    text = _one_line(await enforce(env, *args), code)
    assert len(text.splitlines()) == 1 and named in text
    assert await _count(env, slug, "InformationRequested") == before


@pytest.mark.parametrize(
    ("args", "code", "named"),
    [
        (["fly"], 2, "unknown action 'fly'"),
        (["fly\x07\x1b[2J"], 2, "unknown action"),
        (["a" * 5000], 2, "unknown action"),
        (["concur", "--case", "x"], 2, "No such option"),
    ],
    ids=["unknown", "control-chars", "long", "unknown-option"],
)
async def test_unknown_actions_are_bad_input(case, args, code, named):
    env, slug, _ = case
    result = await enforce(env, "act", slug, *args, "--as", "opc")
    assert result.returncode == code and "Traceback" not in result.stderr
    assert named in result.stderr
    if named.startswith("unknown action"):
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("slug", "actor", "named"),
    [("no-such-case", "opc", "no investigation 'no-such-case'"), (None, "nobody", "nobody")],
    ids=["unknown-case", "unknown-actor"],
)
async def test_an_unknown_case_or_actor_is_refused_in_one_line(case, slug, actor, named):
    env, own, _ = case
    result = await enforce(env, "act", slug or own, "request-information", "--as", actor, "-f", 'items=["x"]')
    text = _one_line(result, 1)
    assert len(text.splitlines()) == 1 and named in text
