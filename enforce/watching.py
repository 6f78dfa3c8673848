"""`enforce setup`, `enforce list` and `enforce watch`: finding and following investigations.

`list` asks Temporal's visibility store with the custom search attributes the workflows keep
(`workflows.search_attributes`), so it answers for open and closed cases alike without running a query on any
of them. The respondent is not a search attribute (it would be in clear): it comes from each case's memo,
decoded through the payload codec, and `--respondent` filters on it here. `watch` polls one case's `state`
and `events` queries.

Errors are one line on stderr and an exit status: 1 for Temporal unreachable or refusing, 2 for a bad option.
This module does not import `enforce.main` (which imports it): it prints its own error line and raises
`typer.Exit`.

`list` imports the Temporal client and the event store, not the domain's models: a case is listed from its
search attributes and the store's row of its opening.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from domain.limits import SLUG_MAX
from enforce import settings
from enforce.views import columns, plain, procedure_of, tracks_table

if TYPE_CHECKING:
    from rich.console import Group

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 400)

WORKFLOW_TYPE = "Investigation"
WORKFLOW_ID_PREFIX = "investigation-"
DEFAULT_LIMIT = 200

_DURATION = re.compile(r"(\d+)\s*([hdw])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


FormatOpt = Annotated[Format, typer.Option("--output", "-o", help="`table` for people, `json` for scripts.")]


def _fail(message: str, code: int = 1) -> NoReturn:
    # As `enforce.main.run` prints a Failure; the message is plain text, never markup.
    err.print(Text("error:", style="red") + plain(f" {message}"), highlight=False)
    raise typer.Exit(code)


def _plain(message: str) -> str:
    """One line, whatever the server put in its message."""
    return " ".join(str(message).split())


# ----------------------------------------------------------------------------------------------------
# Query building (pure, tested without a server)


def parse_duration(text: str) -> timedelta:
    """`14d`, `2w`, `36h`, or a sum such as `1w3d`. Raises ValueError for anything else."""
    s = text.strip().lower()
    if not s or _DURATION.sub("", s).strip():
        raise ValueError(text)
    total = sum((int(n) * _UNITS[unit] for n, unit in _DURATION.findall(s)), timedelta())
    if total <= timedelta():
        raise ValueError(text)
    return total


def quote(value: str) -> str:
    """A visibility-query string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_query(
    *,
    stages: list[str] | None = None,
    procedure: str | None = None,
    authority: str | None = None,
    due_before: datetime | None = None,
    awaiting: str | None = None,
    raw: str | None = None,
    state: str = "all",
) -> str:
    """The visibility query for `enforce list`: investigations only, one line per case (a run that continued
    as new is not listed again), AND the filters given."""
    from workflows import search_attributes as sa

    parts = [f"WorkflowType = {quote(WORKFLOW_TYPE)}"]
    if state == "open":
        parts.append('ExecutionStatus = "Running"')
    elif state == "closed":
        parts.append('ExecutionStatus != "Running" AND ExecutionStatus != "ContinuedAsNew"')
    else:
        parts.append('ExecutionStatus != "ContinuedAsNew"')
    if stages:
        if len(stages) == 1:
            parts.append(f"{sa.INVESTIGATION_STAGE.name} = {quote(stages[0])}")
        else:
            parts.append(f"{sa.INVESTIGATION_STAGE.name} IN ({', '.join(quote(s) for s in stages)})")
    if procedure:
        # Backquoted: PROCEDURE is an SQL keyword to the visibility query parser.
        parts.append(f"`{sa.PROCEDURE.name}` = {quote(procedure)}")
    if authority:
        parts.append(f"{sa.AUTHORITIES.name} = {quote(authority)}")
    if due_before is not None:
        parts.append(f"{sa.NEXT_DEADLINE.name} <= {quote(_iso(due_before))}")
    if awaiting:
        parts.append(f"{sa.AWAITING_PARTY.name} = {quote(awaiting)}")
    if raw and raw.strip():
        parts.append(f"({raw.strip()})")
    return " AND ".join(parts)


def slug_of(workflow_id: str) -> str:
    return workflow_id.removeprefix(WORKFLOW_ID_PREFIX)


