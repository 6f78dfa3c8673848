"""Client-side operations on investigations, shared by the CLI and the tests."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain import sealed as sealed_text
from domain.actions import CASE, Action, ExtendDeadline, RecordEvidence, ShareEvidence, is_deadline_id, resolve_deadline
from domain.case import RESPONDENT, CaseFile
from domain.errors import Rejected
from domain.procedure import Procedure
from domain.signing import FIELD as SIGNATURE
from enforce import identity, sealing, settings
from workflows import keyring as workflow_keyring
from workflows import search_attributes as sa
from workflows.details import static_details, static_summary
from workflows.investigation import InvestigationWorkflow
from workflows.messages import (
    ActResult,
    EventsQuery,
    EventsView,
    InvestigationInput,
    QuietQuery,
    QuietView,
    StateQuery,
    StateView,
    track_id,
    workflow_id,
)


def initial_search_attributes(case: CaseFile) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair] = [
        SearchAttributePair(sa.INVESTIGATION_STAGE, "opened"),
        SearchAttributePair(sa.PROCEDURE, case.procedure),
        SearchAttributePair(sa.LEAD_AUTHORITY, case.lead),
        SearchAttributePair(sa.AUTHORITIES, case.authorities),
        SearchAttributePair(sa.AWAITING_PARTY, case.lead),
    ]
    # No case content here: a search attribute is indexed in clear (workflows/search_attributes.py).
    return TypedSearchAttributes(pairs)


async def start(
    client: Client,
    case: CaseFile,
    procedure: Procedure,
    *,
    task_queue: str = settings.TASK_QUEUE,
    indexed: bool = True,
) -> WorkflowHandle:
    """Start `investigation-<slug>`. Raises WorkflowAlreadyStartedError when that id exists, open or closed.

    `indexed=False` starts it without search attributes, for the time-skipping test server, which knows none.
    """
    return await client.start_workflow(
        InvestigationWorkflow.run,
        InvestigationInput(case=case, procedure=procedure),
        id=workflow_id(case.slug),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        # A business key names one case for good: a closed case is not reopened under the same slug.
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=initial_search_attributes(case) if indexed else None,
        static_summary=static_summary(case, procedure),
        static_details=static_details(case, procedure),
    )


async def state(client: Client, slug: str, as_party: str | None = None) -> StateView:
    handle = client.get_workflow_handle(workflow_id(slug))
    return await handle.query("state", StateQuery(as_party=as_party), result_type=StateView)


async def events(
    client: Client, slug: str, after: int = 0, as_party: str | None = None, record: str | None = None
) -> EventsView:
    """The events of the joint record, or of `record` (a track's workflow id)."""
    handle = client.get_workflow_handle(record or workflow_id(slug))
    return await handle.query("events", EventsQuery(after=after, as_party=as_party), result_type=EventsView)


def record_of(slug: str, action: Action) -> str:
    """The workflow that keeps the record an action belongs to: the joint one or an authority's track."""
    owner = action.record_owner()
    return workflow_id(slug) if owner == CASE else track_id(slug, owner)


class Pending(Exception):
    """No outcome within the wait: the action may still be recorded (a worker picks it up later)."""

    def __init__(self, request_id: str, accepted: bool):
        self.request_id, self.accepted = request_id, accepted
        super().__init__(f"request {request_id} {'accepted, not yet completed' if accepted else 'not yet accepted'}")


async def _by_id(client: Client, slug: str, action: ExtendDeadline) -> ExtendDeadline:
    """A clock named by rule and authority, resolved to its id against the joint record, which sees every
    track's clocks and so knows which workflow keeps it. Unresolved here (a track's clock not yet reported),
    the action goes to the authority's track as named, which resolves it against its own clocks or refuses."""
    view = await state(client, slug)
    try:
        d = resolve_deadline(view.state, action.deadline, action.authority)
    except Rejected:
        return action
    return action.model_copy(update={"deadline": d.deadline_id, "authority": ""})


class NoUser(Exception):
    """No user of this machine may sign this act: one line saying how to get a key."""


async def signer_for(client: Client, slug: str, action: Action, user: str | None = None) -> identity.User:
    """The local user who signs `action`: the one named, else this machine's user for the acting party. For
    the respondent: its representative for this case, else an officer of the authority receiving the act (the
    track's authority, or for a joint act the lead), and the record says which signed."""
    by = action.by
    found = identity.user_for(by, case=slug, user=user)
    if found is None and user is None and by == RESPONDENT:
        receiving = action.target() if action.runs_in == "track" else (await state(client, slug)).state.lead
        found = identity.user_for(receiving)
    if found is None:
        who = f"user {user!r}" if user else f"a user for {by!r}"
        raise NoUser(
            f"no key of {who} in {identity.user_keys_dir()}: make one with "
            f"`enforce keys new --party {by} --user <id>` and add its line to the keyring"
        )
    return found


def signed_payload(slug: str, action: Action, request_id: str, user: identity.User) -> dict:
    """The action's fields (their JSON form) with the user's signature over them, as the update takes them."""
    fields = action.model_dump(mode="json")
    signed = user.sign_act(case=slug, action=action.name, fields=fields, request_id=request_id)
    return {**fields, SIGNATURE: signed.model_dump(mode="json")}


def _keyring() -> list:
    """The public keys to seal for: the keyring file's, and any this process made for itself."""
    path = identity.keyring_file()
    return [*(identity.read_keyring(path) if path.exists() else []), *workflow_keyring.entries()]


async def _sealed(client: Client, slug: str, action: Action, signer: identity.User, seal: bool) -> Action:
    """Evidence sealed on this machine: `seal` seals a record-evidence's description for its holder and scope;
    sharing sealed evidence re-seals it for those it is shared with (by the holder's user, whose key opens it)."""
    if isinstance(action, RecordEvidence) and seal and not sealed_text.is_sealed(action.description):
        scope = list(action.scope)
        if "all" in scope:
            scope = [a for a in (await state(client, slug)).state.authorities if a != action.by]
        text = sealing.seal(action.description, dict.fromkeys([action.by, *scope]), _keyring())
        return action.model_copy(update={"description": text})
    if isinstance(action, ShareEvidence) and not action.sealed:
        view = await state(client, slug)
        item = next((x for x in view.state.evidence if x.evidence_id == action.evidence_id), None)
        if item is not None and sealed_text.is_sealed(item.description):
            to = view.state.authorities if "all" in action.shared_with else action.shared_with
            again = sealing.reseal(item.description, signer, [a for a in to if a != action.by], _keyring())
            if again is not None:
                return action.model_copy(update={"sealed": again})
    return action


def opened(view: StateView, user: identity.User | None) -> StateView:
    """The view with the sealed evidence `user`'s own key opens shown in clear; the rest stays sealed."""
    evidence = []
    for x in view.state.evidence:
        if sealed_text.is_sealed(x.description):
            text = sealing.open_sealed(x.description, user) if user else None
            shown = text if text is not None else f"(sealed for {', '.join(sealed_text.recipients(x.description))})"
            x = x.model_copy(update={"description": shown})
        evidence.append(x)
    return view.model_copy(update={"state": view.state.model_copy(update={"evidence": evidence})})


async def act(
    client: Client,
    slug: str,
    action: Action,
    *,
    request_id: str | None = None,
    wait: float | None = None,
    signer: identity.User | None = None,
    seal: bool = False,
) -> ActResult:
    """Perform an action, signed by `signer` (default: this machine's user for the acting party); a rejection
    (signature, stage, actor, payload) raises `Rejected` with the workflow's reason.

    `request_id` is the update's id, and signed with the act: Temporal records an update id once per run, so a
    retry with the same id returns the first call's result and records nothing new. With `wait` (seconds), no
    outcome by then raises `Pending` instead of waiting on for a worker."""
    if isinstance(action, ExtendDeadline) and not is_deadline_id(action.deadline):
        action = await _by_id(client, slug, action)
    target = record_of(slug, action)
    handle = client.get_workflow_handle(target)
    request_id = request_id or str(uuid.uuid4())
    try:
        signer = signer or await signer_for(client, slug, action)
        action = await _sealed(client, slug, action, signer, seal)
        payload = signed_payload(slug, action, request_id, signer)
        if wait is None:
            return await handle.execute_update(action.name, payload, id=request_id, result_type=ActResult)
        return await _bounded(handle, action.name, payload, request_id, wait)
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        raise Rejected(cause.message if isinstance(cause, ApplicationError) else str(cause or e)) from None
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND or target == workflow_id(slug):
            raise
        # The case exists but has no such track: the actor or `authority` names no authority of it.
        await client.get_workflow_handle(workflow_id(slug)).describe()
        raise Rejected(f"{action.record_owner()!r} is not an authority of case {slug}") from None


async def _bounded(handle: WorkflowHandle, name: str, payload: dict, request_id: str, wait: float) -> ActResult:
    """Accepted (validated and in the record's history), then completed, both within `wait` seconds."""
    loop = asyncio.get_running_loop()
    until = loop.time() + wait
    try:
        update = await asyncio.wait_for(
            handle.start_update(
                name,
                payload,
                id=request_id,
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                result_type=ActResult,
                rpc_timeout=timedelta(seconds=wait),
            ),
            wait,
        )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise Pending(request_id, accepted=False) from None
    left = max(until - loop.time(), 0.5)
    try:
        return await asyncio.wait_for(update.result(rpc_timeout=timedelta(seconds=left)), left)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise Pending(request_id, accepted=True) from None


async def track_states(client: Client, slug: str, authorities: list[str]) -> dict[str, StateView]:
    out = {}
    for aid in authorities:
        handle = client.get_workflow_handle(track_id(slug, aid))
        out[aid] = await handle.query("state", StateQuery(), result_type=StateView)
    return out


async def quiet(client: Client, record: str) -> QuietView | None:
    """Wait until the workflow `record` (a workflow id) is idle and return what it says (workflows/record.py
    `quiet`). Asked first by the query, which costs no history and answers for a completed record too (idle for
    good); the update, which waits, only when the record is busy. None: no such workflow yet."""
    handle = client.get_workflow_handle(record)
    try:
        view = await handle.query("quiet", QuietQuery(), result_type=QuietView)
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
        return None
    if view.idle:
        return view
    try:
        return await handle.execute_update("quiet", QuietQuery(), result_type=QuietView)
    except (RPCError, WorkflowUpdateFailedError) as e:
        if isinstance(e, RPCError) and e.status != RPCStatusCode.NOT_FOUND:
            raise
    # Completed while the update was on its way: the query answers for it now.
    return await handle.query("quiet", QuietQuery(), result_type=QuietView)
