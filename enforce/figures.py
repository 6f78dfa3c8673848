"""`enforce stats`: the figures regulators publish each year, from the event store (no Temporal needed).

The CLI reads each case's joint record from the store and presents what `domain.stats.stats` computes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from domain.limits import EARLIEST, LATEST
from enforce.views import plain

if TYPE_CHECKING:
    from rich.table import Table

    from domain.stats import Figures

OUTPUTS = ("table", "json")
NUMERIC = ("year", "opened", "closed", "cases", "met", "missed", "median days")


def _failure(message: str, code: int = 1) -> Exception:
    """One red line on stderr, and the exit status it names (as enforce.paperwork's, for the same reason)."""
    Console(stderr=True, soft_wrap=True).print(plain("error:", "red") + plain(f" {message}"), highlight=False)
    return typer.Exit(code)


def parse_year(text: str) -> int:
    """A year from EARLIEST to LATEST (the dates any record may carry), or ValueError saying why not."""
    try:
        year = int(text.strip())
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a year") from None
    if not EARLIEST.year <= year <= LATEST.year:
        raise ValueError(f"{year} is outside {EARLIEST.year}-{LATEST.year}")
    return year


def _store():
    """The event store to read, or None when its file does not exist (reading must not create it)."""
    from store import Store, default_url

    url = default_url()
    try:
        store = Store(url)
    except ValueError as e:
        raise _failure(str(e), 2) from None
    path = getattr(store, "path", None)
    if isinstance(path, Path) and not path.exists():
        return url, None
    return url, store


def read_records(store) -> tuple[list[list], list[str]]:
    """Each case's joint record, its events parsed; and the cases that have only track records stored."""
    from domain.events import EVENT_ADAPTER
    from store import StoreError
    from workflows.messages import workflow_id

    records, without = [], []
    try:
        for case in store.cases():
            rows = store.read(workflow_id(case))
            if not rows:
                without.append(case)
                continue
            events = []
            for row in rows:
                try:
                    events.append(EVENT_ADAPTER.validate_python(row.body))
                except ValueError:
                    raise _failure(
                        f"{row.record} event {row.seq}: not an event this version reads ({row.type})"
                    ) from None
            records.append(events)
    except StoreError as e:
        raise _failure(str(e)) from None
    return records, without


def _days(value: int | float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def shown(url: str) -> str:
    """The store's URL as printed: any password in it replaced by `***`."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def tables(figures: Figures) -> list[Table]:
    from rich.table import Table

    def table(title: str, *cols: str) -> Table:
        t = Table(title=title, title_justify="left")
        for c in cols:
            t.add_column(
                c,
                justify="right"
                if c in ("year", "opened", "closed", "cases", "met", "missed", "median days")
                else "left",
            )
        return t

    oc = table("Cases opened and closed", "year", "procedure", "opened", "closed")
    for r in figures.opened_closed:
        oc.add_row(str(r.year), plain(r.procedure), str(r.opened), str(r.closed))
    st = table("Cases by stage now", "procedure", "stage", "cases")
    for r in figures.stages:
        st.add_row(plain(r.procedure), plain(r.stage), str(r.cases))
    dl = table("Deadlines met and missed", "authority", "kind", "met", "missed")
    for r in figures.deadlines:
        dl.add_row(plain(r.authority), plain(r.kind), str(r.met), str(r.missed))
    of = table("Days from opening to findings (median)", "procedure", "cases", "median days")
    for r in figures.opening_to_findings:
        of.add_row(plain(r.procedure), str(r.cases), _days(r.median_days))
    ro = table("Days from refusal to order (median)", "procedure", "authority", "cases", "median days")
    for r in figures.refusal_to_order:
        ro.add_row(plain(r.procedure), plain(r.authority), str(r.cases), _days(r.median_days))
    return [oc, st, dl, of, ro]


HELP = """Figures across every case in the event store, the ones regulators publish each year.

- **opened / closed**: cases per year and procedure; opened in the year of the case's `opened` date
(InvestigationOpened), closed in the year of its InvestigationClosed.
- **stage now**: each case's stage, the fold of its joint record's stored events.
- **deadlines met / missed**: each DeadlineMet or DeadlineMissed, under the authority and kind of its
DeadlineSet, in the year it was met or missed.
- **opening to findings**: calendar days from the `opened` date to the case's first FindingsIssued, per
procedure (cases without findings are not counted).
- **refusal to order**: calendar days from the case's first refused RecommendationAnswered (explicit or
deemed) to each authority's first OrderIssued after it, per procedure and authority.

Medians of an even count are the mean of the middle two. `--year` keeps what falls in that year (openings,
closings, deadlines met or missed, spans that ended in it; for the stage now, the cases opened in it);
`--procedure` keeps the cases of that procedure. The store is `ENFORCE_RECORD_URL`, else
`<ENFORCE_DATA_DIR>/record.db`. See docs/operations.md#figures-across-cases-enforce-stats.

Example: `enforce stats --year 2021 -o json`
"""


def register(app: typer.Typer) -> None:
    """Add `stats` to the `enforce` command."""

    @app.command("stats", help=HELP)
    def stats_command(
        year: Annotated[
            str | None,
            typer.Option(
                "--year", metavar="YEAR", help=f"Only what falls in this year ({EARLIEST.year}-{LATEST.year})."
            ),
        ] = None,
        procedure: Annotated[
            str | None,
            typer.Option("--procedure", metavar="ID", help="Only the cases of this procedure, e.g. ca-joint."),
        ] = None,
        output: Annotated[
            str, typer.Option("--output", "-o", help="`table` for people, `json` for scripts.")
        ] = "table",
    ) -> None:
        from domain.procedure import known_procedures
        from domain.stats import stats

        if output not in OUTPUTS:
            raise _failure(f"--output: unknown output {output[:40]!r} (use table or json)", 2)
        try:
            wanted = parse_year(year) if year is not None else None
        except ValueError as e:
            raise _failure(f"--year: {e}", 2) from None
        url, store = _store()
        url = shown(url)
        records, without = read_records(store) if store else ([], [])
        if procedure is not None:
            known = sorted(set(known_procedures()) | {r[0].procedure for r in records if hasattr(r[0], "procedure")})
            if procedure not in known:
                raise _failure(f"--procedure: unknown procedure {procedure[:100]!r} (known: {', '.join(known)})", 2)
        figures = stats(records, year=wanted, procedure=procedure)
        if output == "json":
            body = {**figures.model_dump(mode="json"), "not_counted": without}
            sys.stdout.write(json.dumps(body, indent=2) + "\n")
            return
        out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
        if figures.cases == 0:
            what = f"no cases of procedure {procedure}" if procedure else "no cases"
            out.print(plain(f"{what} in the event store {url}"), highlight=False)
        else:
            for t in tables(figures):
                out.print(t)
            scope = [f"procedure {procedure}"] if procedure else []
            scope += [f"year {wanted}"] if wanted is not None else []
            line = f"{figures.cases} cases in the event store {url}" + (f" ({', '.join(scope)})" if scope else "")
            out.print(plain(line), highlight=False)
        if without:
            line = f"{len(without)} case(s) with no joint record stored, not counted: {', '.join(without)}"
            out.print(plain(line), highlight=False)
