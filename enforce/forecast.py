"""`enforce simulate` of many case files in one call: a workload forecast.

Every file is read and checked before any case runs; the cases then run one after another on one
time-skipping server with one worker (enforce.simulate.run_many, which releases the test server's clock
between cases). What comes out: per case its outcome, and the deadlines of all of them per month (of their
due date) per authority.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pydantic import BaseModel
from rich.table import Table

from domain.case import CaseFile
from domain.errors import DataError
from domain.procedure import Procedure
from enforce.cases import load_case
from enforce.simulate import SimulationError, SimulationResult
from enforce.views import plain

# Deadlines that no longer ask anything of anyone are not workload.
NOT_WORKLOAD = ("cancelled",)
BAR_WIDTH = 30


def case_files(paths: Sequence[Path]) -> list[Path]:
    """The files named, a folder standing for the case files (*.toml) directly in it, in name order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.glob("*.toml") if p.is_file())
            if not inside:
                raise DataError(str(path), "(folder)", "holds no case file (*.toml)")
            found += inside
        else:
            found.append(path)
    return found


def load_all(files: Sequence[Path]) -> list[tuple[CaseFile, Procedure]]:
    """Every case file read and checked, or the first DataError (naming its file and field): nothing runs
    until all are good. Two files of the same slug would share one case's workflows and folder: refused."""
    loaded, seen = [], {}
    for path in files:
        case, procedure = load_case(path, forecast=True)
        if case.slug in seen:
            raise DataError(str(path), "slug", f"{case.slug!r} is also the slug of {seen[case.slug]}")
        seen[case.slug] = str(path)
        loaded.append((case, procedure))
    return loaded


class CaseOutcome(BaseModel):
    file: str
    slug: str
    # The joint record's stage at the end, or `failed` (a step refused: `error` says which).
    stage: str
    events: int = 0
    deadlines: int = 0
    outcomes: dict[str, str] = {}
    error: str = ""


class Forecast(BaseModel):
    cases: list[CaseOutcome]
    authorities: list[str]
    # Month of the due date (YYYY-MM) -> authority -> deadlines due then (all cases, cancelled ones left out).
    deadlines_per_month: dict[str, dict[str, int]]

    @property
    def failed(self) -> int:
        return sum(1 for c in self.cases if c.error)


def forecast(files: Sequence[Path], results: Sequence[SimulationResult | SimulationError]) -> Forecast:
    cases, authorities, months = [], [], {}
    for path, result in zip(files, results, strict=True):
        if isinstance(result, SimulationError):
            cases.append(CaseOutcome(file=str(path), slug="", stage="failed", error=str(result)))
            continue
        counted = [d for d in result.deadlines if d.status not in NOT_WORKLOAD]
        for d in counted:
            if d.authority not in authorities:
                authorities.append(d.authority)
            month = months.setdefault(f"{d.due:%Y-%m}", {})
            month[d.authority] = month.get(d.authority, 0) + 1
        cases.append(
            CaseOutcome(
                file=str(path),
                slug=result.slug,
                stage=result.stage or "",
                events=len(result.events),
                deadlines=len(counted),
                outcomes={a: t.outcome for a, t in result.tracks.items() if t.outcome},
            )
        )
    return Forecast(cases=cases, authorities=authorities, deadlines_per_month=dict(sorted(months.items())))


def deadlines_table(f: Forecast) -> Table:
    table = Table(title="Deadlines per month of their due date, per authority (cancelled ones left out)")
    table.add_column("month")
    for a in f.authorities:
        table.add_column(a, justify="right")
    table.add_column("all", justify="right")
    for month, counts in f.deadlines_per_month.items():
        cells = [str(counts.get(a, "")) for a in f.authorities]
        table.add_row(plain(month), *map(plain, cells), plain(str(sum(counts.values())), "bold"))
    return table


def cases_table(f: Forecast) -> Table:
    table = Table(title=f"Cases ({len(f.cases)}, {f.failed} failed)")
    for name in ("file", "case", "stage", "events", "deadlines", "outcome"):
        table.add_column(name, justify="right" if name in ("events", "deadlines") else "left")
    for c in f.cases:
        outcome = c.error or "; ".join(f"{a}: {o}" for a, o in c.outcomes.items())
        table.add_row(
            plain(c.file), plain(c.slug), plain(c.stage, "red" if c.error else ""),
            plain(str(c.events)), plain(str(c.deadlines)), plain(outcome),
        )  # fmt: skip
    return table


class Bar:
    """Progress on stderr: a bar redrawn in place on a terminal, else one plain line per case finished."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.stream, self.done = total, stream, 0
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.shown = ""

    def _line(self, what: str) -> str:
        filled = BAR_WIDTH * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        return f"[{bar}] {self.done}/{self.total} {time.monotonic() - self.started:.0f}s {what}"

    def step(self, what: str) -> None:
        """A step of the case under way: shown on a terminal only."""
        if self.tty:
            line = self._line(what)[:200]
            self.stream.write("\r" + line.ljust(len(self.shown)))
            self.stream.flush()
            self.shown = line

    def case_done(self, path: Path, result: SimulationResult | SimulationError) -> None:
        self.done += 1
        what = f"{path}: failed" if isinstance(result, SimulationError) else f"{path}: {result.stage}"
        if self.tty:
            self.step(what)
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(self._line(what) + "\n")
        self.stream.flush()
