"""What the payload codec costs: per action on a live case, per simulated case, and per payload, each as a ratio
to the same work without the codec (the pydantic converter alone, notices on disk in clear).

    .venv/bin/python bench/codec.py [actions] [runs]      # default 30 actions, 3 runs each way, alternated

Prints figures; asserts nothing. Speed is measured here, never in the test suite.
"""

from __future__ import annotations

import asyncio
import base64
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.converter import DataConverter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from enforce import codec, investigations, keys, simulate  # noqa: E402
from enforce.cases import load_case  # noqa: E402
from enforce.dev import temporal_executable  # noqa: E402
from tests.casefiles import clearview_text, write_case  # noqa: E402
from tests.live import action, settle  # noqa: E402

KEYS = codec.KeySet.generate("bench")
CASEFILE = ROOT / "cases" / "clearview.toml"


class Plain:
    """No codec: the pydantic converter alone, and files written as they are."""

    def __enter__(self):
        self.seal, self.conv = codec.seal_bytes, simulate._converter
        codec.seal_bytes = lambda data, keys=None: data
        simulate._converter = lambda: (pydantic_data_converter, {})
        return self

    def __exit__(self, *exc):
        codec.seal_bytes, simulate._converter = self.seal, self.conv


def converter(sealed: bool) -> DataConverter:
    return codec.data_converter(KEYS) if sealed else pydantic_data_converter


async def per_action(sealed: bool, n: int, tmp: Path) -> float:
    """Seconds per `record-evidence` update on a live case (a dev server, a worker in this process)."""
    from temporalio.worker import Worker

    import worker as enforce_worker

    conv = converter(sealed)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_executable(), data_converter=conv, dev_server_log_level="error"
    )
    queue, slug = f"bench-{uuid.uuid4().hex[:6]}", f"bench-{uuid.uuid4().hex[:6]}"
    try:
        async with Worker(
            env.client, task_queue=queue, workflows=enforce_worker.WORKFLOWS, activities=enforce_worker.ACTIVITIES
        ):
            case, procedure = load_case(write_case(tmp, clearview_text(slug), f"{slug}.toml"))
            await investigations.start(env.client, case, procedure, task_queue=queue, indexed=False)
            await settle(env.client, slug)
            started = time.perf_counter()
            for i in range(n):
                await investigations.act(
                    env.client,
                    slug,
                    action("record-evidence", by="opc", description=f"Exhibit {i} of the scraped index", purpose="p"),
                )
            return (time.perf_counter() - started) / n
    finally:
        await env.shutdown()


def per_simulation(runs: int = 1) -> float:
    case, procedure = load_case(CASEFILE)
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        asyncio.run(simulate.run(case, procedure))
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def per_payload(n: int = 2000) -> tuple[float, float, int]:
    """Microseconds to encode+decode a typical `state` answer with and without the codec, and its size."""
    from workflows.messages import StateView

    async def one(conv: DataConverter, value) -> float:
        started = time.perf_counter()
        for _ in range(n):
            payloads = await conv.encode([value])
            await conv.decode(payloads, [StateView])
        return (time.perf_counter() - started) / n * 1e6

    async def go():
        case, procedure = load_case(CASEFILE)
        result = await simulate.run(case, procedure)
        view = StateView(state=result.state, clock=datetime.now(UTC), events=len(result.events))
        size = len((await pydantic_data_converter.encode([view]))[0].data)
        return await one(codec.data_converter(KEYS), view), await one(pydantic_data_converter, view), size

    return asyncio.run(go())


def main(actions: int, runs: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="enforce-bench-codec-"))
    os.environ["ENFORCE_DATA_DIR"] = str(tmp)
    os.environ["ENFORCE_RECORD_KEYS"] = str(tmp / "keys" / "record-keys.json")
    os.environ["ENFORCE_CODEC_KEY"] = base64.b64encode(KEYS.keys[KEYS.current]).decode()
    os.environ.pop("ENFORCE_CODEC_KEYS", None)
    keys.install()

    # Alternated, so that a warm-up or a neighbour's load does not fall on one side only.
    sealed_s, plain_s = [], []
    for _ in range(runs):
        with Plain():
            plain_s.append(asyncio.run(per_action(False, actions, tmp)))
        sealed_s.append(asyncio.run(per_action(True, actions, tmp)))
    sealed, plain = statistics.median(sealed_s), statistics.median(plain_s)
    print(
        f"per action (record-evidence, {actions} on a live case, dev server, median of {runs}): "
        f"codec {sealed * 1e3:.1f} ms, none {plain * 1e3:.1f} ms, ratio {sealed / plain:.2f}"
    )

    sealed_s, plain_s = [], []
    for _ in range(runs):
        with Plain():
            plain_s.append(per_simulation(1))
        sealed_s.append(per_simulation(1))
    sealed, plain = statistics.median(sealed_s), statistics.median(plain_s)
    print(
        f"per simulated case (clearview, median of {runs}): codec {sealed:.2f} s, none {plain:.2f} s, "
        f"ratio {sealed / plain:.2f}"
    )

    with_codec, without, size = per_payload()
    print(
        f"per payload (a state answer, {size} bytes of JSON, encode+decode): codec {with_codec:.0f} µs, "
        f"none {without:.0f} µs, ratio {with_codec / without:.2f}"
    )


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(args[0] if args else 30, args[1] if len(args) > 1 else 3)
