"""Test session: real Temporal servers from the project's own wheels, started once per session."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as enforce_worker
from enforce import codec, identity, keys, settings
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
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=executable("temporal-test-server"),
        data_converter=codec.data_converter(),
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real dev server with the project's search attributes, for what the test server cannot do."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=executable("temporal"),
        search_attributes=sa.ALL,
        data_converter=codec.data_converter(),
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def running(task_queue, tmp_path, slug):
    """The Clearview case, just opened under a slug of its own, with a worker on a time-skipping server of its
    own: the test server's clock is global, and a worker stopped with an activity in flight can leave its time
    skipping locked (sdk-java#1138), so no test inherits another's."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=executable("temporal-test-server"), data_converter=codec.data_converter()
    )
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
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=executable("temporal"),
        search_attributes=sa.ALL,
        data_converter=codec.data_converter(),
        dev_server_log_level="error",
        dev_server_extra_args=["--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER}"],
    )
    yield env
    await env.shutdown()
