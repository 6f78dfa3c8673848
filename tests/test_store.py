"""The event store: the durable copy of every record, append-only, idempotent on (record, seq), chained.

Every test of the store runs on both backends: SQLite (a file in the test's folder) and PostgreSQL (a fresh
database on the session's private cluster, tests/conftest.py `postgres_url`)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import threading
from datetime import datetime, timedelta

import pytest

from domain.chain import GENESIS, chain, link
from domain.events import EVENT_ADAPTER
from domain.state import fold
from enforce import codec
from enforce.simulate import start_skipping
from store import ChainBroken, RecordConflict, Store, StoreUnavailable, backend
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


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    """An empty store of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'record.db'}"
    return request.getfixturevalue("postgres_db")


@pytest.fixture
def store(url) -> Store:
    return Store(url)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: nothing listens there


def down_url(url: str, tmp_path) -> str:
    """A store of the same backend that cannot be reached: a folder where the SQLite file should be (it cannot
    be opened as a database), or a port where no PostgreSQL listens."""
    if url.startswith("sqlite"):
        folder = tmp_path / "down" / "record.db"
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder}"
    return f"postgresql://enforce:s3cret@127.0.0.1:{_closed_port()}/postgres"


def test_link_is_the_exported_chain(bodies):
    assert [lnk for _, lnk in linked(bodies)] == [json.loads(line)["hash"] for line in chain(bodies)]


def test_append_then_read_gives_the_events_back(store, bodies):
    assert store.append(RECORD, linked(bodies)) == len(bodies)
    rows = store.read(RECORD)
    assert [r.body for r in rows] == bodies
    assert [r.seq for r in rows] == list(range(1, len(bodies) + 1))
    if store.path is not None:  # SQLite: the file is the operator's alone
        assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.records("c") == [RECORD] and store.cases() == ["c"]
    assert store.count() == store.count(RECORD) == len(bodies) and store.count("investigation-other") == 0


def test_records_and_cases_keep_cases_apart(store, bodies):
    tracks = ["investigation-c.opc", "investigation-c", "investigation-d", "investigation-c.oipc-bc"]
    for record in tracks:
        store.append(record, linked(bodies)[:2])
    assert store.cases() == ["c", "d"]
    assert store.records("c") == sorted(r for r in tracks if r != "investigation-d")
    assert store.records("d") == ["investigation-d"] and store.records("e") == []
    everything = store.read_all()
    assert [(r.record, r.seq) for r in everything] == [(t, s) for t in sorted(tracks) for s in (1, 2)]
    assert store.count() == len(everything) == 8


def test_firsts_gives_each_records_opening_on_one_connection(store, bodies, monkeypatch):
    """`enforce list` reads the respondent of a page of cases from their openings in one go."""
    import store as store_module

    records = [f"investigation-c{i}" for i in range(5)]
    for i, record in enumerate(records):
        store.append(record, linked([{**bodies[0], "summary": f"opening {i}"}, bodies[1]]))  # an opening of its own
    connections = []
    connect = store._db.connect
    monkeypatch.setattr(store._db, "connect", lambda: connections.append(1) or connect())
    monkeypatch.setattr(store_module, "FIRSTS_BATCH", 2)  # six records asked: three queries of two
    found = store.firsts([*records, "investigation-never"])
    assert sorted(found) == records  # the one not stored is missing, not an error
    assert all(found[r].record == r and found[r].seq == 1 and found[r].body["summary"] == f"opening {i}"
               for i, r in enumerate(records))  # fmt: skip
    assert len(connections) == 1
    assert store.firsts([]) == {}


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


async def test_concurrent_appends_of_one_batch_write_once(url, bodies):
    # Each writer a Store (and connection) of its own, as workers on several machines would be.
    writers = [Store(url) for _ in range(4)]
    counts = await asyncio.gather(*(asyncio.to_thread(w.append, RECORD, linked(bodies)) for w in writers))
    assert sorted(counts) == [0, 0, 0, len(bodies)]
    assert [r.body for r in Store(url).read(RECORD)] == bodies


