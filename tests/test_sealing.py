"""Content between authorities sealed by default, for its scope, on the sender's machine, on real dev servers:
evidence recorded by oipc-bc for itself is nowhere in the server's SQLite database file nor in the case's
histories, opc's key does not open it and oipc-bc's does; once oipc-bc shares it with opc (re-sealing it),
opc's key opens it too. Messages are sealed for their sender and addressees; content that arrives in clear is
refused in one line naming the field; `enforce sign` seals as `enforce act` does; `enforce show --as` and
`enforce timeline --as` open only what the party's key opens on this machine, and say so otherwise."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

import worker
from domain import sealed as sealed_text
from domain.errors import Rejected
from enforce import codec, identity, investigations, sealing, settings
from tests.conftest import executable
from tests.live import action, enforce, open_case, settle
from workflows import search_attributes as sa
from workflows.messages import track_id, workflow_id

pytestmark = pytest.mark.timeout(240)

RECORDS = ("opc", "cai-qc", "oipc-bc", "oipc-ab")


def _payloads(x, found: list[Payload]) -> None:
    if isinstance(x, dict):
        if isinstance(x.get("metadata"), dict) and "data" in x:
            found.append(
                Payload(
                    metadata={k: base64.b64decode(v) for k, v in x["metadata"].items()},
                    data=base64.b64decode(x.get("data", "")),
                )
            )
        for v in x.values():
            _payloads(v, found)
    elif isinstance(x, list):
        for v in x:
            _payloads(v, found)


async def decoded_history(client: Client, wid: str) -> bytes:
    """Every payload of a workflow's history, decoded through the client's payload codec (if any), as one blob
    of bytes, with the history's own JSON."""
    text = (await client.get_workflow_handle(wid).fetch_history()).to_json()
    found: list[Payload] = []
    _payloads(json.loads(text), found)
    decode = client.data_converter.payload_codec
    decoded = await decode.decode(found) if decode else found
    return text.encode() + b"\n" + b"\n".join(p.data for p in decoded)


async def histories(client: Client, slug: str) -> bytes:
    wids = [workflow_id(slug)] + [track_id(slug, a) for a in RECORDS]
    return b"\n".join([await decoded_history(client, w) for w in wids])


