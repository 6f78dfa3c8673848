"""`enforce dev`: the real CLI in subprocesses, on free ports and a throwaway data directory, so a developer's demo
on 7233/8233 is never touched."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from enforce import dev
from workflows import search_attributes

CLI = [sys.executable, "-m", "enforce.main", "dev"]
TEMPORAL = dev.temporal_executable()
NAMES = [spec.split("=")[0] for spec in search_attributes.cli_specs()]


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def env_for(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENFORCE_", "TEMPORAL_"))}
    if "ENFORCE_WORKER_CMD" in os.environ:
        env["ENFORCE_WORKER_CMD"] = os.environ["ENFORCE_WORKER_CMD"]
    env["ENFORCE_DATA_DIR"] = str(data)
    # The users' private keys of this stack's own, not the home folder's: each test's stack is a fresh machine.
    env["ENFORCE_USER_KEYS"] = str(data / "user-keys")
    env["COLUMNS"] = "200"
    return env


def run(data: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], env=env_for(data), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def temporal(*args: str, port: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TEMPORAL, *args, "--address", f"localhost:{port}"], capture_output=True, text=True, timeout=30
    )


def status(data: Path) -> tuple[int, dict]:
    r = run(data, "status", "-o", "json")
    return r.returncode, json.loads(r.stdout)


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def kill_leftovers(data: Path) -> None:
    pids = set()
    with contextlib.suppress(OSError, ValueError):
        state = json.loads((data / "dev.json").read_text())
        pids |= {state.get("temporal_pid"), state.get("worker_pid"), state.get("codec_pid")}
    for name in ("temporal.pid", "worker.pid", "codec.pid"):
        with contextlib.suppress(OSError, ValueError):
            pids.add(int((data / name).read_text()))
    for pid in pids - {None}:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def make_db_without_search_attributes(db: Path) -> None:
    """A database from an earlier dev server that registered none of our search attributes."""
    from temporalio.testing import WorkflowEnvironment

    async def go() -> None:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=TEMPORAL, dev_server_database_filename=str(db)
        )
        await env.shutdown()

    asyncio.run(go())


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`enforce dev up` on free ports, over a database that lacks the search attributes."""
    data = tmp_path_factory.mktemp("dev")
    port, ui_port, codec_port = free_ports(3)
    make_db_without_search_attributes(data / "temporal.db")
    try:
        r = run(data, "up", "--port", str(port), "--ui-port", str(ui_port), "--codec-port", str(codec_port))
        assert r.returncode == 0, r.stdout + r.stderr
        yield {"data": data, "port": port, "ui_port": ui_port, "codec_port": codec_port, "up": r}
    finally:
        run(data, "down")
        kill_leftovers(data)


@pytest.mark.timeout(90)
def test_up_serves_the_ui_and_registers_missing_search_attributes(stack):
    out = stack["up"].stdout
    assert f"localhost:{stack['port']}" in out
    assert f"http://localhost:{stack['ui_port']}" in out
    # The database predates them, so `--search-attribute` alone would not have registered them.
    assert "Registered search attributes" in out
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(f"http://localhost:{stack['ui_port']}/", timeout=5) as resp:
                assert resp.status == 200
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.timeout(30)
def test_search_attributes_are_all_registered(stack):
    r = temporal("operator", "search-attribute", "list", "--output", "json", port=stack["port"])
    assert r.returncode == 0, r.stderr
    listed = r.stdout
    for name in NAMES:
        assert f'"{name}"' in listed, name


@pytest.mark.timeout(30)
def test_status_reports_running(stack):
    code, report = status(stack["data"])
    assert code == 0, report
    assert report["running"] is True
    assert report["server"]["alive"] and report["server"]["answering"]
    assert report["server"]["address"] == f"localhost:{stack['port']}"
    assert report["server"]["ui_url"] == f"http://localhost:{stack['ui_port']}"
    assert report["worker"]["alive"]
    assert report["codec"] == {
        "pid": report["codec"]["pid"],
        "alive": True,
        "answering": True,
        "url": f"http://localhost:{stack['codec_port']}",
    }
    text = run(stack["data"], "status")
    assert f"codec   running  pid {report['codec']['pid']}  http://localhost:{stack['codec_port']}" in text.stdout
    state = json.loads((stack["data"] / "dev.json").read_text())
    assert {"port", "ui_port", "db", "temporal_pid", "worker_pid", "started"} <= state.keys()
    assert int((stack["data"] / "temporal.pid").read_text()) == state["temporal_pid"]
    assert int((stack["data"] / "worker.pid").read_text()) == state["worker_pid"]