def test_as_of_fold_holds_only_events_up_to_that_date(store, bodies):
    # The events of one record a day apart (event n on day n), so a date cuts the record after an event.
    spread = []
    for b in bodies:
        on = datetime.fromisoformat(b["on"]) + timedelta(days=b["seq"])
        spread.append({**b, "on": on.isoformat().replace("+00:00", "Z") if b["on"].endswith("Z") else on.isoformat()})
    store.append(RECORD, linked(spread))
    issued = next(b for b in spread if b["type"] == "FindingsIssued")
    cut = datetime.fromisoformat(issued["on"]).date() - timedelta(days=1)
    rows = store.read(RECORD, upto=cut)
    assert [r.seq for r in rows] == list(range(1, issued["seq"]))
    then = fold(EVENT_ADAPTER.validate_python(r.body) for r in rows)
    now = fold(EVENT_ADAPTER.validate_python(b) for b in spread)
    assert then.stage != now.stage  # before the findings were issued the case was at another stage


def test_an_unreachable_store_is_unavailable(url, tmp_path, bodies):
    down = Store(down_url(url, tmp_path))
    with pytest.raises(StoreUnavailable) as unavailable:
        down.append(RECORD, linked(bodies))
    assert "s3cret" not in str(unavailable.value)  # the password of the URL is never in the message
    for read in (lambda: down.read(RECORD), down.cases, down.count):
        with pytest.raises(StoreUnavailable):
            read()


def test_a_database_refusing_connections_is_unavailable_then_back(postgres_url, bodies):
    """A database that goes away while a Store is in use (its connections cut, new ones refused): StoreUnavailable,
    and the same Store works again once it is back."""
    import psycopg

    from tests.conftest import with_database

    name = "stopped_" + os.urandom(4).hex()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = with_database(postgres_url, name)
    store = Store(url)
    store.append(RECORD, linked(bodies)[:2])
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    with pytest.raises(StoreUnavailable, match=name):
        store.append(RECORD, linked(bodies))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")
    assert store.append(RECORD, linked(bodies)) == len(bodies) - 2
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_a_postgres_url_over_tcp_reaches_the_same_cluster(postgres_db, bodies):
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(postgres_db)
    port = parse_qs(parts.query)["port"][0]
    tcp = f"postgresql://enforce@127.0.0.1:{port}{parts.path}"
    Store(tcp).append(RECORD, linked(bodies))
    assert [r.body for r in Store(postgres_db).read(RECORD)] == bodies


def test_the_setting_chooses_the_store(url, monkeypatch, data_dir, bodies):
    monkeypatch.setenv("ENFORCE_RECORD_URL", url)
    Store().append(RECORD, linked(bodies))
    assert [r.body for r in Store(url).read(RECORD)] == bodies
    monkeypatch.delenv("ENFORCE_RECORD_URL")
    default = Store()  # unset: SQLite in the data folder
    assert default.path == data_dir / "record.db"
    assert default.read(RECORD) == []


@pytest.mark.parametrize("url", ["mysql://db/record", "sqlite://relative.db", "record.db"])
def test_an_unknown_store_url_is_refused(url):
    with pytest.raises(ValueError, match="ENFORCE_RECORD_URL"):
        Store(url)


# The schema: created by the project's own migrations (a schema_version table), once.


def test_the_schema_is_created_once_and_kept_on_reconnect(url, bodies):
    first = Store(url)
    first.append(RECORD, linked(bodies))
    applied = first.schema()
    migrations = backend(url).migrations
    assert [v for v, _ in applied] == list(range(1, len(migrations) + 1))
    again = Store(url)  # a new process's store: connects and checks the schema again
    assert again.schema() == applied  # same versions, same times: nothing applied twice
    assert [r.body for r in again.read(RECORD)] == bodies
    assert again.append(RECORD, linked(bodies)) == 0


