"""How long the whole Clearview case takes to simulate, and what the pure parts cost.

    .venv/bin/python bench/simulation.py [runs]

Prints figures; asserts nothing. Speed is measured here, never in the test suite.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain.deadlines import due_date  # noqa: E402
from domain.state import fold  # noqa: E402
from enforce import simulate  # noqa: E402
from enforce.cases import load_case  # noqa: E402


def main(runs: int) -> None:
    os.environ.setdefault("ENFORCE_DATA_DIR", tempfile.mkdtemp(prefix="enforce-bench-"))
    case, procedure = load_case(ROOT / "cases" / "clearview.toml")
    seconds, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = asyncio.run(simulate.run(case, procedure))
        seconds.append(time.perf_counter() - started)
    assert result is not None
    print(f"simulate clearview: {len(result.events)} events, {len(result.deadlines)} deadlines, "
          f"{runs} runs: median {statistics.median(seconds):.2f} s, min {min(seconds):.2f} s, "
          f"max {max(seconds):.2f} s")

    started = time.perf_counter()
    for _ in range(200):
        fold(result.events)
    print(f"fold of {len(result.events)} events: {(time.perf_counter() - started) / 200 * 1000:.2f} ms")

    rule = procedure.authority("oipc-bc").deadlines["compliance"]
    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(2000)]
    started = time.perf_counter()
    for d in days:
        due_date(rule, d, procedure.calendars)
    print(f"BC PIPA 30-day due dates: {(time.perf_counter() - started) / len(days) * 1e6:.1f} us each "
          f"(calendars cached after the first year)")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