@pytest.mark.timeout(60)
def test_up_again_is_harmless_and_restarts_only_a_dead_worker(stack):
    data = stack["data"]
    before = json.loads((data / "dev.json").read_text())
    r = run(data, "up")  # no ports given: it keeps the running stack's
    assert r.returncode == 0, r.stderr
    assert "already running" in r.stdout
    again = json.loads((data / "dev.json").read_text())
    assert (again["temporal_pid"], again["worker_pid"]) == (before["temporal_pid"], before["worker_pid"])

    os.killpg(before["worker_pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(before["worker_pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    code, _ = status(data)
    assert code == 3
    r = run(data, "up")
    assert r.returncode == 0, r.stderr
    after = json.loads((data / "dev.json").read_text())
    assert after["temporal_pid"] == before["temporal_pid"]
    assert after["worker_pid"] != before["worker_pid"] and alive(after["worker_pid"])

    r = run(data, "up", "--port", str(free_ports(1)[0]))
    assert r.returncode == 1 and "enforce dev down" in r.stderr


@pytest.mark.timeout(90)
def test_down_stops_both_and_the_database_persists(stack):
    data, port = stack["data"], stack["port"]
    r = temporal(
        "workflow", "start", "--type", "Nothing", "--task-queue", "test-dev-nobody", "--workflow-id",
        "persisted", "--search-attribute", 'InvestigationStage="test"', port=port,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    state = json.loads((data / "dev.json").read_text())

    r = run(data, "down")
    assert r.returncode == 0, r.stderr
    assert not alive(state["temporal_pid"]) and not alive(state["worker_pid"]) and not alive(state["codec_pid"])
    assert "Stopped the codec server" in r.stdout
    assert not (data / "temporal.pid").exists() and not (data / "worker.pid").exists()
    assert not (data / "codec.pid").exists()
    assert (data / "temporal.db").exists() and (data / "temporal.log").exists()
    # The database an older server made (rollback journal) was turned to the write-ahead log by `up`.
    with contextlib.closing(sqlite3.connect(data / "temporal.db")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    code, report = status(data)
    assert code == 3 and report["running"] is False
    assert run(data, "down").stdout.strip() == "nothing running"

    token = (data / "keys" / "codec-token").read_text()
    r = run(
        data, "up", "--port", str(port), "--ui-port", str(stack["ui_port"]), "--codec-port", str(stack["codec_port"])
    )
    assert r.returncode == 0, r.stderr
    assert "Registered search attributes" not in r.stdout
    assert "Created the codec" not in r.stdout and (data / "keys" / "codec-token").read_text() == token  # kept
    r = temporal("workflow", "describe", "--workflow-id", "persisted", port=port)
    assert r.returncode == 0, r.stderr
    r = temporal("workflow", "list", "--query", 'InvestigationStage="test"', port=port)
    assert "persisted" in r.stdout
    temporal("workflow", "terminate", "--workflow-id", "persisted", "--reason", "test", port=port)


@pytest.mark.timeout(30)
def test_port_taken_by_a_foreign_listener(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        (ui_port,) = free_ports(1)
        r = run(tmp_path, "up", "--port", str(taken), "--ui-port", str(ui_port))
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert str(taken) in lines[0] and "in use" in lines[0]
    assert not (tmp_path / "temporal.pid").exists()


@pytest.mark.timeout(30)
def test_nothing_running(tmp_path):
    r = run(tmp_path, "down")
    assert r.returncode == 0 and r.stdout.strip() == "nothing running"
    r = run(tmp_path, "status")
    assert r.returncode == 3
    assert "stopped" in r.stdout
    r = run(tmp_path, "status", "-o", "yaml")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.timeout(30)
def test_hints_and_help(tmp_path):
    r = run(tmp_path, "hints")
    assert r.returncode == 0
    assert "/namespaces/default/workflows?query=InvestigationStage%20IS%20NOT%20NULL" in r.stdout
    for cmd in ("enforce show clearview-ai", "enforce list", "enforce dev status", "make stop"):
        assert cmd in r.stdout
    for command in ("up", "down", "status", "hints"):
        r = run(tmp_path, command, "--help")
        assert r.returncode == 0, r.stderr
        assert f"Example: enforce dev {command}" in r.stdout


@pytest.mark.timeout(30)
async def test_ensure_search_attributes_is_idempotent():
    from temporalio.testing import WorkflowEnvironment

    env = await WorkflowEnvironment.start_local(dev_server_existing_path=TEMPORAL)
    try:
        created = await dev.ensure_search_attributes(env.client)
        assert sorted(created) == sorted(NAMES)
        assert await dev.ensure_search_attributes(env.client) == []
    finally:
        await env.shutdown()


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


@pytest.mark.timeout(30)
def test_the_ui_decodes_through_the_codec_server_for_a_bearer_of_its_token(stack):
    """The codec server `up` started: the UI is pointed at it, its key set and token are the owner's alone, and
    it opens a payload sealed with the data dir's key set only for a request bearing the token."""
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payload, Payloads

    from enforce import codec

    data, url = stack["data"], f"http://localhost:{stack['codec_port']}"
    assert "Created the codec server's bearer token" in stack["up"].stdout and url in stack["up"].stdout
    token_file, key_file = data / "keys" / "codec-token", data / "keys" / "codec-keys.json"
    for path in (token_file, key_file):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert (data / "keys").stat().st_mode & 0o777 == 0o700
    with urllib.request.urlopen(f"http://localhost:{stack['ui_port']}/api/v1/settings", timeout=5) as resp:
        assert json.loads(resp.read())["Codec"]["Endpoint"] == url

    keys = codec.KeySet.from_json(key_file.read_text())
    sealed = codec.EncryptionCodec(keys).seal(Payload(metadata={"encoding": b"json/plain"}, data=b'"Clearview"'))
    body = json_format.MessageToJson(Payloads(payloads=[sealed])).encode()
    ui_origin = f"http://localhost:{stack['ui_port']}"
    status, _, _ = _post(f"{url}/decode", body, {"Content-Type": "application/json", "Origin": ui_origin})
    assert status == 401
    status, _, _ = _post(f"{url}/decode", body, {"Authorization": "Bearer not-the-token"})
    assert status == 401
    auth = {"Authorization": f"Bearer {token_file.read_text().strip()}", "Origin": ui_origin}
    status, answer, headers = _post(f"{url}/decode", body, {"Content-Type": "application/json", **auth})
    assert status == 200 and headers.get("Access-Control-Allow-Origin") == ui_origin
    [opened] = json_format.Parse(answer, Payloads()).payloads
    assert opened.data == b'"Clearview"'
