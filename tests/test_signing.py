"""Every act signed, on a real dev server: only an act well signed by a user whose party may take it is
recorded; unsigned, tampered, forged, unknown, revoked and replayed ones are refused in one line and leave no
event. An export verified against the keyring passes; a forged `by`, a swapped signature or a removed event
fails, naming its line."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain.actions import ACTIONS, parse_action
from domain.case import RESPONDENT
from domain.chain import export_lines
from domain.signing import KeyEntry
from enforce import identity, investigations, sealing, settings
from tests.conftest import OUTSIDER
from tests.live import enforce, open_case, settle
from workflows.messages import workflow_id

pytestmark = pytest.mark.timeout(300)

# Fields that parse for each action of the vocabulary, whatever the stage makes of them.
FIELDS: dict[str, dict] = {
    "request-information": {"items": ["the list of clients"]},
    "provide-information": {"request_id": "RFI-1"},
    "record-evidence": {"description": "scraped images", "purpose": "this investigation"},
    "share-evidence": {"evidence_id": "E-1", "shared_with": ["opc"], "purpose": "this investigation"},
    "message": {"to": ["opc"], "subject": "s", "text": "t"},
    "record-voluntary-measure": {"description": "stopped offering the service"},
    "issue-preliminary-report": {"summary": "s"},
    "submit-representations": {"summary": "s"},
    "draft-findings": {"finding": "well-founded", "summary": "s"},
    "issue-recommendations": {"recommendations": [{"id": "R1", "text": "Stop."}]},
    "answer-recommendations": {"answers": {"R1": "refused"}},
    "verify-recommendation": {"recommendation": "R1"},
    "extend-deadline": {"deadline": "D-1", "reason": "r", "notified": ["respondent"]},
    "concur": {},
    "dissent": {"finding": "not-well-founded", "reasons": "r"},
    "comment-on-findings": {"comments": "c"},
    "open-inquiry": {},
    "issue-order": {"order": "P1"},
    "file-judicial-review": {"authority": "oipc-bc", "court": "a court"},
    "file-appeal": {"authority": "oipc-bc", "court": "a court"},
    "record-stay": {"court": "a court"},
    "record-court-decision": {"outcome": "upheld"},
    "apply-to-court": {},
    "sign-compliance-agreement": {"terms": "t"},
    "verify-compliance": {},
    "find-non-compliance": {"reason": "r"},
    "close-track": {"outcome": "closed"},
    # A step of a procedure of its own steps (eu-gdpr); this Canadian case has none, so it is refused for that.
    "step": {"step": "circulate-draft-decision"},
}
SIGNATURE_WORDS = ("signed", "signature", "keyring", "key ", "acts for", "replay")


def test_every_action_of_the_vocabulary_has_fields_here():
    assert sorted(FIELDS) == sorted(ACTIONS)


def allowed_party(name: str) -> str:
    """A party that may take the act (as far as who signs goes)."""
    cls = ACTIONS[name]
    if "respondent" in cls.actors and "authority" not in cls.actors:
        return RESPONDENT
    if cls.runs_in == "track" and "co-authority" in cls.actors:
        return "oipc-bc"
    return "opc" if cls.runs_in == "case" else "oipc-bc"


class Case:
    def __init__(self, client, slug: str, representative: identity.User, revoked: dict, stranger: dict):
        self.client, self.slug = client, slug
        self.representative, self.revoked, self.stranger = representative, revoked, stranger

    def user(self, party: str) -> identity.User:
        found = self.representative if party == RESPONDENT else identity.user_for(party)
        assert found is not None, party
        return found

    def action(self, name: str, by: str):
        """The act, its content between authorities sealed for them as `enforce act` seals it."""
        parsed = parse_action(name, {"by": by, **FIELDS[name]})
        field = {"record-evidence": "description", "message": "text"}.get(name)
        if field is None:
            return parsed
        parties = dict.fromkeys([by, *getattr(parsed, "scope", []), *getattr(parsed, "to", [])])
        return parsed.model_copy(
            update={field: sealing.seal(getattr(parsed, field), parties, investigations._keyring())}
        )

    def payload(self, name: str, by: str, user: identity.User, request_id: str | None = None) -> tuple[str, dict]:
        rid = request_id or f"r-{uuid.uuid4().hex[:12]}"
        return rid, investigations.signed_payload(self.slug, self.action(name, by), rid, user)

    async def send(self, name: str, by: str, payload: dict, update_id: str | None = None):
        target = investigations.record_of(self.slug, self.action(name, by))
        handle = self.client.get_workflow_handle(target)
        return await handle.execute_update(name, payload, id=update_id or f"u-{uuid.uuid4().hex[:12]}")

    async def events(self) -> list[dict]:
        out = []
        for wid in [workflow_id(self.slug)] + [f"{workflow_id(self.slug)}.{a}" for a in ("opc", "oipc-bc")]:
            view = await investigations.events(self.client, self.slug, record=wid)
            out += [e.model_dump(mode="json") for e in view.events]
        return out

    async def refused(self, name: str, by: str, payload: dict, expect: str, update_id: str | None = None) -> str:
        before = await self.events()
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await self.send(name, by, payload, update_id)
        message = str(caught.value.cause.message)
        assert expect in message, message
        assert "\n" not in message
        assert await self.events() == before, f"{name}: a refused act left an event"
        return message


@pytest.fixture(scope="module")
async def case(cli_env, dev_env, tmp_path_factory) -> Case:
    """The Clearview case on the dev server, a representative of its respondent, and for opc and oipc-bc a user
    whose key was revoked yesterday and one the keyring never heard of."""
    slug = f"signed-{uuid.uuid4().hex[:8]}"
    await open_case(dev_env.client, settings.TASK_QUEUE, tmp_path_factory.mktemp("case"), slug, indexed=True)
    folder = tmp_path_factory.mktemp("users")
    representative = identity.generate(f"rep-{slug}", RESPONDENT, slug)
    revoked = {p: identity.generate(f"gone-{p}-{slug}", p) for p in ("opc", "oipc-bc")}
    stranger = {p: identity.generate(f"stranger-{p}-{slug}", p) for p in ("opc", "oipc-bc")}
    for u in (representative, *revoked.values(), *stranger.values()):
        identity.save(u, folder)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    gone = [
        u.entry(valid_from=yesterday - timedelta(days=30)).model_copy(update={"until": yesterday})
        for u in revoked.values()
    ]
    identity.append_keyring([representative.entry(), *gone])
    identity.install()
    return Case(dev_env.client, slug, representative, revoked, stranger)


@pytest.mark.parametrize("name", list(ACTIONS))
async def test_an_act_is_recorded_only_when_well_signed_by_a_party_that_may(case: Case, name: str):
    by = allowed_party(name)
    user = case.user(by)
    await settle(case.client, case.slug)  # nothing of the act before still in flight

    # Unsigned: the fields alone, as anyone with network access could send them.
    fields = case.action(name, by).model_dump(mode="json")
    await case.refused(name, by, fields, "unsigned")

    # Signed by a user of another party: for an authority, another authority; for the respondent, an
    # authority that is no party to the case.
    other = identity.user_for(OUTSIDER if by == RESPONDENT else ("cai-qc" if by != "cai-qc" else "opc"))
    _, wrong = case.payload(name, by, other)
    await case.refused(name, by, wrong, "acts for")

    # Tampered after signing: a field changed, or another act's signature put on this one.
    _, good = case.payload(name, by, user)
    tampered = {**good, "by": "oipc-ab" if by != "oipc-ab" else "opc"}
    await case.refused(name, tampered["by"], tampered, "signed as by")
    _, other_act = case.payload(name, by, user)
    swapped = {**good, "signature": {**good["signature"], "sig": other_act["signature"]["sig"]}}
    await case.refused(name, by, swapped, "does not verify")

    if by != RESPONDENT:
        # A key the keyring never listed, and one revoked yesterday.
        _, unknown = case.payload(name, by, case.stranger[by])
        await case.refused(name, by, unknown, "is not in the keyring")
        _, revoked = case.payload(name, by, case.revoked[by])
        await case.refused(name, by, revoked, "is not valid")

    # Well signed by a user of a party that may: recorded, or refused for what the case allows now, never for
    # who signed it.
    before = await case.events()
    try:
        await case.send(name, by, good)
    except WorkflowUpdateFailedError as e:
        message = str(e.cause.message)
        assert not any(w in message for w in SIGNATURE_WORDS), message
        assert await case.events() == before
        return
    new = [e for e in await case.events() if e not in before]
    signed = [e for e in new if e.get("signed")]
    assert signed, f"{name}: recorded without its signature"
    assert all(
        e["signed"]["user"] == user.user and e["signed"]["request_id"] == good["signature"]["request_id"]
        for e in signed
    )

    # The same signed act again, under a new update id: a replay, refused.
    await settle(case.client, case.slug)
    await case.refused(name, by, good, "a replay")


async def test_the_respondent_acts_by_its_representative_or_an_officer_and_the_record_says_which(case: Case):
    await investigations.act(case.client, case.slug, case.action("request-information", "opc"), signer=case.user("opc"))
    await investigations.act(
        case.client,
        case.slug,
        parse_action("provide-information", {"by": RESPONDENT, "request_id": _open_request(await case.events())}),
        signer=case.representative,
    )
    await investigations.act(case.client, case.slug, case.action("request-information", "opc"), signer=case.user("opc"))
    await investigations.act(
        case.client,
        case.slug,
        parse_action("provide-information", {"by": RESPONDENT, "request_id": _open_request(await case.events())}),
        signer=case.user("opc"),
    )
    provided = [e for e in await case.events() if e["type"] == "InformationProvided"][-2:]
    assert [(e["by"], e["signed"]["party"]) for e in provided] == [(RESPONDENT, RESPONDENT), (RESPONDENT, "opc")]


def _open_request(events: list[dict]) -> str:
    asked = [e["request_id"] for e in events if e["type"] == "InformationRequested"]
    answered = {e["request_id"] for e in events if e["type"] == "InformationProvided"}
    return [r for r in asked if r not in answered][-1]


async def test_a_retry_under_the_same_request_id_records_nothing_new(case: Case):
    rid, payload = case.payload("record-evidence", "opc", case.user("opc"))
    first = await case.send("record-evidence", "opc", payload, update_id=rid)
    before = await case.events()
    again = await case.send("record-evidence", "opc", payload, update_id=rid)
    assert again == first and await case.events() == before


# ---------------------------------------------------------------- the CLI: keys, act, sign, export and verify


async def test_keys_new_keeps_the_private_keys_to_their_owner_and_prints_the_public_part(cli_env, tmp_path):
    made = await enforce(cli_env, "keys", "new", "--party", "opc", "--user", "j.doe", "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    entry = KeyEntry.model_validate_json(made.stdout.strip())
    assert (entry.user, entry.party) == ("j.doe", "opc") and entry.seal
    [path] = tmp_path.glob("*.key.json")
    assert path.stat().st_mode & 0o777 == 0o600
    assert entry.sign not in path.read_text()  # the file holds the private keys, not the printed public part
    again = await enforce(cli_env, "keys", "new", "--party", "opc", "--user", "j.doe", "--dir", str(tmp_path))
    assert again.returncode == 1 and "exists already" in again.stderr

    rep = await enforce(cli_env, "keys", "new", "--party", "respondent", "--user", "r", "--dir", str(tmp_path))
    assert rep.returncode == 2 and "--case" in rep.stderr


async def test_act_as_a_party_this_machine_holds_no_key_for_is_one_line(cli_env, case: Case, tmp_path):
    env = {**cli_env, "ENFORCE_USER_KEYS": str(tmp_path / "none")}
    result = await enforce(
        env, "act", case.slug, "record-evidence", "--as", "opc", "-f", "description=d", "-f", "purpose=p"
    )
    assert result.returncode == 1
    assert "no key of a user for 'opc'" in result.stderr and len(result.stderr.strip().splitlines()) == 1

    other = await enforce(
        cli_env,
        "act",
        case.slug,
        "record-evidence",
        "--as",
        "opc",
        "--user",
        "dev-cai-qc",
        "-f",
        "description=d",
        "-f",
        "purpose=p",
    )
    assert other.returncode == 1
    assert "'dev-cai-qc' acts for 'cai-qc', not for 'opc'" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1


def _rechained(lines: list[str], edit) -> list[str]:
    """An export edited by `edit` and its hashes recomputed: what a forger would write."""
    bodies = [{k: v for k, v in json.loads(line).items() if k not in ("prev", "hash")} for line in lines[:-1]]
    head = json.loads(lines[-1])
    bodies = edit(bodies)
    return export_lines(bodies, case=head["case"], record=head["record"], exported_at=head["exported_at"])


async def test_an_export_verifies_against_the_keyring_and_a_forgery_is_named_by_its_line(
    cli_env, case: Case, tmp_path: Path
):
    ring = os.environ["ENFORCE_KEYRING"]
    for who in ("opc", "oipc-bc"):
        acted = await enforce(
            cli_env, "act", case.slug, "record-evidence", "--as", who, "-f", "description=d", "-f", "purpose=p"
        )
        assert acted.returncode == 0, acted.stderr
    # Temporal's history names who sent each act (an unauthenticated label; the signature is what counts).
    history = (await case.client.get_workflow_handle(workflow_id(case.slug)).fetch_history()).to_json()
    assert "opc:dev-opc (enforce act) " in history and "oipc-bc:dev-oipc-bc (enforce act) " in history

    out = tmp_path / "record.jsonl"
    exported = await enforce(cli_env, "export", case.slug, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    verified = await enforce(cli_env, "verify", str(out), "--keyring", ring, "--offline")
    assert verified.returncode == 0, verified.stderr
    assert "signed acts verified" in verified.stdout

    lines = out.read_text().splitlines()
    bodies = [json.loads(line) for line in lines[:-1]]
    signed = [n for n, b in enumerate(bodies) if b.get("signed") and b["type"] == "EvidenceRecorded"]
    first, second = signed[-2], signed[-1]

    def forge_by(b):
        b[first]["by"] = "cai-qc"
        return b

    def swap(b):
        b[first]["signed"], b[second]["signed"] = b[second]["signed"], b[first]["signed"]
        return b

    def swap_sig(b):
        b[first]["signed"] = {**b[first]["signed"], "sig": b[second]["signed"]["sig"]}
        return b

    for label, edit, expect in (
        ("forged by", forge_by, "but 'dev-opc' signed as 'opc'"),
        ("swapped signatures", swap, "signed as"),
        ("swapped sig", swap_sig, "does not verify"),
    ):
        forged = tmp_path / f"{label}.jsonl"
        forged.write_text("\n".join(_rechained(lines, edit)) + "\n")
        result = await enforce(cli_env, "verify", str(forged), "--keyring", ring, "--offline")
        assert result.returncode == 1, label
        assert f"line {first + 1}:" in result.stderr and expect in result.stderr, (label, result.stderr)

    removed = tmp_path / "removed.jsonl"
    removed.write_text("\n".join(lines[:first] + lines[first + 1 :]) + "\n")
    result = await enforce(cli_env, "verify", str(removed), "--keyring", ring, "--offline")
    assert result.returncode == 1 and f"line {first + 1}" in result.stderr, result.stderr


async def test_a_key_revoked_in_the_keyring_file_is_refused_once_the_worker_reloads_it(case: Case, tmp_path):
    import asyncio

    import worker

    user = identity.generate(f"soon-gone-{case.slug}", "opc")
    identity.save(user, tmp_path)
    ring = identity.keyring_file()
    identity.append_keyring([user.entry()], ring)
    watcher = asyncio.create_task(worker.watch_keyring())  # what a worker process runs beside its workflows
    try:
        await asyncio.sleep(worker.KEYRING_POLL_S * 2)
        _, first = case.payload("record-evidence", "opc", user)
        await case.send("record-evidence", "opc", first)

        # Revoked: the user's line edited with an until date, as an operator would.
        now = datetime.now(UTC).isoformat()
        lines = ring.read_text().splitlines()
        edited = [line[:-1] + f', "until": "{now}"}}' if f'"{user.user}"' in line else line for line in lines]
        ring.write_text("\n".join(edited) + "\n")
        await asyncio.sleep(worker.KEYRING_POLL_S * 2)
        _, second = case.payload("record-evidence", "opc", user)
        await case.refused("record-evidence", "opc", second, "is not valid")
    finally:
        watcher.cancel()
        identity.install()


async def test_a_signed_record_replays_whatever_the_keyring_says_now(case: Case):
    """The handler decides from the record alone: a history of signed acts replays with an empty keyring."""
    from temporalio.worker import Replayer

    import worker
    from enforce import codec
    from workflows import keyring

    _, payload = case.payload("record-evidence", "opc", case.user("opc"))
    await case.send("record-evidence", "opc", payload)
    await settle(case.client, case.slug)
    history = await case.client.get_workflow_handle(workflow_id(case.slug)).fetch_history()
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED" in history.to_json()
    keyring.install([])
    try:
        replayed = await Replayer(workflows=worker.WORKFLOWS, data_converter=codec.data_converter()).replay_workflow(
            history, raise_on_replay_failure=False
        )
    finally:
        identity.install()
    assert replayed.replay_failure is None, replayed.replay_failure


@pytest.mark.parametrize("name", ["j.doe", "x" * 100])
def test_a_client_identity_names_user_party_and_command_in_one_bounded_line(name):
    from domain.limits import CLIENT_IDENTITY_MAX
    from enforce.connect import client_identity, worker_identity

    user = identity.generate(name, "opc")
    said = client_identity("enforce act", user)
    assert said.startswith(f"opc:{name} (enforce act) {os.getpid()}@")
    assert len(said) <= CLIENT_IDENTITY_MAX and "\n" not in said
    assert worker_identity().startswith("enforce worker ") and f"{os.getpid()}@" in worker_identity()
