"""The payload codec: nothing of a case readable at rest without a key, keys rotating under running cases."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

import worker as enforce_worker
from enforce import codec, identity, investigations, sealing, settings
from tests.casefiles import clearview_text, write_case
from tests.conftest import executable
from tests.live import action, enforce, settle, to_recommendations
from tests.test_stock_cli import temporal
from workflows import search_attributes as sa
from workflows.messages import track_id, workflow_id

pytestmark = pytest.mark.timeout(180)

AUTHORITIES = ["opc", "cai-qc", "oipc-bc", "oipc-ab"]
NAME = "Clearview AI, Inc."
EMAIL = "legal-desk@clearview-respondent.example"


def secrets() -> dict[str, str]:
    """Case content a reader of the database must not find: a run of its own, so no other test's data counts."""
    tag = uuid.uuid4().hex[:10]
    return {
        "name": NAME,
        "email": EMAIL,
        "recommendation": f"Delete every facial array of people in Canada ({tag})",
        "evidence": f"Scraped image index exported by the respondent ({tag})",
    }


def case_with_email(slug: str, tmp: Path):
    from enforce.cases import load_case

    text = clearview_text(slug).replace('channel = "outbox"', f'channel = "outbox"\nemail = "{EMAIL}"', 1)
    return load_case(write_case(tmp, text, f"{slug}.toml"))


def client_with(client: Client, keys: codec.KeySet) -> Client:
    config = client.config()
    config["data_converter"] = codec.data_converter(keys)
    return Client(**config)


async def live_case(client: Client, queue: str, slug: str, tmp: Path, words: dict[str, str], indexed: bool) -> None:
    case, procedure = case_with_email(slug, tmp)
    await investigations.start(client, case, procedure, task_queue=queue, indexed=indexed)
    await settle(client, slug)
    await investigations.act(
        client, slug, action("record-evidence", by="opc", description=words["evidence"], purpose="the inquiry")
    )
    await to_recommendations(client, slug, [{"id": "R1", "text": words["recommendation"]}])


def key_ids(history_json: str) -> set[str]:
    """The key ids named by the history's encrypted payloads."""
    import base64

    found: set[str] = set()

    def walk(x) -> None:
        if isinstance(x, dict):
            meta = x.get("metadata")
            if isinstance(meta, dict) and codec.KEY_ID in meta:
                found.add(base64.b64decode(meta[codec.KEY_ID]).decode())
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(json.loads(history_json))
    return found


async def test_a_key_rotated_under_a_running_case(task_queue, slug, tmp_path):
    one = codec.KeySet.generate("key-1")
    two = one.rotated("key-2")
    # A dev server: a worker stopped on the time-skipping server can leave its time skipping locked.
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=executable("temporal"),
        data_converter=codec.data_converter(one),
        dev_server_log_level="error",
    )
    try:
        async with Worker(
            env.client, task_queue=task_queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
        ):
            case, procedure = case_with_email(slug, tmp_path)
            await investigations.start(env.client, case, procedure, task_queue=task_queue, indexed=False)
            await settle(env.client, slug)
        before = (await env.client.get_workflow_handle(workflow_id(slug)).fetch_history()).to_json()
        assert key_ids(before) == {"key-1"}

        rotated = client_with(env.client, two)
        async with Worker(
            rotated, task_queue=task_queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
        ):
            await to_recommendations(rotated, slug, [{"id": "R1", "text": "Stop collecting."}])
            view = await investigations.state(rotated, slug)
        assert "Stop collecting." in json.dumps(view.state.model_dump(mode="json"))
        assert view.state.respondent.name == NAME

        history = await rotated.get_workflow_handle(workflow_id(slug)).fetch_history()
        assert key_ids(history.to_json()) == {"key-1", "key-2"}
        replayed = await Replayer(
            workflows=enforce_worker.WORKFLOWS, data_converter=codec.data_converter(two)
        ).replay_workflow(history, raise_on_replay_failure=False)
        assert replayed.replay_failure is None, replayed.replay_failure

        # A key set that dropped key 1 cannot read what key 1 sealed, and says so.
        only_two = codec.KeySet(current="key-2", keys={"key-2": two.keys["key-2"]})
        started = history.events[0].workflow_execution_started_event_attributes.input.payloads
        with pytest.raises(codec.CodecKeyError, match="'key-1', which is not in the key set"):
            await codec.EncryptionCodec(only_two).decode(started)
        failed = await Replayer(
            workflows=enforce_worker.WORKFLOWS, data_converter=codec.data_converter(only_two)
        ).replay_workflow(history, raise_on_replay_failure=False)
        assert failed.replay_failure is not None  # its message is encrypted too: an encoded failure
    finally:
        await env.shutdown()


