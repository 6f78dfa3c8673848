"""The pydantic models that cross the workflows' boundaries: inputs, queries, signals, update results."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from domain.case import CaseFile
from domain.chain import GENESIS
from domain.clock import CaseClock
from domain.events import AnyEvent
from domain.investigation import Investigation
from domain.policy import Cause
from domain.procedure import Procedure
from domain.state import InvestigationState, Stage

# The memo key of the respondent's name (an organisation's), sealed by the payload codec; carried across
# continue-as-new by the joint workflow, since the server does not carry a memo over.
MEMO_RESPONDENT = "respondent"


def workflow_id(slug: str) -> str:
    return f"investigation-{slug}"


def track_id(slug: str, authority: str) -> str:
    return f"investigation-{slug}.{authority}"


class ActResult(BaseModel):
    action: str
    recorded: list[str]
    first_seq: int
    last_seq: int
    stage: Stage | None


class DoneUpdate(BaseModel):
    """An action already recorded under this update id: a retry of it gets this result again."""

    id: str
    result: ActResult


class Carried(BaseModel):
    """What a continued-as-new run takes over: the state (not the whole record), where the record stands (its
    last seq and the head of its hash chain), its most recent events and the causes a clock may still start
    from, the case clock, and what keeps retries and batches between records safe across runs.

    `events` is what runs before this change carried instead (the whole record): a run continued by one of
    them folds it on start."""

    clock: CaseClock
    state: InvestigationState | None = None
    last_seq: int = 0
    head: str = GENESIS
    tail: list[AnyEvent] = []
    causes: list[Cause] = []
    events: list[AnyEvent] = []
    # The last batch number sent to each record of the case, and heard from each (by workflow id).
    sent: dict[str, int] = {}
    heard: dict[str, int] = {}
    # Batches and signals refused so far, and the most recent updates recorded (oldest first).
    dropped: int = 0
    updates: list[DoneUpdate] = []
    # The request ids of the signed acts recorded (id -> signing time), and the newest signing time forgotten.
    signed_ids: dict[str, datetime] = {}
    signed_floor: datetime | None = None
    # Every event up to `last_seq` is in the event store: the runs before this one copied it there. False for a
    # case begun before the store, whose next runs go on without it (its early events are in no store).
    stored: bool = False
    # The chain links of the last events of `tail`, recorded and not yet in the store when the run ended: the
    # next run appends those events first (their bodies are the tail's, not carried twice).
    unstored_links: list[str] = []

    def record(self, procedure: Procedure, owner: str) -> Investigation:
        """The record this run goes on with."""
        if self.state is None:
            return Investigation(procedure, owner, self.events)
        return Investigation.resume(procedure, owner, self.state, self.head, self.tail, self.causes)


class InvestigationInput(BaseModel):
    case: CaseFile
    procedure: Procedure
    carried: Carried | None = None


class TrackInput(BaseModel):
    authority: str
    procedure: Procedure
    # The joint record's opening, which every track starts from.
    opened: AnyEvent
    clock: CaseClock
    indexed: bool = True
    carried: Carried | None = None


class InvestigationResult(BaseModel):
    slug: str
    stage: Stage | None
    events: int
    outcomes: dict[str, str] = {}


class StateQuery(BaseModel):
    # An authority id or `respondent`: the state as that party may see it. None: the whole record.
    as_party: str | None = None


class StateView(BaseModel):
    state: InvestigationState
    clock: datetime
    events: int
    # Notices being delivered right now; a simulation waits for these before its next step.
    pending: int = 0
    # Signals refused: unauthenticated, replayed, undecodable or not this record's to take in.
    dropped: int = 0


class QuietQuery(BaseModel):
    """The `quiet` query and update take no fields; a model all the same, for the one-model-in rule."""


class QuietView(BaseModel):
    """Whether a record has nothing in flight (`idle`: no notice, append, outgoing batch or handler running),
    how many events it holds, and the last batch number it sent to and heard from each other record of the
    case (by workflow id). A driver that sees every record idle, and each batch sent heard by its target, knows
    the case is quiescent (enforce/simulate.py `settled`)."""

    idle: bool
    events: int
    # The case clock's time there.
    clock: datetime
    sent: dict[str, int] = {}
    heard: dict[str, int] = {}


class EventsQuery(BaseModel):
    after: int = 0
    as_party: str | None = None


class EventsView(BaseModel):
    # The recent events a run keeps (domain.limits.TAIL_EVENTS, TAIL_BYTES), not necessarily the whole record.
    events: list[AnyEvent]


class EventBatch(BaseModel):
    """Events from another record of the same case, in that record's order, sent by one signal.

    `seq` numbers the batches one record sends another; `key` names the record key and `mac` is the
    HMAC-SHA256 over (target, source, seq, events) under it (workflows.keys). Histories from before
    authentication carry neither."""

    events: list[AnyEvent]
    source: str
    seq: int = 0
    key: str | None = None
    mac: str | None = None
