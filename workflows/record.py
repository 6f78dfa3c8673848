"""What the joint workflow and each authority's track share: a record (the aggregate) on the case clock,
actions as updates with validators, notices served through an activity, and a durable timer per deadline.

Deterministic only: time is `workflow.now()` shifted by the case clock; every side effect is an activity.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, time, timedelta

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue, RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Pure and deterministic: shared across workflow runs instead of re-imported per run.
    from activities.notices import UNDELIVERABLE, serve_notice
    from activities.store import APPEND_RETRY, APPEND_TIMEOUT, AppendInput, StoredEvent, append_events
    from domain import events as ev
    from domain import signing
    from domain.actions import CASE, New, explain, parse_action, unsealed
    from domain.clock import CaseClock
    from domain.errors import Rejected
    from domain.events import EVENT_ADAPTER
    from domain.investigation import Investigation
    from domain.limits import (
        ACTION_BYTES_MAX,
        ID_MAX,
        NESTING_MAX,
        QUERY_BYTES_MAX,
        QUIET_WAITERS_MAX,
        SIGNAL_BYTES_MAX,
        SIGNED_IDS_KEPT,
        STATE_KEPT,
        STORE_BATCH_BYTES,
        TAIL_EVENTS,
        TAIL_KEPT,
        UPDATE_IDS_KEPT,
        depth,
    )
    from domain.notices import NoticeRequest
    from domain.policy import next_reminder, notices_for, on_missed, refuse_incoming, reminder, tracks_follow
    from domain.state import DeadlineState, Stage, compact_evidence, events_visible_to, shown, visible_to
    from workflows import keyring, keys
    from workflows import search_attributes as sa
    from workflows.details import current_details
    from workflows.messages import (
        ActResult,
        Carried,
        DoneUpdate,
        EventBatch,
        EventsQuery,
        EventsView,
        QuietQuery,
        QuietView,
        StateQuery,
        StateView,
        track_id,
        workflow_id,
    )

NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=8,
    non_retryable_error_types=[UNDELIVERABLE],
)
NOTICE_TIMEOUT = timedelta(minutes=2)
# The delivery heartbeats every 2 s: a worker silent for this long is dead, and its attempt is retried now.
NOTICE_HEARTBEAT = timedelta(seconds=10)
# A reminder goes out in the morning of its day, on the case clock.
REMINDER_HOUR = time(9, 0)
REJECTED = "Rejected"
# Batches between records carry a MAC from this patch on; histories from before it replay without.
AUTHENTICATED = "authenticated-batches"
# Acts are signed by their user from this patch on; histories from before it replay their unsigned acts.
SIGNED = "signed-acts"
# From this patch on, a record copies its events to the event store; histories from before it replay without.
EVENT_STORE = "event-store"
# A record started from this patch on refuses content between authorities (evidence, messages) that arrives
# unsealed; a record started before it goes on as it began (validators do not run on replay).
SEALED_CONTENT = "sealed-content"
# From this patch on, a record upserts only the search attributes whose value changed (one upsert command for
# those, none when nothing did), and keeps in memory only the events not yet stored and the last TAIL_KEPT.
LEAN = "lean-record"
# From this patch on, whose move it is under a procedure of its own steps, with no clock running, is who takes
# the phase's next step (the EDPB's, between a binding decision adopted and notified), not the lead. Asked only
# where the two differ, so that a record the change does not touch records no marker.
WHOSE_MOVE = "whose-move-by-step"
# From this patch on, a record holding more than STATE_KEPT evidence items keeps only the most recent STATE_KEPT
# in full and the least that deciding a share and hiding a party's evidence need of the older ones
# (domain.state.compact_evidence): the `state` answer and the continue-as-new input stop growing with every item.
# Asked only once there are that many: a record with fewer (every history recorded before it) never marks it.
LEAN_EVIDENCE = "lean-evidence"
JSON = b"json/plain"


class Refused(Exception):
    """An input no handler takes: one line saying why, for a log line, an update's rejection or a query's error."""


def decode(payload: Payload, limit: int, what: str) -> object:
    """A payload's JSON value, or `Refused`: its size is checked before anything is decoded, then its
    encoding (JSON only) and its nesting."""
    size = payload.ByteSize()
    if size > limit:
        raise Refused(f"{what}: {size} bytes, over the limit of {limit}")
    encoding = payload.metadata.get("encoding")
    if encoding != JSON:
        shown = repr(encoding[:40]) if encoding is not None else "none"
        raise Refused(f"{what}: the encoding must be json/plain, not {shown}")
    try:
        value = workflow.payload_converter().from_payload(payload)
    except Exception:
        raise Refused(f"{what}: not valid JSON") from None
    if depth(value) > NESTING_MAX:
        raise Refused(f"{what}: nested deeper than {NESTING_MAX}")
    return value


def first_error(e: Exception) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        err = errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])[:ID_MAX] or "(value)"
        return f"{where}: {err['msg'][:ID_MAX]}"
    return type(e).__name__


def counted(fn):
    """A handler step counted in `busy` while it runs: a record is not quiet while one is under way."""

    @functools.wraps(fn)
    async def step(self, *args, **kwargs):
        self.busy += 1
        try:
            return await fn(self, *args, **kwargs)
        finally:
            self.busy -= 1

    return step


def pure(fn, *args):
    """Run domain code free of the sandbox's restrictions: the holidays package reads its own translation
    files when it builds a year's calendar, which is deterministic for its pinned version."""
    with workflow.unsafe.sandbox_unrestricted():
        return fn(*args)