async def test_a_payload_opens_only_under_its_own_key():
    one, other = codec.KeySet.generate("a"), codec.KeySet.generate("a")
    [sealed] = await codec.EncryptionCodec(one).encode([codec.Payload(metadata={"encoding": b"json/plain"}, data=b"x")])
    with pytest.raises(codec.CodecKeyError, match="does not open"):
        await codec.EncryptionCodec(other).decode([sealed])
    [plain] = await codec.EncryptionCodec(one).decode([sealed])
    assert plain.data == b"x"


@pytest.mark.parametrize(
    "text, error",
    [
        ('{"current": "a", "keys": {}}', "not a codec key set"),
        ('{"current": "b", "keys": {"a": "AAAA"}}', "current key 'b'"),
        ('{"current": "a", "keys": {"a": "AAAA"}}', "3 bytes, not 32"),
        ("not json", "not a codec key set"),
    ],
)
def test_a_bad_key_set_is_named(text, error):
    with pytest.raises(codec.CodecKeyError, match=error):
        codec.KeySet.from_json(text)


async def test_nothing_of_a_case_at_rest(task_queue, slug, tmp_path):
    """A live case on a dev server with its own SQLite file: the stock CLI and the file show none of the case's
    content; the codec's client does; search attributes carry none of it."""
    db = tmp_path / "temporal.db"
    words = secrets()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=executable("temporal"),
        search_attributes=sa.ALL,
        data_converter=codec.data_converter(),
        dev_server_log_level="error",
        dev_server_database_filename=str(db),
    )
    try:
        async with Worker(
            env.client, task_queue=task_queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
        ):
            await live_case(env.client, task_queue, slug, tmp_path, words, indexed=True)
            ids = [workflow_id(slug)] + [track_id(slug, a) for a in AUTHORITIES]

            shown = ""
            for wid in ids:
                result = await temporal(env, "workflow", "show", "--workflow-id", wid, "--detailed")
                assert result.returncode == 0, result.stderr
                assert wid in result.stdout
                shown += result.stdout
            stored = b"".join(p.read_bytes() for p in tmp_path.glob("temporal.db*"))
            assert slug.encode() in stored  # the right file: ids are in clear
            for what, word in words.items():
                assert shown.count(word) == 0, f"the {what} in `temporal workflow show --detailed`"
                assert stored.count(word.encode()) == 0, f"the {what} in the SQLite file"

            for wid in ids:
                desc = await env.client.get_workflow_handle(wid).describe()
                attrs = json.dumps({k.name: v for k, v in desc.typed_search_attributes}, default=str)
                for what, word in words.items():
                    assert word not in attrs, f"the {what} in {wid}'s search attributes"

            address = env.client.service_client.config.target_host
            cli_env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
            cli_env |= {"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": env.client.namespace}
            show = await enforce(cli_env, "show", slug, "-o", "json")
            assert show.returncode == 0, show.stderr
            assert NAME in show.stdout and words["recommendation"] in show.stdout
            view = await investigations.state(env.client, slug)
            # Evidence is sealed for its holder on top of the codec: the codec's client sees its envelope, and
            # the holder's key opens it.
            assert words["evidence"] not in json.dumps(view.state.model_dump(mode="json"))
            [item] = view.state.evidence
            assert sealing.open_sealed(item.description, identity.user_for("opc")) == words["evidence"]
            assert EMAIL in json.dumps(view.state.model_dump(mode="json"))
    finally:
        await env.shutdown()


def plain_client(client: Client) -> Client:
    """A client of the same server WITHOUT the codec: what an operator with read access sees."""
    config = client.config()
    config["data_converter"] = DataConverter.default
    return Client(**config)


