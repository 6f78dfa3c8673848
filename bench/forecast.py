"""A workload forecast: `enforce simulate` of many case files in one call, against each file in a call of its own.

    .venv/bin/python bench/forecast.py [--files 100] [--alone 6]

The files are copies of the shipped cases (cases/*.toml, taken in turn), each under a slug of its own, in a
folder of their own. One call, `enforce simulate <folder> -o json`, runs them all on one time-skipping server
with one worker, as a user runs it (a process of its own). The baseline is the way it was done before one
call could take many: each file in an `enforce simulate` call of its own (a server, a worker and the
command's start each time), timed for the first `--alone` files and scaled to all of them. Prints the
figures, the ratio, and the deadlines the forecast counted; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

SLUG = re.compile(r'^slug = "([^"]+)"$', re.MULTILINE)


def copies(folder: Path, n: int) -> list[Path]:
    """n case files, the shipped cases in turn, each under a slug of its own."""
    shipped = sorted((ROOT / "cases").glob("*.toml"))
    out = []
    for i in range(n):
        source = shipped[i % len(shipped)]
        text, found = SLUG.subn(rf'slug = "\1-{i:04d}"', source.read_text(), count=1)
        assert found == 1, f"{source}: no slug line"
        path = folder / f"{i:04d}-{source.name}"
        path.write_text(text)
        out.append(path)
    return out


def simulate(*args: str) -> tuple[float, dict]:
    seconds, done = harness.enforce("simulate", *args, "-o", "json")
    if done.returncode != 0:
        sys.exit(f"enforce simulate {' '.join(args)[:80]}: exit {done.returncode}: {done.stderr.strip()[-400:]}")
    return seconds, json.loads(done.stdout)


def main(args) -> None:
    harness.private_env()
    folder = Path(tempfile.mkdtemp(prefix="enforce-forecast-"))
    files = copies(folder, args.files)
    load = os.getloadavg()[0]
    whole, found = simulate(str(folder))
    cases = found["cases"]
    deadlines = sum(c["deadlines"] for c in cases)
    months = len(found["deadlines_per_month"])
    alone = [simulate(str(p))[0] for p in files[: args.alone]]
    per = statistics.mean(alone)
    print(f"enforce simulate of {len(files)} case files (copies of the {len(set(p.name[5:] for p in files))} "
          f"shipped cases), load average {load:.1f} at the start")  # fmt: skip
    print(f"  one call (one server, one worker):   {whole:7.1f} s, {whole / len(files):.2f} s a case, "
          f"{len(cases)} cases in the output, {deadlines} deadlines over {months} months")  # fmt: skip
    print(f"  a call per file (first {len(alone)} timed): {per:7.2f} s a case (min {min(alone):.2f}, "
          f"max {max(alone):.2f}), ~{per * len(files):.0f} s for all {len(files)}")  # fmt: skip
    print(f"  ratio one call / a call per file: {whole / (per * len(files)):.2f}x")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=100, help="case files in the one call (default 100)")
    p.add_argument("--alone", type=int, default=6, help="files also simulated in a call of their own")
    main(p.parse_args())
    sys.stdout.flush()
    os._exit(0)
