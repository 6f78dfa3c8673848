"""Client-side operations on investigations, shared by the CLI and the tests.

The workflow's own module (and with it the activities', the templates'), the signing and the sealing are
imported by the operations that use them: `enforce show` reads a state, and needs none of them.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

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
from domain.actions import (
    CASE,
    Action,
    ExtendDeadline,
    ProcedureStep,
    RecordEvidence,
    SendMessage,
    ShareEvidence,
    content_of,
    is_deadline_id,
    resolve_deadline,
)
from domain.case import RESPONDENT, CaseFile
from domain.errors import Rejected
from enforce import settings
from workflows import search_attributes as sa
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

if TYPE_CHECKING:
    from domain.procedure import Procedure
    from enforce import identity


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
    from workflows.details import static_details, static_summary
    from workflows.investigation import InvestigationWorkflow

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
    from enforce import identity

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
    from domain.signing import FIELD as SIGNATURE

    fields = action.model_dump(mode="json")
    signed = user.sign_act(case=slug, action=action.name, fields=fields, request_id=request_id)
    return {**fields, SIGNATURE: signed.model_dump(mode="json")}


def _keyring(signer: identity.User | None = None) -> list:
    """The public keys to seal for: the keyring file's, any this process made for itself, and the signer's own
    (the sender always reads what it sent, whatever keyring this machine was given)."""
    from enforce import identity
    from workflows import keyring as workflow_keyring

    path = identity.keyring_file()
    own = [signer.entry()] if signer is not None else []
    return [*(identity.read_keyring(path) if path.exists() else []), *workflow_keyring.entries(), *own]


def may_seal(action: Action) -> bool:
    """Whether `sealed` may change `action`: it can carry content between authorities, or share evidence."""
    return isinstance(action, RecordEvidence | SendMessage | ProcedureStep | ShareEvidence)


class CannotReseal(Exception):
    """Sealed evidence shared by a user whose key does not open it: one line saying whose user can."""


async def sealed(client: Client, slug: str, action: Action, signer: identity.User) -> Action:
    """The action with its content between authorities (`domain.actions.content_of`) sealed on this machine for
    the parties it goes to and its sender; sharing sealed evidence re-seals its content key for those it is
    shared with, by the holder's user (whose key opens it). Anything else comes back as it is; so does an
    action whose parties the case lacks (the record refuses it, naming the field)."""
    from enforce import sealing

    if not may_seal(action):
        return action
    view = (await state(client, slug)).state
    if isinstance(action, ShareEvidence):
        if view.evidence_item(action.evidence_id) is None and not action.sealed:
            # An older item, no longer in the live state in full: its envelope is the record's.
            from enforce import record

            found = await record.read(client, slug)
            view = view.model_copy(update={"evidence": record.evidence_register(found.events)})
        return _resealed(view, action, signer)
    try:
        found = content_of(action, view)
    except Rejected:
        return action
    if found is None:
        return action
    field, parties = found
    text = getattr(action, field)
    if sealed_text.is_sealed(text):
        return action  # sealed by the caller already; the record checks whom for
    return action.model_copy(update={field: sealing.seal(text, dict.fromkeys(parties), _keyring(signer))})


def _resealed(view, action: ShareEvidence, signer: identity.User) -> ShareEvidence:
    from enforce import sealing

    item = next((x for x in view.evidence if x.evidence_id == action.evidence_id), None)
    if action.sealed or item is None or item.authority != action.by or not sealed_text.is_sealed(item.description):
        return action  # nothing to re-seal, or not the holder's to share: the record says why
    to = [a for a in view.authorities if a != action.by] if "all" in action.shared_with else action.shared_with
    again = sealing.reseal(item.description, signer, [a for a in to if a != action.by], _keyring(signer))
    if again is None:
        raise CannotReseal(
            f"evidence {action.evidence_id} is sealed and {signer.user}'s key does not open it: a user of its "
            f"holder, {item.authority}, shares it (re-sealing it for {', '.join(to)})"
        )
    return action.model_copy(update={"sealed": again})


def open_text(text: str, user: identity.User | None, reader: str | None) -> str:
    """`text` as `reader` sees it here: in clear if it is not sealed or `user`'s own key opens it, else a marker
    saying whom it is sealed for."""
    if not sealed_text.is_sealed(text):
        return text
    from enforce import sealing

    opened_text = sealing.open_sealed(text, user) if user else None
    return opened_text if opened_text is not None else sealed_text.marker(text, reader)


# The event fields that may hold content sealed between authorities (domain.actions.content_of), by event type.
CONTENT_FIELDS = {"EvidenceRecorded": "description", "MessageSent": "text", "StepRecorded": "summary"}


def sealed_content(e) -> str | None:
    """The sealed content an event carries (its envelope), or None."""
    text = getattr(e, CONTENT_FIELDS.get(e.type, ""), None)
    return text if isinstance(text, str) and sealed_text.is_sealed(text) else None


def opened(view: StateView, user: identity.User | None, reader: str | None = None) -> StateView:
    """The view with the sealed content (evidence, steps' summaries) `user`'s own key opens shown in clear; the
    rest as a marker."""
    evidence = [
        x.model_copy(update={"description": open_text(x.description, user, reader)}) for x in view.state.evidence
    ]
    steps = [x.model_copy(update={"summary": open_text(x.summary, user, reader)}) for x in view.state.steps]
    return view.model_copy(update={"state": view.state.model_copy(update={"evidence": evidence, "steps": steps})})


async def act(
    client: Client,
    slug: str,
    action: Action,
    *,
    request_id: str | None = None,
    wait: float | None = None,
    signer: identity.User | None = None,
) -> ActResult:
    """Perform an action, signed by `signer` (default: this machine's user for the acting party), its content
    between authorities sealed for them (`sealed`); a rejection (signature, stage, actor, payload, content in
    clear) raises `Rejected` with the workflow's reason.

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
        action = await sealed(client, slug, action, signer)
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


QUIET_ATTEMPTS = 10  # asks of one record's `quiet` whose workflow task did not complete (~4.5 s in all)


async def quiet(client: Client, record: str) -> QuietView | None:
    """Wait until the workflow `record` (a workflow id) is idle and return what it says (workflows/record.py
    `quiet`). Asked first by the query, which costs no history and answers for a completed record too (idle for
    good); the update, which waits, only when the record is busy. None: no such workflow yet."""
    handle = client.get_workflow_handle(record)
    for attempt in itertools.count(1):
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
            refused = isinstance(e, RPCError) and e.status == RPCStatusCode.FAILED_PRECONDITION
            if refused and attempt < QUIET_ATTEMPTS:
                # "Unable to perform workflow execution update due to unexpected workflow task failure": the
                # workflow task the update reached failed and is retried by the server (seen once, on a slow
                # machine, as a run continued as new). The record is not quiet yet: ask it again.
                await asyncio.sleep(0.1 * attempt)
                continue
            if isinstance(e, RPCError) and e.status != RPCStatusCode.NOT_FOUND:
                raise
        # Completed while the update was on its way: the query answers for it now.
        return await handle.query("quiet", QuietQuery(), result_type=QuietView)