def days_left(deadline: datetime | None, now: datetime) -> int | None:
    """Days from today to the deadline's day (UTC), as the case's current details count them: `NextDeadline` is
    the instant its due day begins, on a case clock shifted by whole days. 0 on the day, negative after."""
    if deadline is None:
        return None
    return (deadline.astimezone(UTC).date() - now.astimezone(UTC).date()).days


def _status_name(status: Any) -> str:
    return status.name.lower().replace("_", "-") if status is not None else "unknown"


def row(execution: Any, now: datetime, memo: dict[str, Any] | None = None) -> dict[str, Any]:
    """What `enforce list -o json` prints for one case (a `temporalio.client.WorkflowExecution` and its memo,
    decoded)."""
    from workflows import search_attributes as sa

    attrs = execution.typed_search_attributes
    deadline = attrs.get(sa.NEXT_DEADLINE)
    status = _status_name(execution.status)
    return {
        "slug": slug_of(execution.id),
        "workflow_id": execution.id,
        "run_id": execution.run_id,
        "status": status,
        "open": status == "running",
        "stage": attrs.get(sa.INVESTIGATION_STAGE),
        "awaiting": attrs.get(sa.AWAITING_PARTY),
        "next_deadline": _iso(deadline) if deadline else None,
        "days_left": days_left(deadline, now),
        "procedure": attrs.get(sa.PROCEDURE),
        "lead": attrs.get(sa.LEAD_AUTHORITY),
        "authorities": list(attrs.get(sa.AUTHORITIES) or []),
        # Cases opened before: a search attribute, then a sealed memo; since, the event store (see `list`).
        "respondent": _memo_respondent(memo) or attrs.get(sa.RESPONDENT),
        "started": _iso(execution.start_time),
        "closed": _iso(execution.close_time) if execution.close_time else None,
    }


def _memo_respondent(memo: dict[str, Any] | None) -> Any:
    if not memo:
        return None
    from workflows.messages import MEMO_RESPONDENT

    return memo.get(MEMO_RESPONDENT)


def ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open cases first, the nearest deadline first (none last), then the most recently started."""
    newest_first = sorted(rows, key=lambda r: r["started"], reverse=True)
    return sorted(newest_first, key=lambda r: (not r["open"], r["next_deadline"] is None, r["next_deadline"] or ""))


def _left_text(days: int | None) -> Text:
    if days is None:
        return Text("")
    if days < 0:
        return Text(f"overdue {-days} d", style="bold red")
    if days == 0:
        return Text("due today", style="bold red")
    return Text(f"{days} d", style="yellow" if days <= 14 else "")


def _status_text(status: str) -> Text:
    styles = {"running": "green", "completed": "", "failed": "red", "terminated": "red", "timed-out": "red"}
    return Text(status, style=styles.get(status, "yellow"))


LIST_COLUMNS = ("case", "stage", "whose move", "next deadline", "left", "status")
# The widest each column is shown: every slug whole; a stage or party longer than any real one is cut.
LIST_WIDEST = (SLUG_MAX, 40, 40, 10, 20, 12)


def table(rows: list[dict[str, Any]]) -> Text:
    """The cases of `enforce list`, one line each in aligned columns (a page of 200 prints at once)."""
    return columns(
        LIST_COLUMNS,
        [
            (
                plain(r["slug"]),
                plain(r["stage"] or ""),
                plain(r["awaiting"] or ""),
                Text(r["next_deadline"][:10] if r["next_deadline"] else ""),
                _left_text(r["days_left"]) if r["open"] else Text(""),
                _status_text(r["status"]),
            )
            for r in rows
        ],
        widest=LIST_WIDEST,
    )


# ----------------------------------------------------------------------------------------------------
# Commands


def _stages() -> list[str]:
    """The stages a case is listed at: the common ones, and the phases of the shipped procedures of their own
    steps (a GDPR case is at `draft-decision`, `dispute-resolution`, ...), in every version of each."""
    import tomllib

    from domain.procedure import PROCEDURES_DIR
    from domain.state import Stage

    known = [s.value for s in Stage]
    for path in sorted(PROCEDURES_DIR.iterdir()):
        if path.name.endswith(".toml"):
            phases = tomllib.loads(path.read_text()).get("phases", [])
            known += [p for p in phases if isinstance(p, str) and p not in known]
    return known


async def _connect():
    from enforce.connect import Unreachable, connect

    try:
        return await connect()
    except Unreachable as e:
        _fail(str(e), 1)


def setup() -> None:
    """Register every search attribute the investigations use, on the Temporal the environment points at.

    Idempotent: it creates only what is missing and says so. The address, namespace, TLS and API key come
    from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS*, TEMPORAL_API_KEY or a config profile
    (see docs/operations.md). Exit 1 if Temporal is unreachable, refuses, or has one with another type.

    Example: `TEMPORAL_ADDRESS=temporal.example:7233 TEMPORAL_NAMESPACE=enforcement enforce setup`
    """
    import asyncio

    from temporalio.service import RPCError

    from enforce.dev import SearchAttributeConflict, ensure_search_attributes
    from workflows import search_attributes as sa

    async def go() -> None:
        client = await _connect()
        where = f"{client.service_client.config.target_host} (namespace {client.namespace})"
        try:
            created = await ensure_search_attributes(client, client.namespace)
        except SearchAttributeConflict as e:
            _fail(f"{e} on {where}; rename or remove it there first")
        except RPCError as e:
            _fail(f"cannot register search attributes on {where}: {_plain(e.message)}")
        if created:
            out.print(f"Created {len(created)} search attributes on {where}: {', '.join(created)}", highlight=False)
        else:
            out.print(f"all {len(sa.ALL)} search attributes present on {where}", highlight=False)

    asyncio.run(go())


def list_cases(
    stage: Annotated[
        list[str] | None,
        typer.Option("--stage", "-s", help="Only cases in this stage (repeat for several), e.g. `escalation`."),
    ] = None,
    procedure: Annotated[
        str | None,
        typer.Option("--procedure", "-p", help="Only cases under this procedure, e.g. `eu-gdpr` (the GDPR's)."),
    ] = None,
    authority: Annotated[str | None, typer.Option("--authority", "-a", help="Only cases this authority is in.")] = None,
    respondent: Annotated[
        str | None,
        typer.Option(
            "--respondent",
            "-r",
            help="Only cases against this organisation (exact name; read from each case's sealed memo).",
        ),
    ] = None,
    due_within: Annotated[
        str | None,
        typer.Option(
            "--due-within", help="Only cases whose next deadline falls within this time (or has passed): 14d, 2w, 36h."
        ),
    ] = None,
    awaiting: Annotated[
        str | None,
        typer.Option("--awaiting", help="Only cases waiting on this party: `respondent` or an authority id."),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option("--query", "-q", help="A raw visibility query, ANDed with the other filters."),
    ] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only open (running) cases.")] = False,
    closed_only: Annotated[bool, typer.Option("--closed", help="Only closed cases.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many cases.", min=1)] = DEFAULT_LIMIT,
    output: FormatOpt = Format.TABLE,
) -> None:
    """List investigations, open and closed: stage, whose move, next deadline and days left.

    Filters combine (AND). Without `--open`/`--closed` both open and closed cases are listed.

    Example: `enforce list --stage escalation --due-within 14d -o json`, `enforce list --procedure eu-gdpr`
    """
    import asyncio

    from temporalio.service import RPCError, RPCStatusCode

    from enforce.record import respondent_names

    if open_only and closed_only:
        _fail("--open and --closed exclude each other; give neither to list both", 2)
    if stage:
        known = _stages()
        for s in stage:
            if s not in known:
                _fail(f"--stage: unknown stage {s!r}; one of {', '.join(known)}", 2)
    if procedure is not None:
        from domain.procedure import known_procedures

        if procedure not in known_procedures():
            _fail(
                f"--procedure: unknown procedure {procedure!r}; one of {', '.join(known_procedures())} "
                f"(one kept beside its case files: -q '`Procedure` = \"{procedure}\"')",
                2,
            )
    due_before = None
    if due_within is not None:
        try:
            due_before = datetime.now(UTC) + parse_duration(due_within)
        except ValueError:
            _fail(f"--due-within: {due_within!r} is not a duration; use e.g. 14d, 2w or 36h", 2)
    q = build_query(
        stages=stage,
        procedure=procedure,
        authority=authority,
        due_before=due_before,
        awaiting=awaiting,
        raw=query,
        state="open" if open_only else "closed" if closed_only else "all",
    )

    async def go() -> None:
        client = await _connect()
        now = datetime.now(UTC)
        rows: dict[str, dict[str, Any]] = {}
        more = False
        try:
            async for wf in client.list_workflows(q, limit=limit + 1):
                if len(rows) >= limit:
                    more = True
                    break
                r = row(wf, now)
                # One line per case: keep the latest run should visibility still hold an older one.
                if r["workflow_id"] not in rows or r["started"] > rows[r["workflow_id"]]["started"]:
                    rows[r["workflow_id"]] = r
        except RPCError as e:
            code = 2 if e.status == RPCStatusCode.INVALID_ARGUMENT else 1
            message = _plain(e.message).removeprefix("invalid query: ")
            if code == 2:
                _fail(f"-q: invalid query: {message} (the query sent: {q})" if query else message, 2)
            _fail(f"cannot list investigations: {message}", code)
        # The respondent is no search attribute nor memo (case content, never sealed there): its name comes from
        # each case's stored opening, and --respondent filters here.
        names = respondent_names(list(rows))
        for r in rows.values():
            r["respondent"] = names.get(r["workflow_id"]) or r["respondent"]
        if respondent:
            rows = {k: r for k, r in rows.items() if r["respondent"] == respondent}
        cases = ordered(list(rows.values()))
        if output == Format.JSON:
            print(json.dumps(cases, indent=2))
            return
        if not cases:
            out.print("no investigations match", highlight=False)
            return
        out.print(table(cases), soft_wrap=True, highlight=False)
        n_open = sum(r["open"] for r in cases)
        note = f"; the first {limit} shown, see --limit" if more else ""
        noun = "investigation" if len(cases) == 1 else "investigations"
        out.print(f"{len(cases)} {noun} ({n_open} open, {len(cases) - n_open} closed){note}", highlight=False)

    asyncio.run(go())


# ----------------------------------------------------------------------------------------------------
# watch

RECENT_EVENTS = 8


def _event_line(e: Any) -> str:
    """`seq  date  type  (by who)`, and the detail that says most about it."""
    data = e.model_dump(mode="json") if hasattr(e, "model_dump") else dict(e)
    detail = ""
    if data.get("summary") and data.get("due"):  # a clock set
        detail = f"{data['summary']} (due {data['due']})"
    elif data.get("deadline_id"):
        detail = " ".join(str(x) for x in (data["deadline_id"], data.get("due") or data.get("consequence") or ""))
    else:
        for key in ("kind", "request_id", "reason", "stage", "order", "outcome"):
            if data.get(key):
                detail = f"{key} {data[key]}"
                break
    seq, on, kind, by = data.get("seq", ""), str(data.get("on", ""))[:10], data.get("type", ""), data.get("by", "?")
    return f"{seq:>4}  {on}  {kind}  (by {by})  {detail}".rstrip()


def _view(slug: str, view: Any, events: list[Any], status: str, polled: datetime) -> Group:
    """Most urgent first, so that a short terminal still shows it: the stage, the clocks, the tracks, the news."""
    from rich.console import Group

    s = view.state
    stage = s.stage_name
    served = sum(n.status == "served" for n in s.notices)
    head = Table.grid(padding=(0, 2))
    head.add_row("case", plain(s.title or slug, "bold") + plain(f"  ({slug}, {status})"))
    mover = s.whose_move(procedure_of(s))
    head.add_row("stage", plain(stage, "bold") + plain("   whose move: ") + plain(mover, "bold"))
    head.add_row("case date", f"{view.clock.date().isoformat()}   {served} notices served")
    parts: list[Any] = [head]
    for n in s.undelivered:
        parts.append(plain(f"UNDELIVERED {n.notice_id} to {n.to.name}: {n.reason}", "bold red"))
    deadlines = getattr(s, "open_deadlines", None) or []
    if deadlines:
        today = view.clock.date()
        t = Table(title="Open deadlines", title_justify="left")
        for col in ("deadline", "due", "left", "status"):
            t.add_column(col)
        for d in deadlines:
            left = _left_text((d.due - today).days) if d.running else Text("paused")
            t.add_row(plain(d.summary), d.due.isoformat(), left, plain(d.label))
        parts.append(t)
    tracks = getattr(s, "tracks", None) or {}
    if tracks and s.phase:
        # A case of a procedure of its own steps: each authority's part and latest step.
        parts.append(tracks_table(s, procedure_of(s)))
    elif tracks:
        t = Table(title="Tracks", title_justify="left")
        for col in ("authority", "file", "track", "finding", "outcome"):
            t.add_column(col)
        for aid, track in tracks.items():
            lead = " (lead)" if aid == s.lead else ""
            track_status = str(getattr(track.status, "value", track.status))
            t.add_row(
                plain(f"{aid}{lead}"),
                plain(s.files.get(aid, "")),
                plain(track_status),
                plain(track.finding),
                plain(track.outcome),
            )
        parts.append(t)
    parts.append(Text("Recent events", style="bold"))
    for e in events[-RECENT_EVENTS:]:
        parts.append(plain(_event_line(e)))
    parts.append(Text(f"{view.events} events · polled {polled:%H:%M:%S} · Ctrl-C stops watching", style="dim"))
    return Group(*parts)


def watch(
    slug: Annotated[str, typer.Argument(help="The case's slug, e.g. clearview-ai.")],
    interval: Annotated[float, typer.Option(help="Seconds between polls.", min=0.2)] = 1.0,
) -> None:
    """Follow an investigation live: stage, whose move, tracks, deadlines, notices and new events, until it
    closes or Ctrl-C.

    On a terminal the view redraws in place; piped, it prints a line for each change.

    Example: `enforce watch clearview-ai`
    """
    import asyncio
    import signal

    from rich.live import Live
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    from activities.markdown import visible
    from enforce import investigations

    wid = f"{WORKFLOW_ID_PREFIX}{slug}"

    async def poll(client, seen: list[Any]) -> tuple[Any, str]:
        try:
            view = await investigations.state(client, slug)
            after = seen[-1].seq if seen else 0
            seen.extend((await investigations.events(client, slug, after)).events)
            desc = await client.get_workflow_handle(wid).describe()
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                _fail(f"no investigation {slug!r} ({wid}) on {settings.temporal_address()}")
            _fail(f"cannot read {wid}: {_plain(e.message)}")
        return view, _status_name(desc.status) if desc.status != WorkflowExecutionStatus.CONTINUED_AS_NEW else "running"

    def finished(view: Any, status: str) -> bool:
        return (view.state.stage is not None and view.state.stage.value == "closed") or status != "running"

    async def live(client, stop: asyncio.Event) -> None:
        seen: list[Any] = []
        view, status = await poll(client, seen)
        with Live(_view(slug, view, seen, status, datetime.now()), console=out, auto_refresh=False) as screen:
            while not finished(view, status) and not stop.is_set():
                await asyncio.sleep(interval)
                view, status = await poll(client, seen)
                screen.update(_view(slug, view, seen, status, datetime.now()), refresh=True)

    async def lines(client, stop: asyncio.Event) -> None:
        seen: list[Any] = []
        last: tuple | None = None
        shown = 0
        while not stop.is_set():
            view, status = await poll(client, seen)
            s = view.state
            now = (s.stage_name, s.whose_move(procedure_of(s)), status)
            if now != last:
                print(visible(f"{slug}: stage {now[0]}, whose move {now[1]}, workflow {now[2]}"), flush=True)
                last = now
            for e in seen[shown:]:
                print(visible(_event_line(e)), flush=True)
            shown = len(seen)
            if finished(view, status):
                return
            await asyncio.sleep(interval)

    async def go() -> None:
        # Ctrl-C is how one stops watching: it cancels the watch and also sets `stop`, which every turn of the
        # loop checks, so a cancellation lost inside a poll (Python 3.11's wait_for can drop one that arrives as
        # its call completes) still ends it at the next turn.
        stop, main = asyncio.Event(), asyncio.current_task()

        def interrupted() -> None:
            stop.set()
            if main is not None:
                main.cancel()

        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, interrupted)
        try:
            client = await _connect()
            await (live(client, stop) if out.is_terminal else lines(client, stop))
        except asyncio.CancelledError:
            if not stop.is_set():
                raise

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        return  # Ctrl-C before the watch started: not a failure either


def register(app: typer.Typer) -> None:
    """Add `setup`, `list` and `watch` to the `enforce` app."""
    app.command("setup")(setup)
    app.command("list")(list_cases)
    app.command("watch")(watch)
