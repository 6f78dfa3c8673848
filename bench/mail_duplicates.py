"""How often a notice reaches the SMTP server twice when workers are killed during delivery, and how long a
killed delivery takes to come back.

    .venv/bin/python bench/mail_duplicates.py [--notices 30] [--kills 15] [--seconds 240] [--server-ms 20] [--gap 2]
        [--open-every 0.3]

Real parts only: a Temporal dev server (.venv/bin/temporal), an aiosmtpd server on loopback that answers each
command after `--server-ms` milliseconds (a server that is not instant), and `python -m worker` as a
subprocess. One case is opened every `--open-every` seconds, its respondent on the smtp channel (one notice
per case). Each kill waits until some delivery is in flight (a `.sending.json` marker on disk), waits a random
0-80 ms more, sends SIGKILL, and restarts the worker at once; the next kill comes `--gap` seconds after the
restart at the earliest. It stops when every notice has its receipt, or after `--seconds`. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from enforce import codec, investigations, settings  # noqa: E402
from enforce.cases import load_case  # noqa: E402
from tests.casefiles import smtp_case_text, write_case  # noqa: E402
from workflows import search_attributes as sa  # noqa: E402

BIN = Path(sys.executable).parent


class Recording:
    """Keeps (arrival time, Message-ID) of every message it accepts."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.arrivals: list[tuple[float, str]] = []
        self.began: list[float] = []  # for each arrival: when its transaction began (MAIL FROM)
        self.wall: dict[str, float] = {}  # Message-ID: when (time.time()) the server last answered 250
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.began = time.monotonic()
        await asyncio.sleep(self.delay)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        await asyncio.sleep(self.delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)  # queueing the message before the 250: inside the residual window
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.arrivals.append((time.monotonic(), str(msg["Message-ID"])))
            self.began.append(envelope.began)
            self.wall[str(msg["Message-ID"])] = time.time()
        return "250 2.0.0 OK queued"


def message_id_of(marker: Path) -> str:
    return f"<{marker.name.split('.')[0]}@enforce>"


