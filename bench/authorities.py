"""The joint lifecycle to escalation with 4, 8, 16 and 28 authorities: time and Temporal work per case.

    .venv/bin/python bench/authorities.py [--sizes 4,8,16,28] [--cases 2]

A procedure is data (docs/case-file.md: a `procedures/<id>.toml` beside the case file wins over the shipped
one), so each size gets a `ca-joint` procedure of its own: the four Canadian authorities and, beyond them,
copies of OIPC Alberta's definition (its powers, sections, calendar and clocks) under the ids `dpa-05` ...,
and the Clearview case file with that many authorities. Nothing in the procedure or case-file format caps
the number below LIST_MAX (200); the templates are the shipped ca-joint ones.

For each size, `--cases` cases are driven concurrently through the same lifecycle as bench/throughput.py
(open, draft findings, every co-authority's concurrence, recommendations, a refused answer, escalation),
then as many bare cases (bench/bare.py, the same steps with one update per concurrence and one notice per
co-authority) on the same dev server and worker. Prints, per size: seconds per case, history events per
case and per authority, for the project and the bare set, and their ratios, so that linear growth (or not)
in the number of authorities shows. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bare, harness  # noqa: E402
from bench.throughput import Counts, drive_project  # noqa: E402

CANADIAN = ["opc", "cai-qc", "oipc-bc", "oipc-ab"]


def extra_ids(n: int) -> list[str]:
    return [f"dpa-{k:02d}" for k in range(5, n + 1)]


def procedure_text(n: int) -> str:
    """ca-joint with n authorities: the Canadian four, then copies of OIPC Alberta's definition."""
    text = (ROOT / "domain" / "procedures" / "ca-joint.toml").read_text()
    start = text.index("[authorities.oipc-ab]")
    ab = text[start:]
    copies = []
    for aid in extra_ids(n):
        k = aid.split("-")[1]
        block = ab.replace("[authorities.oipc-ab", f"[authorities.{aid}")
        block = re.sub(r'^name = ".*"$', f'name = "Data Protection Authority {k}"', block, count=1, flags=re.M)
        block = re.sub(r'^short = ".*"$', f'short = "DPA {k}"', block, count=1, flags=re.M)
        copies.append(block)
    return text + "\n" + "\n".join(copies)


def write_procedure_case(n: int, folder: Path | None = None):
    """A case file with n authorities and its procedure, in a folder of their own; loaded and validated."""
    from enforce.cases import load_case

    folder = folder or Path(tempfile.mkdtemp(prefix=f"enforce-auth{n}-"))
    (folder / "procedures").mkdir(parents=True, exist_ok=True)
    (folder / "procedures" / "ca-joint.toml").write_text(procedure_text(n))
    ids = (CANADIAN + extra_ids(n))[:n]
    case = (ROOT / "cases" / "clearview.toml").read_text()
    case = case[: case.index("[[steps]]")]  # the live lifecycle is driven here, not scripted
    case = re.sub(r"^authorities = \[.*\]$", "authorities = [" + ", ".join(f'"{a}"' for a in ids) + "]", case,
                  count=1, flags=re.M)  # fmt: skip
    files = "".join(f'{a} = "F-{a}"\n' for a in ids if a not in CANADIAN)
    case = case.replace('oipc-ab = "015017"\n', 'oipc-ab = "015017"\n' + files, 1) if n >= 4 else case
    path = folder / "case.toml"
    path.write_text(case)
    return load_case(path)


async def main(args) -> None:
    harness.private_env()
    sizes = [int(x) for x in args.sizes.split(",")]
    harness.users_for(extra_ids(max(sizes)))  # the generated authorities sign their acts too
    from temporalio.worker import Worker

    import worker as enforce_worker
    from enforce.simulate import settled

    run = uuid.uuid4().hex[:6]
    rows = []
    async with harness.dev_server() as env:
        client = env.client
        queue = f"auth-{run}"
        async with Worker(
            client,
            task_queue=queue,
            workflows=[*enforce_worker.WORKFLOWS, bare.BareCase],
            activities=[*enforce_worker.ACTIVITIES, bare.bare_notice],
        ):
            for n in sizes:
                base, procedure = write_procedure_case(n)
                cases = [base.model_copy(update={"slug": f"au-{run}-{n:02d}-{i}"}) for i in range(args.cases)]
                counts = Counts()
                cpu = harness.Cpu()
                cpu.start()
                await asyncio.gather(*(drive_project(client, c, procedure, queue, counts) for c in cases))
                cpu.stop()
                bcpu = harness.Cpu()
                bcpu.start()
                await asyncio.gather(
                    *(
                        bare.drive_bare(client, f"{run}-{n:02d}-{i}", base.lead, base.authorities, queue)
                        for i in range(args.cases)
                    )
                )
                bcpu.stop()
                for c in cases:
                    await settled(client, c.slug, c.authorities)
                await asyncio.sleep(1.0)
                pw = await harness.work_of(client, f"WorkflowId STARTS_WITH 'investigation-au-{run}-{n:02d}-'")
                bw = await harness.work_of(client, f"WorkflowId STARTS_WITH 'bare-{run}-{n:02d}-'")
                rows.append((n, cpu, bcpu, pw, bw))
                k = args.cases
                print(f"  {n:>2} authorities: project {cpu.wall / k:6.2f} s/case, {pw.total / k:7.0f} events/case; "
                      f"bare {bcpu.wall / k:5.2f} s/case, {bw.total / k:5.0f} events/case", flush=True)  # fmt: skip
    k = args.cases
    print(f"lifecycle to escalation by number of authorities, {k} cases of each driven concurrently per size, "
          f"one dev server (SQLite in memory), one worker")  # fmt: skip
    print(f"{'n':>3} {'s/case':>8} {'events/case':>12} {'events/auth':>12} {'server CPU s':>13} | {'bare s/case':>11} "
          f"{'bare events':>12} {'bare ev/auth':>13} | {'time x':>7} {'events x':>9}")  # fmt: skip
    for n, cpu, bcpu, pw, bw in rows:
        print(f"{n:>3} {cpu.wall / k:>8.2f} {pw.total / k:>12.0f} {pw.total / k / n:>12.1f} {cpu.server / k:>13.1f} | "
              f"{bcpu.wall / k:>11.2f} {bw.total / k:>12.0f} {bw.total / k / n:>13.1f} | "
              f"{cpu.wall / bcpu.wall:>7.1f} {pw.total / max(bw.total, 1):>9.1f}")  # fmt: skip
    n0, cpu0, _, pw0, _ = rows[0]
    for n, cpu, _, pw, _ in rows[1:]:
        print(f"  {n0} -> {n} authorities ({n / n0:.0f}x): time {cpu.wall / cpu0.wall:.1f}x, "
              f"events {pw.total / pw0.total:.1f}x  (linear would be {n / n0:.0f}x)")  # fmt: skip
    for n, _, _, pw, _ in rows:
        by_type = ", ".join(f"{t} {e / k:.0f}" for t, e in pw.events.most_common())
        print(f"  {n:>2} authorities, events per case by workflow type: {by_type}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="4,8,16,28", help="numbers of authorities (default 4,8,16,28)")
    p.add_argument("--cases", type=int, default=2, help="cases per size (default 2)")
    started = time.perf_counter()
    asyncio.run(main(p.parse_args()))
    print(f"wall time {time.perf_counter() - started:.0f} s")
    sys.stdout.flush()
    harness.os._exit(0)  # sdk-python#300