def test_workers_starting_together_create_the_schema_once(url):
    stores = [Store(url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    failures: list[BaseException] = []

    def first_connect(s: Store) -> None:
        barrier.wait()
        try:
            s.count()
        except Exception as e:  # reported below
            failures.append(e)

    threads = [threading.Thread(target=first_connect, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert [v for v, _ in Store(url).schema()] == list(range(1, len(backend(url).migrations) + 1))


def test_an_older_schema_is_brought_up_to_date(url, bodies):
    migrations = backend(url).migrations
    assert len(migrations) >= 2
    old = Store(url, migrations=migrations[:1])  # a store written by a release that knew version 1 only
    old.append(RECORD, linked(bodies)[:3])
    assert [v for v, _ in old.schema()] == [1]
    new = Store(url)
    assert new.append(RECORD, linked(bodies)) == len(bodies) - 3
    assert [v for v, _ in new.schema()] == list(range(1, len(migrations) + 1))
    assert new.schema()[0] == old.schema()[0]
    assert old.count() == len(bodies)  # and the older release still reads it


# The activity, in a real worker on the time-skipping server, called by a tiny workflow.

from temporalio import workflow  # noqa: E402
from temporalio.client import WorkflowFailureError  # noqa: E402
from temporalio.worker import UnsandboxedWorkflowRunner, Worker  # noqa: E402

from activities.store import (  # noqa: E402
    APPEND_RETRY,
    APPEND_TIMEOUT,
    AppendInput,
    AppendResult,
    StoredEvent,
    append_events,
)


@workflow.defn(sandboxed=False)
class AppendTwice:
    @workflow.run
    async def run(self, req: AppendInput) -> list[AppendResult]:
        out = []
        for _ in range(2):
            out.append(
                await workflow.execute_activity(
                    append_events, req, start_to_close_timeout=APPEND_TIMEOUT, retry_policy=APPEND_RETRY
                )
            )
        return out


@pytest.fixture
async def worker_env():
    env = await start_skipping(data_converter=codec.data_converter())
    async with Worker(
        env.client,
        task_queue="store-test",
        workflows=[AppendTwice],
        activities=[append_events],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield env
    await env.shutdown()


def _input(bodies) -> AppendInput:
    return AppendInput(record=RECORD, events=[StoredEvent(body=b, link=lnk) for b, lnk in linked(bodies)])


async def _run(env, req: AppendInput, wid: str) -> list[AppendResult]:
    return await env.client.execute_workflow(AppendTwice.run, req, id=wid, task_queue="store-test")


async def test_the_activity_appends_once_when_called_twice(worker_env, url, monkeypatch, bodies):
    monkeypatch.setenv("ENFORCE_RECORD_URL", url)
    first, second = await _run(worker_env, _input(bodies), "append-twice")
    assert (first.appended, second.appended) == (len(bodies), 0)
    assert first.head == second.head == linked(bodies)[-1][1]
    assert [r.body for r in Store(url).read(RECORD)] == bodies


async def test_a_conflict_fails_the_workflow_without_retrying(worker_env, url, monkeypatch, bodies):
    monkeypatch.setenv("ENFORCE_RECORD_URL", url)
    Store(url).append(RECORD, linked(bodies))
    other = [{**bodies[0], "by": "respondent"}]
    with pytest.raises(WorkflowFailureError) as failed:
        await _run(worker_env, _input(other), "append-conflict")
    cause = failed.value.cause.cause
    assert cause.type == "RecordConflict" and "event 1" in cause.message
    assert [r.body for r in Store(url).read(RECORD)] == bodies


async def test_a_store_down_is_retried_until_it_is_back(worker_env, url, tmp_path, monkeypatch, bodies):
    # The worker's setting names a store that cannot be reached, then the operator fixes it (the activity
    # reads ENFORCE_RECORD_URL on every attempt).
    monkeypatch.setenv("ENFORCE_RECORD_URL", down_url(url, tmp_path))
    handle = await worker_env.client.start_workflow(
        AppendTwice.run, _input(bodies), id="append-down", task_queue="store-test"
    )
    await asyncio.sleep(3)
    desc = await handle.describe()
    assert desc.status.name == "RUNNING"
    assert Store(url).count() == 0
    monkeypatch.setenv("ENFORCE_RECORD_URL", url)
    first, _ = await asyncio.wait_for(handle.result(), 60)
    assert first.appended == len(bodies)
    assert [r.body for r in Store(url).read(RECORD)] == bodies


def test_stats_count_what_the_stored_record_holds(store, bodies):
    from domain.stats import stats

    store.append(RECORD, linked(bodies))
    events = [EVENT_ADAPTER.validate_python(r.body) for r in store.read(RECORD)]
    figures = stats([events])
    # By hand: the record opens one case (2021, its procedure), none closed; one deadline was set and met.
    opened = bodies[0]
    assert [(r.year, r.procedure, r.opened, r.closed) for r in figures.opened_closed] == [
        (int(opened["opened"][:4]), opened["procedure"], 1, 0)
    ]
    sets = [b for b in bodies if b["type"] == "DeadlineSet"]
    mets = [b for b in bodies if b["type"] == "DeadlineMet"]
    assert len(sets) >= 1 and len(mets) == 1
    kind = next(b for b in sets if b["deadline_id"] == mets[0]["deadline_id"])
    assert [(r.authority, r.kind, r.met, r.missed) for r in figures.deadlines] == [
        (kind["authority"], kind["kind"], 1, 0)
    ]
