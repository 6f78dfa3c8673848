"""The event store: the durable copy of every record, append-only, idempotent on (record, seq), chained."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from datetime import datetime

import pytest

from domain.chain import GENESIS, chain, link
from domain.events import EVENT_ADAPTER
from domain.state import fold
from store import ChainBroken, RecordConflict, Store, StoreUnavailable
from tests.test_policy import act, joint, to_recommendations

RECORD = "investigation-c"


@pytest.fixture
def bodies(tmp_path) -> list[dict]:
    inv, _ = joint(tmp_path)
    to_recommendations(inv)
    act(inv, "answer-recommendations", by="respondent", answers={"R1": "refused", "R2": "accepted"})
    return [e.model_dump(mode="json") for e in inv.events]


def linked(bodies: list[dict]) -> list[tuple[dict, str]]:
    out, prev = [], GENESIS
    for b in bodies:
        prev = link(prev, b)
        out.append((b, prev))
    return out


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'data' / 'record.db'}")


def test_link_is_the_exported_chain(bodies):
    assert [lnk for _, lnk in linked(bodies)] == [json.loads(line)["hash"] for line in chain(bodies)]


def test_append_then_read_gives_the_events_back(store, bodies):
    assert store.append(RECORD, linked(bodies)) == len(bodies)
    rows = store.read(RECORD)
    assert [r.body for r in rows] == bodies
    assert [r.seq for r in rows] == list(range(1, len(bodies) + 1))
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.records("c") == [RECORD] and store.cases() == ["c"]


def test_re_append_is_silent_and_writes_nothing(store, bodies):
    store.append(RECORD, linked(bodies)[:3])
    assert store.append(RECORD, linked(bodies)) == len(bodies) - 3
    assert store.append(RECORD, linked(bodies)) == 0
    assert len(store.read(RECORD)) == len(bodies)


def test_a_different_event_at_a_stored_seq_is_a_conflict(store, bodies):
    store.append(RECORD, linked(bodies))
    other = {**bodies[1], "by": "respondent"}
    with pytest.raises(RecordConflict, match="event 2"):
        store.append(RECORD, [(other, link(linked(bodies)[0][1], other))])
    assert [r.body for r in store.read(RECORD)] == bodies


def test_a_link_that_does_not_follow_is_refused(store, bodies):
    pairs = linked(bodies)
    store.append(RECORD, pairs[:2])
    with pytest.raises(ChainBroken, match="event 3"):
        store.append(RECORD, [(bodies[2], link(GENESIS, bodies[2]))])
    with pytest.raises(ChainBroken, match="event 4 is not stored"):
        store.append(RECORD, [pairs[4]])
    assert len(store.read(RECORD)) == 2


async def test_concurrent_appends_of_one_batch_write_once(store, bodies):
    counts = await asyncio.gather(*(asyncio.to_thread(store.append, RECORD, linked(bodies)) for _ in range(2)))
    assert sorted(counts) == [0, len(bodies)]
    assert len(store.read(RECORD)) == len(bodies)


def test_as_of_fold_holds_only_events_up_to_that_date(store, bodies):
    store.append(RECORD, linked(bodies))
    cut = datetime.fromisoformat(bodies[len(bodies) // 2]["on"]).date()
    rows = store.read(RECORD, upto=cut)
    expected = [b for b in bodies if datetime.fromisoformat(b["on"]).date() <= cut]
    assert 0 < len(rows) < len(bodies) or len(expected) == len(bodies)
    assert [r.body for r in rows] == expected
    state = fold(EVENT_ADAPTER.validate_python(r.body) for r in rows)
    assert state == fold(EVENT_ADAPTER.validate_python(b) for b in expected)


def test_an_unwritable_store_is_unavailable(tmp_path, bodies):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "record.db").mkdir()  # a folder where the file should be: cannot be opened as a database
    with pytest.raises(StoreUnavailable):
        Store(f"sqlite:///{folder / 'record.db'}").append(RECORD, linked(bodies))