async def test_search_attributes_and_memo_hold_no_case_content(cli_env, dev_env, tmp_path, slug):
    """Read without the codec, a live case's search attributes and memo hold none of its content, and its
    summaries (static, activity, timer) and current details are sealed payloads; through the codec they name
    the respondent."""
    words = secrets()
    await live_case(dev_env.client, settings.TASK_QUEUE, slug, tmp_path, words, indexed=True)
    raw = plain_client(dev_env.client)
    ids = [workflow_id(slug)] + [track_id(slug, a) for a in AUTHORITIES]
    listed = [w async for w in raw.list_workflows(f'WorkflowId = "{workflow_id(slug)}"')]
    assert len(listed) == 1
    for wid in ids:
        info = (await raw.get_workflow_handle(wid).describe()).raw_description.workflow_execution_info
        indexed = info.search_attributes.SerializeToString()
        memo = info.memo.SerializeToString()
        assert slug.encode() in info.execution.workflow_id.encode()
        for what, word in words.items():
            assert word.encode() not in indexed, f"the {what} in {wid}'s search attributes"
            assert word.encode() not in memo, f"the {what} in {wid}'s memo"
        assert all(p.metadata["encoding"] == codec.ENCODING for p in info.memo.fields.values())

        history = await raw.get_workflow_handle(wid).fetch_history()
        summaries = [
            e.user_metadata.summary for e in history.events if e.HasField("user_metadata") and e.user_metadata.summary
        ]
        kinds = {e.event_type for e in history.events if e.HasField("user_metadata") and e.user_metadata.summary}
        assert summaries, f"{wid}: no summaries to check"
        assert all(p.metadata["encoding"] == codec.ENCODING for p in summaries)
        for what, word in words.items():
            assert word.encode() not in history.to_json().encode(), f"the {what} in {wid}'s raw history"
        if wid == workflow_id(slug):
            assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED in kinds  # static summary
            assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED in kinds  # "Serve ... on <name>"
            assert EventType.EVENT_TYPE_TIMER_STARTED in kinds  # a deadline's timer

    # Through the codec: the name is in the summaries, decoded; there is no memo at all.
    desc = await dev_env.client.get_workflow_handle(workflow_id(slug)).describe()
    assert await desc.memo() == {}
    assert NAME in (await desc.static_summary() or "")
    history = await dev_env.client.get_workflow_handle(workflow_id(slug)).fetch_history()
    served = [
        (await dev_env.client.data_converter.decode([e.user_metadata.summary]))[0]
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and e.HasField("user_metadata")
    ]
    assert any(f"on {NAME}" in s for s in served), served
    listed = await enforce(
        cli_env, "list", "-q", f'WorkflowId = "{workflow_id(slug)}"', "--respondent", NAME, "-o", "json"
    )
    assert listed.returncode == 0, listed.stderr
    assert [r["respondent"] for r in json.loads(listed.stdout)] == [NAME]


def grep(folders: list[Path], words: dict[str, str]) -> dict[str, list[str]]:
    """Each word -> the files under `folders` holding it (as bytes, as a `grep -r` would find it)."""
    found: dict[str, list[str]] = {what: [] for what in words}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for what, word in words.items():
                    if word.encode() in data:
                        found[what].append(str(path))
    return found


async def test_notices_and_documents_at_rest_are_sealed_and_private(cli_env, dev_env, data_dir, tmp_path, slug):
    """After a live case's notices are served: the document store and the outbox hold none of the case's
    content (name, recommendation, evidence, email), their files are 0600 in 0700 folders; `enforce notices
    --document`, `enforce report` and `enforce show` still show it."""
    words = secrets()
    await live_case(dev_env.client, settings.TASK_QUEUE, slug, tmp_path, words, indexed=True)
    documents, outbox = settings.documents_dir(), settings.outbox_dir()
    mine = sorted(documents.glob(f"{slug}*.md"))
    assert len(mine) >= 2, "no notices filed"
    assert grep([documents, outbox], words) == {what: [] for what in words}
    for folder in (data_dir, documents, outbox, outbox / "respondent"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    for path in [*mine, *(outbox / "respondent").glob(f"{slug}*")]:
        assert path.stat().st_mode & 0o777 == 0o600, path
        assert path.read_bytes().startswith(codec.FILE_MAGIC)

    rows = json.loads((await enforce(cli_env, "notices", slug, "-o", "json")).stdout)
    findings = [r for r in rows if r["kind"] == "report-of-findings" and r["to"] == "respondent"]
    assert findings, [r["kind"] for r in rows]
    shown = await enforce(cli_env, "notices", slug, "--document", findings[0]["notice_id"])
    assert shown.returncode == 0, shown.stderr
    assert NAME in shown.stdout and words["recommendation"] in shown.stdout
    report = await enforce(cli_env, "report", slug)
    assert report.returncode == 0, report.stderr
    assert NAME in report.stdout and words["recommendation"] in report.stdout
    show = await enforce(cli_env, "show", slug, "-o", "json")
    assert EMAIL in show.stdout and words["evidence"] not in show.stdout and "[sealed for opc]" in show.stdout
    as_opc = await enforce(cli_env, "show", slug, "--as", "opc", "-o", "json")  # its holder's key opens it
    assert words["evidence"] in as_opc.stdout
    # A document altered on disk is refused, not shown.
    doc = Path(findings[0]["document"])
    sealed = doc.read_bytes()
    doc.write_bytes(sealed[:-1] + bytes([sealed[-1] ^ 1]))
    try:
        refused = await enforce(cli_env, "notices", slug, "--document", findings[0]["notice_id"])
        assert refused.returncode == 1 and "does not open" in refused.stderr, refused.stderr
    finally:
        doc.write_bytes(sealed)