async def run(args: argparse.Namespace) -> None:
    started = time.monotonic()
    deadline = started + args.seconds
    data = Path(tempfile.mkdtemp(prefix="enforce-bench-mail-"))
    handler = Recording(args.server_ms / 1000)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    smtp = Controller(handler, hostname="127.0.0.1", port=port)
    smtp.start()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        search_attributes=sa.ALL,
        data_converter=codec.data_converter(),
        dev_server_log_level="error",
    )
    worker_env = {
        **os.environ,
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": "default",
        "ENFORCE_DATA_DIR": str(data),
        "ENFORCE_SMTP_HOST": "127.0.0.1",
        "ENFORCE_SMTP_PORT": str(port),
        "ENFORCE_SMTP_FROM": "Notices <notices@opc.example>",
        "ENFORCE_SMTP_STARTTLS": "0",
    }

    def start_worker() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "worker"],
            env=worker_env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    sent = data / "sent" / "respondent"
    kills: list[tuple[float, set[str]]] = []  # (when, the Message-IDs of the deliveries in flight)
    worker, since = start_worker(), time.time()

    def in_flight() -> set[str]:
        """Deliveries the current worker has begun and not finished: their marker is this worker's."""
        begun = {message_id_of(m) for m in sent.glob("*.sending.json") if m.stat().st_mtime >= since}
        return begun - {message_id_of(r) for r in sent.glob("*.receipt.json")}

    async def open_cases() -> None:
        for i in range(args.notices):
            slug = f"bench-{i:03d}"
            case, procedure = load_case(write_case(data, smtp_case_text(slug), f"{slug}.toml"))
            await investigations.start(env.client, case, procedure, task_queue=settings.TASK_QUEUE)
            await asyncio.sleep(args.open_every)

    opening = asyncio.create_task(open_cases())
    try:
        while time.monotonic() < deadline:
            receipts = list(sent.glob("*.receipt.json")) if sent.exists() else []
            if len(receipts) >= args.notices:
                break
            if len(kills) < args.kills and sent.exists() and in_flight():
                await asyncio.sleep(random.uniform(0, 0.08))
                caught = in_flight()
                worker.send_signal(signal.SIGKILL)
                kills.append((time.monotonic(), caught))
                await asyncio.to_thread(worker.wait)
                worker, since = start_worker(), time.time()
                await asyncio.sleep(args.gap)  # the next kill: at another delivery, not this restart's first
                continue
            await asyncio.sleep(0.005)
        await opening
    finally:
        opening.cancel()
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        await env.shutdown()
        smtp.stop()

    arrivals = list(handler.arrivals)
    # A retry's copy: an arrival whose transaction began after the kill (not the killed attempt's own copy,
    # which the server can still accept a moment after the kill, when the final dot was already on the wire).
    retried = [(t, m, began) for (t, m), began in zip(arrivals, handler.began, strict=True)]
    ids = [m for _, m in arrivals]
    counts = {m: ids.count(m) for m in set(ids)}
    duplicates = sum(n - 1 for n in counts.values())
    receipts = list(sent.glob("*.receipt.json")) if sent.exists() else []
    # Kill to redelivery: a delivery in flight at a kill, to its retry's arrival at the server, or to the next
    # kill that caught its retry in flight (the retry was under way by then). Split by the attempt killed: the
    # first attempt's retry waits the heartbeat timeout and 2 s; later ones the retry policy's growing backoff.
    redelivered: dict[bool, list[float]] = {True: [], False: []}
    clean: list[float] = []  # those that arrived with no other kill in between
    lost, seen = 0, {}
    for i, (when, caught) in enumerate(kills):
        for mid in caught:
            seen[mid] = seen.get(mid, 0) + 1
            ends = [t for t, m, began in retried if m == mid and began > when]
            ends += [later for later, again in kills[i + 1 :] if mid in again]
            if ends:
                redelivered[seen[mid] == 1].append(min(ends) - when)
                if not any(when < later < min(ends) for later, _ in kills):
                    clean.append(min(ends) - when)
            elif not any(m == mid and t <= when for t, m in arrivals):
                lost += 1  # (else: accepted and its receipt written just before the kill; nothing to redo)
    print(
        f"notices: {args.notices} (receipts: {len(receipts)}), kills: {len(kills)}, "
        f"deliveries in flight at a kill: {sum(len(f) for _, f in kills)}, server answering in {args.server_ms} ms"
    )
    print(
        f"messages received: {len(arrivals)}, distinct Message-IDs: {len(counts)}, duplicates: {duplicates}, "
        f"duplicate rate: {duplicates / max(len(counts), 1):.1%} of notices"
    )
    for first, label in ((True, "its first kill"), (False, "a later kill")):
        if got := redelivered[first]:
            print(
                f"kill to redelivery, a delivery at {label}: median {statistics.median(got):.1f} s, "
                f"min {min(got):.1f} s, max {max(got):.1f} s over {len(got)}"
            )
    if clean:
        print(
            f"kill to redelivery with no other kill before it arrived: median {statistics.median(clean):.1f} s, "
            f"min {min(clean):.1f} s, max {max(clean):.1f} s over {len(clean)}"
        )
    # The residual window as seen from here: the server's 250 (stamped just before it is sent) to the receipt's
    # rename (its mtime); the server's own queueing time before the 250 (--server-ms) comes on top.
    answered = handler.wall
    window = [(r.stat().st_mtime - answered[message_id_of(r)]) * 1000 for r in receipts if message_id_of(r) in answered]
    if window:
        print(
            f"server's 250 to the receipt on disk: median {statistics.median(window):.1f} ms, "
            f"max {max(window):.1f} ms (plus the server's {args.server_ms:.0f} ms before its 250)"
        )
    flagged = sum(1 for r in receipts if json.loads(r.read_text())["possible_duplicate"])
    print(f"receipts flagged possible_duplicate (an attempt stopped in DATA without a reply): {flagged}")
    if lost:
        print(f"{lost} deliveries caught by a kill were not redelivered before the end")
    print(f"wall time: {time.monotonic() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=30)
    parser.add_argument("--kills", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument("--server-ms", type=float, default=20)
    parser.add_argument("--open-every", type=float, default=0.3, help="seconds between two cases opened")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds from a restart to the next possible kill")
    asyncio.run(run(parser.parse_args()))
    sys.stdout.flush()
    os._exit(0)  # sdk-python#300: no interpreter teardown after a client


if __name__ == "__main__":
    main()