class CaseRecord:
    """Base for the investigation workflows. Subclasses set `inv`, `clock` and `indexed`, and say where
    their events go (`forward`)."""

    inv: Investigation
    clock: CaseClock
    indexed: bool
    # The one signal this record takes: batches of events from the other records of its case.
    inbox: str

    def _setup(self, inv: Investigation, clock: CaseClock, carried: Carried | None = None) -> None:
        self.inv = inv
        self.clock = clock
        # Batch numbers sent to and heard from each other record (by workflow id), against replays.
        self.sent: dict[str, int] = dict(carried.sent) if carried else {}
        self.heard: dict[str, int] = dict(carried.heard) if carried else {}
        self.dropped = carried.dropped if carried else 0
        # The joint events the tracks follow: what the joint record sends them, and all they take from it.
        self.follow = tracks_follow(inv.procedure)
        # Update id -> the result of the action recorded under it, oldest first.
        self.done: dict[str, ActResult] = {u.id: u.result for u in carried.updates} if carried else {}
        # The request ids of signed acts recorded (-> when signed), oldest first, and the newest time forgotten.
        self.signed_ids: dict[str, datetime] = dict(carried.signed_ids) if carried else {}
        self.signed_floor: datetime | None = carried.signed_floor if carried else None
        self.timers: dict[str, asyncio.Task] = {}
        self.pending: set[str] = set()
        # Events go to the other records of the case in the order they were recorded, one batch at a time.
        self.outgoing = asyncio.Lock()
        # From the signals-together patch on, the order is kept per record sent to (`send`, `lane`).
        self.lanes: dict[str, asyncio.Lock] = {}
        self.sending = 0
        # Steps recording and passing on events under way (`after`), and callers waiting for quiet (`quiet`).
        self.busy = 0
        self.quiet_waiting = 0
        # True while the joint record starts its tracks: an action waits, so that every track hears of it.
        self.opening = False
        # Events recorded and not yet in the event store, with their links, in seq order; one sender appends
        # them a batch at a time (`store_loop`). A run copies its events there when it began with the store
        # (this patch) and every event before its own is there (or carried whole, so folded in again here).
        self.unstored: list[StoredEvent] = []
        if carried and carried.unstored_links:
            tail = carried.tail[-len(carried.unstored_links) :]
            pairs = zip(tail, carried.unstored_links, strict=True)
            self.unstored = [StoredEvent(body=e.model_dump(mode="json"), link=lnk) for e, lnk in pairs]
        self.storer: asyncio.Task | None = None
        # Set when the run settles to continue as new (from the lean patch on, see `settle`).
        self.winding = False
        self.stored_before = carried is None or carried.state is None or carried.stored
        # Set when the store refuses this record's events (an alarm): the run stops copying.
        self.refused = False
        self.indexed = workflow.info().typed_search_attributes.get(sa.PROCEDURE) is not None
        self.seals = workflow.patched(SEALED_CONTENT)

    def now(self) -> datetime:
        return self.clock.case_time(workflow.now())

    def carry(self) -> Carried:
        """What the next run takes over."""
        done = list(self.done.items())[-UPDATE_IDS_KEPT:]
        inv = self.inv
        return Carried(
            clock=self.clock,
            state=inv.state,
            last_seq=inv.state.last_seq,
            head=inv.head,
            tail=inv.events,
            causes=list(inv.causes.values()),
            sent=self.sent,
            heard=self.heard,
            dropped=self.dropped,
            updates=[DoneUpdate(id=k, result=v) for k, v in done],
            signed_ids=self.signed_ids,
            signed_floor=self.signed_floor,
            stored=self.storing,
            unstored_links=[e.link for e in self.unstored] if self.storing else [],
        )

    # ------------------------------------------------------------------ actions (updates)

    def _fields(self, name: str, args: Sequence[RawValue]) -> dict:
        usage = f"{name[:ID_MAX]}: give one JSON object with the action's fields (at least `by`)"
        if len(args) != 1:
            raise Rejected(usage)
        try:
            payload = decode(args[0].payload, ACTION_BYTES_MAX, name[:ID_MAX])
        except Refused as e:
            raise Rejected(str(e)) from None
        if not isinstance(payload, dict):
            raise Rejected(usage)
        return payload

    def _parse(self, name: str, args: Sequence[RawValue]):
        return parse_action(name[:ID_MAX], self._fields(name, args))

    def _parse_signed(self, name: str, args: Sequence[RawValue]):
        """The action, its fields and its signature (None when the payload has none)."""
        fields = self._fields(name, args)
        signature = fields.pop(signing.FIELD, None)
        return parse_action(name[:ID_MAX], fields), fields, signature

    # Who signed an act is checked twice. The validator checks everything: the signature, the signer's party,
    # the request id, and the keyring (the key is known, names that party, and is valid now, not revoked).
    # Validators do not run on replay, so the handler re-checks only what depends on the record alone: the
    # signature against the public key the act carries, the party, the request id. The keyring is the
    # worker's file and changes (a key revoked next year): checked in the handler, a replay would decide
    # differently from the run it replays. An act the validator accepted always passes the handler's checks.
    def _signed(self, name: str, action, fields: dict, signature: object, *, with_keyring: bool) -> signing.Signed:
        what = name[:ID_MAX]
        if signature is None:
            raise Rejected(
                f"{what}: unsigned: every act is signed by its user's key (`enforce act`, or `enforce sign` "
                "for the stock CLI)"
            )
        try:
            signed = signing.Signed.model_validate(signature)
        except Exception as e:
            raise Rejected(f"{what}: signature.{first_error(e)}") from None
        state = self.inv.state
        why = signing.problem(signed, case=state.slug, action=name, fields=fields)
        if why is None:
            track = action.target() if action.runs_in == "track" else None
            why = signing.may_sign(signed, authorities=state.authorities, track=track)
        if why is None and signed.request_id in self.signed_ids:
            why = f"request id {signed.request_id[:ID_MAX]!r} was signed for an act already recorded (a replay)"
        if why is None and self.signed_floor is not None and signed.at <= self.signed_floor:
            why = f"signed at {signed.at.isoformat()}, before the acts this record still remembers: sign it anew"
        if why is None and with_keyring:
            why = signing.refuse(keyring.entries(), signed, slug=state.slug, now=workflow.now())
        if why is not None:
            raise Rejected(f"{what}: {why}")
        return signed

    def _seen(self, signed: signing.Signed) -> None:
        self.signed_ids[signed.request_id] = signed.at
        while len(self.signed_ids) > SIGNED_IDS_KEPT:
            forgotten = self.signed_ids.pop(next(iter(self.signed_ids)))
            self.signed_floor = max(forgotten, self.signed_floor or forgotten)

    @staticmethod
    def _update_id() -> str | None:
        info = workflow.current_update_info()
        return info.id if info else None

    def _remember(self, update_id: str | None, result: ActResult) -> None:
        if update_id is None:
            return
        self.done[update_id] = result
        while len(self.done) > UPDATE_IDS_KEPT:
            del self.done[next(iter(self.done))]

    @workflow.update(dynamic=True)
    async def act(self, name: str, args: Sequence[RawValue]) -> ActResult:
        """Every action of the vocabulary (domain.actions) is an update of its own name. An update id already
        recorded (in this run or one before) records nothing new: its retry gets the earlier result."""
        update_id = self._update_id()
        if update_id in self.done:
            return self.done[update_id]
        if self.opening:
            await workflow.wait_condition(lambda: not self.opening)
        signed = None
        if workflow.patched(SIGNED):
            action, fields, signature = self._parse_signed(name, args)
            try:
                signed = self._signed(name, action, fields, signature, with_keyring=False)
            except Rejected as e:  # only an act that skipped the validator: refused, no event
                raise ApplicationError(str(e)[:1000], type=REJECTED, non_retryable=True) from None
            self._seen(signed)
        else:
            action = self._parse(name, args)  # a run from before acts were signed replays as it ran
        try:
            recorded = pure(self.inv.execute, action, self.now(), signed)
        except Rejected as e:  # what the case allows changed while the act waited: refused, no event
            raise ApplicationError(str(e).splitlines()[0][:1000], type=REJECTED, non_retryable=True) from None
        workflow.logger.info(
            "action recorded", extra={"action": name, "by": action.by, "events": [e.type for e in recorded]}
        )
        result = ActResult(
            action=name,
            recorded=[e.type for e in recorded],
            first_seq=recorded[0].seq,
            last_seq=recorded[-1].seq,
            stage=self.inv.state.stage,
        )
        self._remember(update_id, result)
        await self.after(recorded)
        return result

    @act.validator
    def check_act(self, name: str, args: Sequence[RawValue]) -> None:
        # Rejected here, the update never reaches history: no event, no failed workflow task.
        if self._update_id() in self.done:
            return  # a retry: the handler answers with what was recorded the first time
        try:
            self._check_act(name, args)
        except Rejected as e:
            raise ApplicationError(str(e).splitlines()[0][:1000], type=REJECTED, non_retryable=True) from None
        except Exception as e:  # whatever else an input provokes, it is a refusal, not a failed task
            raise ApplicationError(
                f"{name[:ID_MAX]}: refused ({type(e).__name__})", type=REJECTED, non_retryable=True
            ) from None

    def _check_act(self, name: str, args: Sequence[RawValue]) -> None:
        try:
            action, fields, signature = self._parse_signed(name, args)
        except Rejected as e:
            by = self._actor(args)
            if by:
                e = pure(explain, e, self.inv.state, self.inv.ctx(self.now()), by)
            raise e from None
        self._signed(name, action, fields, signature, with_keyring=True)
        pure(self.inv.validate, action, self.now())
        why = unsealed(action, self.inv.state) if self.seals else None
        if why is not None:
            raise Rejected(f"{name[:ID_MAX]}: {why}")

    def _actor(self, args: Sequence[RawValue]) -> str | None:
        try:
            payload = self._fields("action", args)
        except Rejected:
            return None
        by = payload.get("by")
        return by if isinstance(by, str) and len(by) <= ID_MAX else None

    # ------------------------------------------------------------------ what follows recording

    @counted
    async def after(self, recorded: list[ev.Event], mirrored: Collection[int] = ()) -> None:
        """Publish, tell the other records of the case, serve notices, and (re)arm clocks.

        `mirrored`: the seqs of events taken in from another record, which this one neither re-sends nor
        serves notices for."""
        self.keep_evidence()
        self.store()
        self.publish()
        originated = [e for e in recorded if e.seq not in mirrored]
        self.arm_timers()
        for e in originated:
            for req in pure(notices_for, self.inv.state, e, self.inv.ctx(self.now())):
                # Served in the background: an action returns once recorded, not once delivered.
                self.pending.add(req.notice_id)
                asyncio.create_task(self.serve(req))
        await self.forward(originated)

    def keep_evidence(self) -> None:
        """The older evidence items into the state's index, past STATE_KEPT (patch lean-evidence)."""
        if len(self.inv.state.evidence) > STATE_KEPT and workflow.patched(LEAN_EVIDENCE):
            self.inv.state = pure(compact_evidence, self.inv.state, STATE_KEPT)

    def lane(self, target: str, together: bool) -> asyncio.Lock:
        """What orders the batches to `target`: one lock for all targets before the signals-together patch (a
        batch to one track waited for the one to the track before), one per target since."""
        return self.lanes.setdefault(target, asyncio.Lock()) if together else self.outgoing

    async def send(self, target: str, signal: str, events: list[ev.Event], together: bool = False) -> None:
        """Send events to another record of the case, after whatever this one sent it before: numbered, and
        authenticated under the current record key. (An asyncio lock is taken in the order it was asked for.)"""
        self.sending += 1
        try:
            async with self.lane(target, together):
                seq = self.sent.get(target, 0) + 1
                self.sent[target] = seq
                message = keys.canonical(target, self.inv.owner, seq, [e.model_dump(mode="json") for e in events])
                # No key installed is the worker's fault: this task fails and is retried on a worker that has one.
                kid, mac = keys.sign(message)
                batch = EventBatch(events=events, source=self.inv.owner, seq=seq, key=kid, mac=mac)
                try:
                    await workflow.get_external_workflow_handle(target).signal(signal, batch)
                except Exception as e:  # that record is gone (closed, terminated): this one goes on
                    workflow.logger.warning("events not delivered", extra={"to": target, "error": str(e)})
        finally:
            self.sending -= 1

    # ------------------------------------------------------------------ the event store

    @property
    def storing(self) -> bool:
        """Whether this run copies its events to the store. The patch is asked when first needed, in the run or
        a handler (not in `__init__`, where a replay has not yet been told which patches its history holds)."""
        return self.stored_before and not self.refused and workflow.patched(EVENT_STORE)

    def store(self) -> None:
        """Queue what was recorded since for the event store, and start the sender if it is idle."""
        fresh = self.inv.drain()
        if not self.storing:
            self.inv.keep_last(TAIL_EVENTS)
            return
        if workflow.patched(LEAN):
            # The store keeps the whole record: the run keeps what is not stored yet (`unstored`) and a margin.
            self.inv.keep_last(TAIL_KEPT)
        self.unstored += [StoredEvent(body=body, link=lnk) for body, lnk in fresh]
        if self.unstored and (self.storer is None or self.storer.done()):
            self.storer = asyncio.create_task(self.store_loop())

    def _batch(self) -> list[StoredEvent]:
        """The oldest unstored events, as many as fit in STORE_BATCH_BYTES (at least one)."""
        batch, size = [], 0
        for e in self.unstored:
            n = len(e.model_dump_json())
            if batch and size + n > STORE_BATCH_BYTES:
                break
            batch.append(e)
            size += n
        return batch

    async def store_loop(self) -> None:
        """The one sender: appends the unstored events in seq order, one activity per batch, until none is
        left. The activity retries without limit while the store is down: the copy waits, the case goes on
        (updates, signals and clocks keep recording; what they record joins the next batch)."""
        while self.unstored and self.storing and not self._winding_down():
            batch = self._batch()
            first, last = batch[0].seq, batch[-1].seq
            try:
                await workflow.execute_activity(
                    append_events,
                    AppendInput(record=workflow.info().workflow_id, events=batch),
                    start_to_close_timeout=APPEND_TIMEOUT,
                    retry_policy=APPEND_RETRY,
                    summary=f"Store events {first}-{last}" if first != last else f"Store event {first}",
                )
            except ActivityError as e:
                # A different event already stored at one of these seqs, or a chain that does not follow: an
                # alarm for people, never an overwrite. This run stops copying; the case goes on.
                reason = e.cause.message if isinstance(e.cause, ApplicationError) else str(e.cause or e)
                workflow.logger.error(
                    "event store refused the record's events", extra={"events": f"{first}-{last}", "reason": reason}
                )
                self.refused = True
                self.unstored.clear()
                return
            del self.unstored[: len(batch)]

    # ------------------------------------------------------------------ events from the other records (signals)

    def _drop(self, reason: str) -> None:
        self.dropped += 1
        workflow.logger.warning(f"signal dropped: {reason[:500]}", extra={"dropped": self.dropped})
        self.show_details()

    def _sender(self, source: str) -> str:
        """The workflow id of the record a batch says it comes from."""
        slug = self.inv.state.slug
        return workflow_id(slug) if source == CASE else track_id(slug, source)

    def _admit(self, args: Sequence[RawValue]) -> EventBatch:
        """The batch in `args` if this record may take it in: authentic, from the record it names, not heard
        before, each event one this record takes from that one and can record. Else `Refused`."""
        if len(args) != 1:
            raise Refused(f"{self.inbox}: one event batch, not {len(args)} values")
        value = decode(args[0].payload, SIGNAL_BYTES_MAX, self.inbox)
        try:
            batch = EventBatch.model_validate(value)
        except Exception as e:
            raise Refused(f"{self.inbox}: not an event batch: {first_error(e)}") from None
        source = batch.source[:ID_MAX]
        if batch.key is None or batch.mac is None:
            raise Refused(f"{self.inbox}: an unauthenticated batch claiming to come from {source!r}")
        dumped = [e.model_dump(mode="json") for e in batch.events]
        message = keys.canonical(workflow.info().workflow_id, batch.source, batch.seq, dumped)
        if not keys.verify(batch.key, batch.mac, message):
            raise Refused(f"{self.inbox}: a batch claiming to come from {source!r} fails authentication")
        sender = self._sender(batch.source)
        if batch.seq <= self.heard.get(sender, 0):
            raise Refused(f"{self.inbox}: batch {batch.seq} from {sender} was heard before (a replay)")
        self.heard[sender] = batch.seq
        if not batch.events:
            raise Refused(f"{self.inbox}: an empty batch from {sender}")
        for e in batch.events:
            why = pure(refuse_incoming, self.inv.state, self.follow, self.inv.owner, batch.source, e)
            if why:
                raise Refused(f"{self.inbox} from {sender}: {why}")
        try:
            pure(self.inv.check_mirror, batch.events)
        except Rejected as e:
            raise Refused(f"{self.inbox} from {sender}: {e}") from None
        return batch

    @workflow.signal(dynamic=True)
    async def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """Every signal comes here: the record's inbox (a batch of events from another record of the case)
        is taken in if authentic and acceptable; anything else is dropped, logged and counted."""
        if name != self.inbox:
            self._drop(f"unknown signal {name[:ID_MAX]!r}")
            return
        if not workflow.patched(AUTHENTICATED):
            # A run recorded before batches were authenticated replays as it ran.
            try:
                batch = EventBatch.model_validate(workflow.payload_converter().from_payload(args[0].payload))
            except Exception as e:
                self._drop(f"{self.inbox}: not an event batch: {first_error(e)}")
                return
        else:
            try:
                batch = self._admit(args)
            except Refused as e:
                self._drop(str(e))
                return
        recorded, mirrored = self.take_in(batch)
        await self.after(recorded, mirrored)

    def take_in(self, batch: EventBatch) -> tuple[list[ev.Event], set[int]]:
        """Record events another record of the case sent, and what follows from them here."""
        recorded, mirrored = [], set()
        for event in batch.events:
            taken = pure(self.inv.mirror, event)
            mirrored.add(taken[0].seq)
            recorded += taken
        return recorded, mirrored

    async def forward(self, events: list[ev.Event]) -> None:
        raise NotImplementedError

    async def serve(self, req: NoticeRequest) -> None:
        by = req.senders[0].id if len(req.senders) == 1 else self.inv.state.lead
        common = dict(
            notice_id=req.notice_id,
            kind=req.kind,
            senders=[s.id for s in req.senders],
            to=req.to,
            cause=req.cause,
            cause_type=req.cause_type,
        )
        self.pending.add(req.notice_id)
        try:
            receipt = await workflow.execute_activity(
                serve_notice,
                req,
                start_to_close_timeout=NOTICE_TIMEOUT,
                heartbeat_timeout=NOTICE_HEARTBEAT,
                retry_policy=NOTICE_RETRY,
                summary=f"Serve {req.kind.replace('-', ' ')} on {req.to.name}",
            )
        except ActivityError as e:
            reason = e.cause.message if isinstance(e.cause, ApplicationError) else str(e.cause or e)
            workflow.logger.warning("notice not served", extra={"notice_id": req.notice_id, "reason": reason})
            new = New(ev.NoticeFailed, by, {**common, "channel": req.to.channel, "reason": reason})
        else:
            new = New(
                ev.NoticeServed,
                by,
                {
                    **common,
                    "section": req.section,
                    "channel": receipt.channel,
                    "message_id": receipt.message_id,
                    "delivered_at": self.now(),
                    "document": receipt.document,
                    "sha256": receipt.sha256,
                    "deadline": req.deadline,
                },
            )
        try:
            await self.after(pure(self.inv.record, [new], self.now()))
        finally:
            self.pending.discard(req.notice_id)

    # ------------------------------------------------------------------ clocks

    def arm_timers(self) -> None:
        """One durable timer per running deadline this record keeps; a moved deadline re-arms its own."""
        for d in self.inv.state.deadlines.values():
            if d.owner == self.inv.owner and d.running and not self._timer_alive(d.deadline_id):
                self.timers[d.deadline_id] = asyncio.create_task(self.watch(d.deadline_id))

    def _timer_alive(self, did: str) -> bool:
        task = self.timers.get(did)
        return task is not None and not task.done()

    def _deadline(self, did: str) -> DeadlineState:
        return self.inv.state.deadlines[did]

    async def watch(self, did: str) -> None:
        while (d := self._deadline(did)).running:
            ctx = self.inv.ctx(self.now())
            remind = pure(next_reminder, self.inv.state, d, ctx, self.now().date())
            expiry = self.clock.end_of_day(d.due)
            if remind is not None and remind <= d.due:
                target = self.clock.real_time(datetime.combine(remind, REMINDER_HOUR, tzinfo=UTC))
                summary = f"Reminder: {d.summary} (due {d.due.isoformat()})"
            else:
                remind, target, summary = None, expiry, f"{d.summary} (due {d.due.isoformat()})"
            version = d.version
            delay = (target - workflow.now()).total_seconds()
            if delay > 0:
                try:
                    await workflow.wait_condition(
                        lambda v=version: self._deadline(did).version != v, timeout=delay, timeout_summary=summary
                    )
                    continue  # extended, paused, met: look again
                except TimeoutError:
                    if self._deadline(did).version != version:
                        continue  # moved in the same instant the timer fired: the move wins
            if remind is not None:
                await self.serve(pure(reminder, self.inv.state, d, ctx, remind))
                continue
            workflow.logger.info("deadline missed", extra={"deadline": did})
            missed = pure(on_missed, self.inv.state, d, ctx)
            await self.after(pure(self.inv.record, missed, self.now()))
            return

    async def settle(self) -> None:
        """Before this run ends: no update half-done, no notice half-served, every event in the store (or, for a
        run that continues as new, at most one batch of them carried over).

        The run waits for the store rather than carrying more than that into the next: the continue-as-new
        input then stays bounded however long a store outage lasts, and a run that completes could not carry
        them anywhere anyway. Waiting costs no history: an activity's retries write no events until it ends."""
        self.store()
        # From the lean patch on, a run that continues as new may carry a few unstored events (at most one
        # batch of TAIL_KEPT) to the next, which appends them first: under a steady stream of actions the
        # store is never idle at the end of a workflow task, and a run waiting for it never ended (a run of
        # 15,000 history events where 1,000 were suggested, its input growing with them). The batch in flight
        # No batch is started meanwhile (`_winding_down`): the run ends between two appends, never during one,
        # whose completion would arrive as the run ends and fail its last workflow task.
        carry = self.winding = workflow.patched(LEAN)
        await workflow.wait_condition(
            lambda: (
                workflow.all_handlers_finished()
                and not self.pending
                and not self.sending
                and (self.storer is None or self.storer.done())
                and (not self.unstored or (carry and not self.closing() and self._carriable()))
            )
        )

    def closing(self) -> bool:
        return self.inv.state.stage == Stage.CLOSED

    def _winding_down(self) -> bool:
        """Whether the run is about to continue as new with what is unstored: the store sender then finishes its
        batch and starts no other (while more than one carriable batch is unstored, it goes on)."""
        return self.winding and not self.closing() and self._carriable()

    def _carriable(self) -> bool:
        """Whether the next run can take over what is unstored: a batch of at most TAIL_KEPT events, all still
        in the tail (which carries their bodies)."""
        if not self.unstored:
            return True
        tail = self.inv.events
        return (
            len(self.unstored) <= TAIL_KEPT
            and bool(tail)
            and self.unstored[0].seq >= tail[0].seq
            and self.unstored[-1].seq == tail[-1].seq
        )

    # ------------------------------------------------------------------ what people see

    def show_details(self) -> None:
        details = current_details(
            self.inv.state, self.inv.events, self.now(), self.inv.owner, self.dropped, self.inv.procedure
        )
        workflow.set_current_details(details)

    def publish(self) -> None:
        state = self.inv.state
        self.show_details()
        if not self.indexed:
            return  # started without search attributes: the time-skipping test server knows none
        nxt = state.next_deadline
        mover = state.whose_move(self.inv.procedure)
        if mover != state.awaiting_party and not workflow.patched(WHOSE_MOVE):
            mover = state.awaiting_party
        values = [
            (sa.AWAITING_PARTY, mover),
            (sa.NEXT_DEADLINE, self.clock.start_of_day(nxt.due) if nxt else None),
            *self.stage_attributes(),
        ]
        if workflow.patched(LEAN):
            # The values the workflow holds now (as started, carried over, or last upserted): only a change is sent.
            now = workflow.info().typed_search_attributes
            values = [(key, value) for key, value in values if now.get(key) != value]
            if not values:
                return
        updates: list[SearchAttributeUpdate] = [
            key.value_set(value) if value is not None else key.value_unset() for key, value in values
        ]
        workflow.upsert_search_attributes(updates)

    def stage_attributes(self) -> list[tuple[SearchAttributeKey, object]]:
        return []

    # Queries take their input raw and decode it here: a bad one is an error to the caller (a failed query,
    # never a failed workflow task).

    @staticmethod
    def _query_input(name: str, raw: RawValue | None, model):
        if raw is None:
            return model()
        try:
            value = decode(raw.payload, QUERY_BYTES_MAX, name)
            return model() if value is None else model.model_validate(value)
        except Refused as e:
            raise ValueError(str(e)) from None
        except Exception as e:
            raise ValueError(f"{name}: {first_error(e)}") from None

    @workflow.query(name="state")
    def query_state(self, q: RawValue = None) -> StateView:
        query = self._query_input("state", q, StateQuery)
        state = self.inv.state
        state = visible_to(state, query.as_party) if query.as_party else shown(state)
        return StateView(
            state=state,
            clock=self.now(),
            events=self.inv.state.last_seq,
            pending=len(self.pending),
            dropped=self.dropped,
        )

    def idle(self) -> bool:
        """Nothing in flight here: opened, no step recording or passing on events, no notice being served, no
        batch going out, nothing waiting for the event store. Running clocks do not count: they wait for time.
        A run winding down to continue as new is idle once its last append ends, with what is still unstored
        carried to the next run (which appends it first): a caller waiting for quiet must not hold that run's
        end, which waits for every handler, its own `quiet` update included."""
        return (
            self.inv.state.last_seq > 0
            and not self.opening
            and not self.busy
            and not self.pending
            and not self.sending
            and (not self.unstored or self._winding_down())
            and (self.storer is None or self.storer.done())
        )

    def quiet_view(self) -> QuietView:
        state = self.inv.state
        return QuietView(idle=self.idle(), events=state.last_seq, clock=self.now(), sent=self.sent, heard=self.heard)

    # Quiet is asked by a driver (a simulation, a test) that must know when a case has stopped moving. Neither
    # handler records anything (the update adds only its own accepted and completed events): no patch.

    @workflow.query(name="quiet")
    def query_quiet(self, q: RawValue = None) -> QuietView:
        self._query_input("quiet", q, QuietQuery)
        return self.quiet_view()

    @workflow.update(name="quiet")
    async def await_quiet(self, q: RawValue = None) -> QuietView:
        """Returns once this record is idle (at once if it is)."""
        self.quiet_waiting += 1
        try:
            await workflow.wait_condition(self.idle)
        finally:
            self.quiet_waiting -= 1
        return self.quiet_view()

    @await_quiet.validator
    def check_quiet(self, q: RawValue = None) -> None:
        try:
            self._query_input("quiet", q, QuietQuery)
        except ValueError as e:
            raise ApplicationError(str(e)[:1000], type=REJECTED, non_retryable=True) from None
        if self.quiet_waiting >= QUIET_WAITERS_MAX:
            raise ApplicationError(
                f"quiet: {QUIET_WAITERS_MAX} callers wait already, the limit", type=REJECTED, non_retryable=True
            )

    @workflow.query(name="events")
    def query_events(self, q: RawValue = None) -> EventsView:
        """The recent events after `after`: only those this run keeps (at most TAIL_EVENTS, TAIL_BYTES in
        all), so the answer stays small however long the case. The whole record is the event store's to give:
        the commands read it there and ask this query only for the events not stored yet (enforce/record.py)."""
        query = self._query_input("events", q, EventsQuery)
        events = self.inv.events_after(query.after)
        first = events[0].seq if events else self.inv.state.last_seq + 1
        if first > query.after + 1 and self.unstored:
            # Older than the tail and not stored yet (the store lags): the run still holds their bodies.
            older = [e for e in self.unstored if query.after < e.seq < first]
            events = [EVENT_ADAPTER.validate_python(e.body) for e in older] + events
        if query.as_party:
            events = events_visible_to(events, self.inv.state, query.as_party)
        return EventsView(events=events)