def database(path: Path) -> bytes:
    """The server's SQLite database as it is on disk: the file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def refused(client: Client, slug: str, name: str, payload: dict) -> str:
    """The one-line refusal of a raw update; it leaves no event."""
    before = (await investigations.events(client, slug)).events
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await client.get_workflow_handle(workflow_id(slug)).execute_update(name, payload, id=str(uuid.uuid4()))
    message = str(caught.value.cause.message)
    assert "\n" not in message
    assert (await investigations.events(client, slug)).events == before, f"{name}: a refused act left an event"
    return message


@pytest.fixture(scope="module")
async def on_disk(tmp_path_factory) -> tuple[Client, Path]:
    """A dev server of its own that keeps its database in a file, and a worker on it. Its clients have NO payload
    codec: every payload is in that file as it was sent, so what the sealing alone keeps out is what is tested
    (an operator who holds the codec's keys, or reads a server that has no codec, sees this much)."""
    db = tmp_path_factory.mktemp("temporal") / "temporal.db"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=executable("temporal"),
        dev_server_database_filename=str(db),
        search_attributes=sa.ALL,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    queue = f"sealed-{uuid.uuid4().hex[:8]}"
    try:
        async with worker.build(env.client, task_queue=queue):
            yield env.client, db, queue
    finally:
        await env.shutdown()


async def test_evidence_sealed_for_its_scope_is_nowhere_in_the_database_nor_the_history(on_disk, tmp_path):
    client, db, queue = on_disk
    slug = f"sealed-{uuid.uuid4().hex[:8]}"
    await open_case(client, queue, tmp_path, slug, indexed=True)
    secret = f"BC client list: 48 police forces ({uuid.uuid4().hex[:10]})"
    purpose = f"BC PIPA s.36 ({uuid.uuid4().hex[:10]})"
    bc, opc = identity.user_for("oipc-bc"), identity.user_for("opc")

    # Recorded the ordinary way, no option: sealed for its scope (oipc-bc alone) before it leaves.
    await investigations.act(
        client, slug, action("record-evidence", by="oipc-bc", description=secret, scope=[], purpose=purpose)
    )
    await settle(client, slug)
    [item] = (await investigations.state(client, slug)).state.evidence
    assert sealed_text.recipients(item.description) == ["oipc-bc"]
    assert sealing.open_sealed(item.description, bc) == secret
    assert sealing.open_sealed(item.description, opc) is None

    # 0 hits for its text in the database file and the histories; its purpose, metadata in clear, is there:
    # the grep finds what is not sealed.
    assert database(db).count(secret.encode()) == 0
    assert (await histories(client, slug)).count(secret.encode()) == 0
    assert purpose.encode() in database(db) and purpose.encode() in await histories(client, slug)
    full = await investigations.state(client, slug)
    events = await investigations.events(client, slug)
    assert secret not in full.model_dump_json() + events.model_dump_json()

    # As opc sees it: a marker, not the text. As oipc-bc: the text.
    as_opc = investigations.opened(await investigations.state(client, slug), opc, "opc")
    assert as_opc.state.evidence[0].description == "[sealed for oipc-bc; not readable with opc's key]"
    as_bc = investigations.opened(await investigations.state(client, slug), bc, "oipc-bc")
    assert as_bc.state.evidence[0].description == secret

    # Shared with opc: oipc-bc's user re-seals the content key for opc's key (by default); the content is the
    # same ciphertext, and still nowhere in clear.
    with pytest.raises(investigations.CannotReseal, match="a user of its holder, oipc-bc, shares it"):
        await investigations.act(
            client,
            slug,
            action("share-evidence", by="oipc-bc", evidence_id=item.evidence_id, shared_with=["opc"], purpose="p"),
            signer=identity.generate(f"new-bc-{slug}", "oipc-bc"),
        )
    await investigations.act(
        client,
        slug,
        action("share-evidence", by="oipc-bc", evidence_id=item.evidence_id, shared_with=["opc"], purpose="joint"),
    )
    await settle(client, slug)
    [shared] = (await investigations.state(client, slug)).state.evidence
    assert sealed_text.same_content(shared.description, item.description)
    assert sealing.open_sealed(shared.description, opc) == secret
    assert sealing.open_sealed(shared.description, identity.user_for("cai-qc")) is None
    assert database(db).count(secret.encode()) == 0
    assert (await histories(client, slug)).count(secret.encode()) == 0


@pytest.mark.parametrize(
    ("name", "fields", "field"),
    [
        ("record-evidence", {"by": "opc", "description": "clear text", "purpose": "p"}, "description"),
        ("message", {"by": "opc", "to": ["cai-qc"], "subject": "s", "text": "clear text"}, "text"),
    ],
)
async def test_content_that_arrives_in_clear_is_refused_naming_the_field(on_disk, tmp_path, name, fields, field):
    """What the stock CLI could send with a valid signature and the content in clear: refused, no event."""
    client, _, queue = on_disk
    slug = f"clear-{uuid.uuid4().hex[:8]}"
    await open_case(client, queue, tmp_path, slug, indexed=True)
    parsed = action(name, **fields)
    opc = identity.user_for("opc")
    message = await refused(client, slug, name, investigations.signed_payload(slug, parsed, str(uuid.uuid4()), opc))
    assert message.startswith(f"{name}: {field}: content between authorities arrives sealed for opc"), message

    # Sealed for fewer parties than it goes to: refused, naming who is missing.
    if name == "message":
        wide = action(name, **{**fields, "to": ["cai-qc", "oipc-bc"]})
        narrow = sealing.seal("t", ["opc", "cai-qc"], investigations._keyring())
        payload = investigations.signed_payload(slug, wide.model_copy(update={"text": narrow}), str(uuid.uuid4()), opc)
        assert (await refused(client, slug, name, payload)).endswith("not for oipc-bc")


async def test_a_message_is_sealed_for_its_sender_and_addressees_and_its_notice_holds_no_text(on_disk, tmp_path):
    client, db, queue = on_disk
    slug = f"message-{uuid.uuid4().hex[:8]}"
    await open_case(client, queue, tmp_path, slug, indexed=True)
    text = f"We aim to circulate the draft in January ({uuid.uuid4().hex[:10]})"
    await investigations.act(client, slug, action("message", by="opc", to=["cai-qc"], subject="Timing", text=text))
    await settle(client, slug)
    [sent] = [e for e in (await investigations.events(client, slug)).events if e.type == "MessageSent"]
    assert sealed_text.recipients(sent.text) == ["cai-qc", "opc"]
    assert investigations.open_text(sent.text, identity.user_for("cai-qc"), "cai-qc") == text
    assert investigations.open_text(sent.text, identity.user_for("oipc-bc"), "oipc-bc") == (
        "[sealed for cai-qc, opc; not readable with oipc-bc's key]"
    )
    served = [e for e in (await investigations.events(client, slug)).events if e.type == "NoticeServed"]
    [notice_id] = [e.notice_id for e in served if e.kind == "message"]
    notice = codec.read_file(settings.outbox_dir() / "cai-qc" / f"{notice_id}.md").decode()
    assert text not in notice and "sealed for cai-qc, opc" in notice
    assert database(db).count(text.encode()) == 0 and (await histories(client, slug)).count(text.encode()) == 0


async def test_enforce_sign_seals_and_show_and_timeline_open_only_with_the_partys_key(cli_env, dev_env, tmp_path):
    client, slug = dev_env.client, f"signed-{uuid.uuid4().hex[:8]}"
    await open_case(client, settings.TASK_QUEUE, tmp_path, slug, indexed=True)
    secret = f"Crawler logs [bold]of the index[/] ({uuid.uuid4().hex[:10]})"

    # The stock CLI path: `enforce sign` seals the description, and the record takes it as it is.
    signed = await enforce(
        cli_env, "sign", slug, "record-evidence", "--as", "oipc-bc", "-f", f"description={secret}", "-f", "purpose=p"
    )
    assert signed.returncode == 0, signed.stderr
    payload = json.loads(signed.stdout)
    assert sealed_text.recipients(payload["description"]) == ["oipc-bc"] and secret not in signed.stdout
    await client.get_workflow_handle(workflow_id(slug)).execute_update("record-evidence", payload, id="sign-1")
    await settle(client, slug)

    # `--seal` is still accepted, and changes nothing.
    acted = await enforce(
        cli_env, "act", slug, "record-evidence", "--as", "opc", "--seal", "-f", "description=opc's", "-f", "purpose=p"
    )
    assert acted.returncode == 0, acted.stderr

    as_bc = await enforce({**cli_env, "COLUMNS": "400"}, "show", slug, "--as", "oipc-bc")
    assert as_bc.returncode == 0, as_bc.stderr
    assert secret in as_bc.stdout  # shown as text: the markup in it printed, not read
    as_opc = await enforce(cli_env, "show", slug, "--as", "opc", "-o", "json")
    assert as_opc.returncode == 0 and secret not in as_opc.stdout
    assert "opc's" in as_opc.stdout  # its own evidence, opened with its own key

    lines = await enforce(cli_env, "timeline", slug, "--as", "opc")
    assert lines.returncode == 0, lines.stderr
    assert secret not in lines.stdout
    assert "[sealed for oipc-bc; not readable with opc's key]" not in lines.stdout  # not visible to opc at all
    mine = await enforce(cli_env, "timeline", slug, "--as", "oipc-bc")
    assert secret in mine.stdout, mine.stdout
    anyone = await enforce(cli_env, "timeline", slug)
    assert secret not in anyone.stdout and "[sealed for oipc-bc]" in anyone.stdout

    # Shared with opc by oipc-bc's user through the CLI: opc's key opens it.
    shared = await enforce(
        cli_env, "act", slug, "share-evidence", "--as", "oipc-bc", "-f", "evidence_id=E-1", "-f", 'shared_with=["opc"]',
        "-f", "purpose=joint",
    )  # fmt: skip
    assert shared.returncode == 0, shared.stderr
    again = await enforce(cli_env, "show", slug, "--as", "opc", "-o", "json")
    assert secret in json.loads(again.stdout)["state"]["evidence"][0]["description"]

    # Sharing sealed evidence without its re-seal (the stock CLI, by hand): refused, naming the field.
    raw = investigations.signed_payload(
        slug,
        action("share-evidence", by="oipc-bc", evidence_id="E-1", shared_with=["cai-qc"], purpose="p"),
        str(uuid.uuid4()),
        identity.user_for("oipc-bc"),
    )
    assert (await refused(client, slug, "share-evidence", raw)).startswith(
        "share-evidence: sealed: evidence E-1 is sealed"
    )
    # A scope that names no authority of the case: the record refuses it for that, before any sealing.
    with pytest.raises(Rejected, match="scope: 'ftc' is not an authority of this case"):
        bad = action("record-evidence", by="opc", description="d", purpose="p", scope=["ftc"])
        await investigations.act(client, slug, bad)


async def test_the_gdpr_simulation_seals_its_mutual_assistance_and_still_reaches_its_final_decision(tmp_path):
    """The shipped GDPR case, simulated with the simulation's own keys: each request for mutual assistance and
    the reply to it are sealed for the authorities they are between, and nothing else is."""
    from tests.casefiles import ROOT, simulate_text

    text = (ROOT / "cases" / "lumen-social.toml").read_text()
    result = await simulate_text(text, tmp_path)
    assert result.stage == "closed"
    steps = {(e.step, e.subject): e for e in result.events if e.type == "StepRecorded"}
    assert sealed_text.recipients(steps["request-mutual-assistance", "MA-1"].summary) == ["cnil-fr", "dpc-ie"]
    assert sealed_text.recipients(steps["request-mutual-assistance", "MA-2"].summary) == ["dpc-ie", "garante-it"]
    assert sealed_text.recipients(steps["provide-mutual-assistance", "MA-1"].summary) == ["cnil-fr", "dpc-ie"]
    others = [e for (step, _), e in steps.items() if "mutual-assistance" not in step and e.summary]
    assert others and not any(sealed_text.is_sealed(e.summary) for e in others)
    assert "Whether Lumen Social has stopped profiling" not in result.model_dump_json()

    # The report, which no key reads, names whom they are sealed for and prints no envelope.
    from datetime import date

    from domain.procedure import load_procedure
    from enforce.paperwork import render_report

    for fmt in ("md", "html"):
        report = render_report(result.state, result.events, load_procedure("eu-gdpr", on=date(2025, 9, 1)), fmt)
        assert "sealed:1:" not in report and "sealed for cnil-fr, dpc-ie" in report, fmt
