"""The `enforce` command's start-up, as a user runs it: a process of its own for each command.

    .venv/bin/python bench/cli.py [--runs 7]

A dev server (bench/harness.py) and the project's worker (`enforce worker`, a subprocess), the Clearview case
opened and parked on its timers (its notice served, its tracks started). Then `enforce --help`, `enforce list`,
`enforce list --due-within 30d` and `enforce show <case>` are each run `--runs` times through the installed
`enforce` entry point; printed: the median and the fastest wall time, the median CPU time (user and system:
less moved than the wall time by other work on the machine), and, from one more run under
`python -X importtime`, how many modules the command imports and what importing them took. Last, the same
visibility query and `state` query from this process, already connected: what the command costs beyond them
is its start-up.

Prints figures; asserts nothing. On a machine shared with other work the figures move by tens of ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv[1:])}: exit {done.returncode}: {done.stderr.strip()[:300]}")
    return seconds, _children_cpu() - cpu


def imports(args: list[str], env: dict[str, str]) -> tuple[int, float]:
    """Modules the command imports, and the time importing them took (the top-level imports' cumulative
    times, from `python -X importtime`)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "enforce.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    n, top = 0, 0
    for line in done.stderr.splitlines():
        m = _IMPORT_LINE.match(line)
        if m:
            n += 1
            if len(m.group(3)) == 1:  # a top-level import: its cumulative time includes what it imported
                top += int(m.group(2))
    return n, top / 1e6


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [harness.executable("enforce"), "worker"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env=env,
    )


def stop_worker(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def park(client, case, procedure) -> None:
    """Open the case and wait for it to stand on its timers."""
    from enforce import investigations

    await investigations.start(client, case, procedure, indexed=True)
    while True:
        view = await investigations.state(client, case.slug)
        if view.state.stage is not None and view.state.stage.value == "investigating" and not view.pending:
            return
        await asyncio.sleep(0.2)


async def main(args) -> None:
    harness.private_env()
    from enforce import investigations
    from enforce.cases import load_case
    from enforce.watching import DEFAULT_LIMIT, build_query

    case, procedure = load_case(ROOT / "cases" / "clearview.toml")
    case = case.model_copy(update={"slug": f"cli-{uuid.uuid4().hex[:6]}"})
    async with harness.dev_server() as env:
        client = env.client
        address = client.service_client.config.target_host
        cli_env = {**os.environ, "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": client.namespace}
        worker = start_worker(cli_env)
        try:
            await park(client, case, procedure)
            commands = [
                ["--help"],
                ["list"],
                ["list", "--due-within", "30d"],
                ["show", case.slug],
            ]
            enforce = harness.executable("enforce")
            print(f"`enforce` as a user runs it ({args.runs} runs each; one case parked, a worker running):")
            for command in commands:
                runs = [run_once([enforce, *command], cli_env) for _ in range(args.runs)]
                wall, cpu = [w for w, _ in runs], [c for _, c in runs]
                n, imported = imports(command, cli_env)
                label = "enforce " + " ".join("<case>" if c == case.slug else c for c in command)
                print(
                    f"  {label:<30} wall median {statistics.median(wall):.2f} s (fastest {min(wall):.2f} s), "
                    f"CPU median {statistics.median(cpu):.2f} s; {n} modules imported in {imported:.2f} s"
                )
            started = time.perf_counter()
            async for _ in client.list_workflows(build_query(), limit=DEFAULT_LIMIT + 1):
                pass
            listed = time.perf_counter() - started
            queried = []
            for _ in range(args.runs):
                started = time.perf_counter()
                await investigations.state(client, case.slug)
                queried.append(time.perf_counter() - started)
            print(
                f"  from this process, connected: the list's visibility query {listed * 1000:.0f} ms, "
                f"the state query median {statistics.median(queried) * 1000:.0f} ms"
            )
        finally:
            stop_worker(worker)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=7, help="runs of each command (default 7)")
    asyncio.run(main(p.parse_args()))
    sys.stdout.flush()
    os._exit(0)  # sdk-python#300
