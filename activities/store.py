"""The activity through which a workflow keeps its record's events in the event store (`store.Store`).

A workflow calls it with the events it has not yet stored, each with its chain link (`domain.chain.link`),
using the options below:

    await workflow.execute_activity(
        append_events, AppendInput(record=workflow.info().workflow_id, events=[StoredEvent(...)]),
        start_to_close_timeout=APPEND_TIMEOUT, retry_policy=APPEND_RETRY,
    )

Idempotent on (record, seq). A different event at a stored (record, seq) is `RecordConflict` and a link that
does not follow the stored chain is `ChainBroken`: both non-retryable (an alarm, never an overwrite). A store
that is down raises a retryable error, and the policy retries without limit until it is back.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from store import ChainBroken, RecordConflict, Store, StoreUnavailable, default_url

RECORD_CONFLICT = "RecordConflict"
CHAIN_BROKEN = "ChainBroken"
STORE_UNAVAILABLE = "StoreUnavailable"

APPEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,  # no limit: the record must reach the store
    non_retryable_error_types=[RECORD_CONFLICT, CHAIN_BROKEN],
)
APPEND_TIMEOUT = timedelta(seconds=30)


class StoredEvent(BaseModel):
    """One event as the store keeps it: its body (`model_dump(mode="json")`, which carries `seq`) and link."""

    body: dict
    link: str = Field(min_length=64, max_length=64)

    @property
    def seq(self) -> int:
        return self.body["seq"]


class AppendInput(BaseModel):
    record: str = Field(min_length=1, max_length=200)
    events: list[StoredEvent]


class AppendResult(BaseModel):
    record: str
    appended: int
    head: str


# One Store per URL in this worker process, so the schema is checked once per process, not once per call.
# ENFORCE_RECORD_URL is read on every call: a corrected setting takes effect at the next attempt.
_stores: dict[str, Store] = {}


def _store() -> Store:
    url = default_url()
    if url not in _stores:
        _stores[url] = Store(url)
    return _stores[url]


def _append(req: AppendInput) -> AppendResult:
    events = sorted(req.events, key=lambda e: e.seq)
    new = _store().append(req.record, [(e.body, e.link) for e in events])
    return AppendResult(record=req.record, appended=new, head=events[-1].link if events else "")


@activity.defn(name="append_events")
async def append_events(req: AppendInput) -> AppendResult:
    try:
        return await asyncio.to_thread(_append, req)
    except RecordConflict as e:
        raise ApplicationError(str(e), type=RECORD_CONFLICT, non_retryable=True) from e
    except ChainBroken as e:
        raise ApplicationError(str(e), type=CHAIN_BROKEN, non_retryable=True) from e
    except StoreUnavailable as e:
        activity.logger.warning("event store unavailable, will retry: %s", e)
        raise ApplicationError(str(e), type=STORE_UNAVAILABLE) from e
