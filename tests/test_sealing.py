"""Evidence sealed for its scope, on a real dev server: recorded by oipc-bc for itself, its text is nowhere in
the case's history (payloads decoded through the codec) or its queries, opc's key does not open it and
oipc-bc's does; once oipc-bc shares it with opc (re-sealing it), opc's key opens it too."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from temporalio.api.common.v1 import Payload

from domain.sealed import is_sealed
from enforce import codec, identity, investigations, sealing, settings
from tests.live import action, enforce, open_case, settle
from workflows.messages import track_id, workflow_id

pytestmark = pytest.mark.timeout(180)


async def decoded_history(client, wid: str) -> bytes:
    """Every payload of a workflow's history, decoded through the payload codec, as one blob of bytes."""
    history = json.loads((await client.get_workflow_handle(wid).fetch_history()).to_json())
    found: list[Payload] = []

    def walk(x) -> None:
        if isinstance(x, dict):
            if isinstance(x.get("metadata"), dict) and "data" in x:
                found.append(
                    Payload(
                        metadata={k: base64.b64decode(v) for k, v in x["metadata"].items()},
                        data=base64.b64decode(x.get("data", "")),
                    )
                )
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(history)
    decoded = await codec.data_converter().payload_codec.decode(found)
    return b"\n".join(p.data for p in decoded)


async def test_evidence_is_readable_only_with_a_key_it_is_sealed_for(cli_env, dev_env, tmp_path):
    client, slug = dev_env.client, f"sealed-{uuid.uuid4().hex[:8]}"
    await open_case(client, settings.TASK_QUEUE, tmp_path, slug, indexed=True)
    secret = f"BC client list: 48 police forces ({uuid.uuid4().hex[:10]})"
    bc, opc = identity.user_for("oipc-bc"), identity.user_for("opc")

    await investigations.act(
        client, slug, action("record-evidence", by="oipc-bc", description=secret, purpose="BC PIPA s.36"), seal=True
    )
    await settle(client, slug)
    [item] = (await investigations.state(client, slug)).state.evidence
    assert is_sealed(item.description)
    assert sealing.open_sealed(item.description, bc) == secret
    assert sealing.open_sealed(item.description, opc) is None

    # Nowhere in the records' histories, decoded, nor in what their queries answer.
    for wid in [workflow_id(slug)] + [track_id(slug, a) for a in ("opc", "cai-qc", "oipc-bc", "oipc-ab")]:
        assert secret.encode() not in await decoded_history(client, wid), wid
    full = await investigations.state(client, slug)
    events = await investigations.events(client, slug)
    assert secret not in full.model_dump_json() + events.model_dump_json()

    # The grep finds text that is not sealed: evidence recorded without --seal is there in the clear.
    control = f"an unsealed note ({uuid.uuid4().hex[:10]})"
    await investigations.act(client, slug, action("record-evidence", by="opc", description=control, purpose="p"))
    await settle(client, slug)
    assert control.encode() in await decoded_history(client, workflow_id(slug))

    # `enforce show --as` opens only what the party's own key opens.
    as_bc = await enforce(cli_env, "show", slug, "--as", "oipc-bc", "-o", "json")
    assert as_bc.returncode == 0, as_bc.stderr
    assert secret in as_bc.stdout
    as_opc = await enforce(cli_env, "show", slug, "--as", "opc", "-o", "json")
    assert as_opc.returncode == 0 and secret not in as_opc.stdout

    # Shared with opc: oipc-bc's user re-seals the content key for opc's; the content is unchanged.
    await investigations.act(
        client,
        slug,
        action(
            "share-evidence",
            by="oipc-bc",
            evidence_id=item.evidence_id,
            shared_with=["opc"],
            purpose="joint investigation",
        ),
    )
    await settle(client, slug)
    [shared] = [
        x for x in (await investigations.state(client, slug)).state.evidence if x.evidence_id == item.evidence_id
    ]
    assert sealing.open_sealed(shared.description, opc) == secret
    assert secret.encode() not in await decoded_history(client, workflow_id(slug))
    assert sealing.open_sealed(shared.description, identity.user_for("cai-qc")) is None
