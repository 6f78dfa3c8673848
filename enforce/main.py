"""The `enforce` command."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import DataError
from enforce import dev, investigations, logs, paperwork, settings, views, watching
from enforce.cases import load_case
from enforce.connect import Unreachable, connect
from workflows.messages import workflow_id

app = typer.Typer(
    name="enforce",
    help="Run multi-authority enforcement investigations as durable Temporal workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.add_typer(dev.app, name="dev")

# Piped output (scripts, logs) gets room for whole table cells instead of an 80-column guess.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 400)


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"


OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="`table` for people, `json` for scripts.")]
AsOpt = Annotated[
    str | None, typer.Option("--as", help="Show only what this party (an authority id, or respondent) may see.")
]


class Failure(Exception):
    """A command that cannot do what was asked: one line on stderr, and the exit status it names."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# A workflow answers queries and updates only while a worker runs it: past this, say so instead of waiting.
ANSWER_TIMEOUT_S = 60


async def answered(call, target: str):
    try:
        return await asyncio.wait_for(call, ANSWER_TIMEOUT_S)
    except TimeoutError:
        raise Failure(
            f"no answer from {target} within {ANSWER_TIMEOUT_S} s: is a worker running? (`enforce dev status`)"
        ) from None


async def _missing(client, slug: str, target: str) -> str:
    """Why a record did not answer: it does not exist here, or it has closed."""
    try:
        desc = await client.get_workflow_handle(target).describe()
    except RPCError:
        return f"no investigation {slug!r} ({target}) on {settings.temporal_address()}"
    when = desc.close_time.date().isoformat() if desc.close_time else "?"
    return f"{target} is closed ({desc.status.name.lower() if desc.status else 'closed'} on {when})"


def _run(coro) -> None:
    try:
        asyncio.run(coro)
    except DataError as e:
        raise Failure(str(e), 2) from None
    except Unreachable as e:
        raise Failure(str(e), 1) from None


@app.command("open")
def open_case(
    casefile: Annotated[Path, typer.Argument(help="A case file (TOML), see docs/case-file.md.")],
    if_absent: Annotated[
        bool, typer.Option("--if-absent", help="Succeed quietly when the investigation already exists.")
    ] = False,
) -> None:
    """Open an investigation from a case file and serve the notice of investigation.

    Example: `enforce open cases/clearview.toml`
    """
    try:
        case, procedure = load_case(casefile)
    except DataError as e:
        raise Failure(str(e), 2) from None

    async def go() -> None:
        client = await connect()
        wid = workflow_id(case.slug)
        try:
            handle = await investigations.start(client, case, procedure)
        except WorkflowAlreadyStartedError:
            desc = await client.get_workflow_handle(wid).describe()
            status = "open" if desc.status == WorkflowExecutionStatus.RUNNING else "closed"
            when = desc.start_time.date().isoformat() if desc.start_time else "?"
            message = f"{wid} already exists ({status}, started {when}); see `enforce show {case.slug}`"
            if if_absent:
                out.print(message)
                return
            raise Failure(message) from None
        out.print(f"Opened [bold]{handle.id}[/bold]")
        out.print(f"UI: {settings.ui_url()}/namespaces/{client.namespace}/workflows/{handle.id}")

    _run(go())


@app.command()
def show(
    slug: Annotated[str, typer.Argument(help="The case's slug, e.g. clearview-ai.")],
    as_party: AsOpt = None,
    output: OutputOpt = Output.TABLE,
) -> None:
    """Show an investigation: stage, tracks, open deadlines with days left, notices served and undelivered.

    Example: `enforce show clearview-ai --as oipc-bc -o json`
    """

    async def go() -> None:
        client = await connect()
        try:
            view = await answered(investigations.state(client, slug, as_party), workflow_id(slug))
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise Failure(await _missing(client, slug, workflow_id(slug))) from None
            raise Failure(f"cannot read {workflow_id(slug)}: {e.message}") from None
        if output == Output.JSON:
            out.print_json(json.dumps(view.model_dump(mode="json")))
        else:
            views.print_state(out, view)

    _run(go())


def _parse_fields(fields: list[str], as_json: str | None) -> dict:
    payload: dict = {}
    if as_json:
        try:
            payload = json.loads(as_json)
        except ValueError as e:
            raise Failure(f"--json: not valid JSON ({e})", 2) from None
        if not isinstance(payload, dict):
            raise Failure("--json: give a JSON object of the action's fields", 2)
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise Failure(f"--field: {item!r} is not key=value", 2)
        try:
            payload[key] = json.loads(value)  # numbers, lists, objects; anything else is text
        except ValueError:
            payload[key] = value
    return payload


@app.command()
def act(
    slug: Annotated[str, typer.Argument(help="The case's slug.")],
    action: Annotated[str, typer.Argument(help="An action (see `enforce actions`).")],
    actor: Annotated[str, typer.Option("--as", help="Who acts: an authority id or `respondent`.")],
    field: Annotated[
        list[str] | None, typer.Option("--field", "-f", help="A field as key=value (JSON values allowed).")
    ] = None,
    as_json: Annotated[str | None, typer.Option("--json", help="All fields as one JSON object.")] = None,
    to: Annotated[list[str] | None, typer.Option("--to", help="Addressees (for `message`).")] = None,
    output: OutputOpt = Output.TABLE,
) -> None:
    """Perform an action on an investigation, as an authority or the respondent.

    Example: `enforce act clearview-ai answer-recommendations --as respondent -f 'answers={"R1":"refused"}'`
    """
    from domain.actions import parse_action
    from domain.errors import BadInput, Rejected

    payload = {**_parse_fields(field or [], as_json), "by": actor}
    if to:
        payload["to"] = to
    try:
        parsed = parse_action(action, payload)
    except BadInput as e:
        raise Failure(str(e), 2) from None
    except Rejected as e:
        raise Failure(str(e), 1) from None

    async def go() -> None:
        client = await connect()
        target = investigations.record_of(slug, parsed)
        try:
            result = await answered(investigations.act(client, slug, parsed), target)
        except Rejected as e:
            raise Failure(f"rejected: {e}") from None
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise Failure(await _missing(client, slug, target)) from None
            raise Failure(f"{action}: {e.message}") from None
        if output == Output.JSON:
            out.print_json(result.model_dump_json())
        else:
            out.print(
                f"{action} recorded: {', '.join(result.recorded)} (events {result.first_seq}-"
                f"{result.last_seq}); stage {result.stage.value if result.stage else '?'}"
            )

    _run(go())


@app.command()
def actions() -> None:
    """List the actions of the vocabulary, who may take them, and their fields.

    Example: `enforce actions`
    """
    from domain.actions import ACTIONS

    table = Table(title="Actions (enforce act, update names, case-file steps)", title_justify="left")
    for col in ("action", "record", "who", "fields", "what it does"):
        table.add_column(col)
    for name, cls in ACTIONS.items():
        fields = [f if info.is_required() else f"[{f}]" for f, info in cls.model_fields.items() if f != "by"]
        who = " or ".join(cls.actors).replace("self", "the track's authority")
        table.add_row(name, cls.runs_in, who, ", ".join(fields), cls.help)
    out.print(table)


@app.command()
def simulate(
    casefile: Annotated[Path, typer.Argument(help="A case file with scripted [[steps]].")],
    output: OutputOpt = Output.TABLE,
) -> None:
    """Run a case file's scripted steps to the end on a time-skipping Temporal, on the case's own dates.

    Example: `enforce simulate cases/clearview.toml -o json`
    """
    from enforce import simulate as sim

    try:
        case, procedure = load_case(casefile)
    except DataError as e:
        raise Failure(str(e), 2) from None

    async def go() -> None:
        with err.status("simulating...") as status:
            try:
                result = await sim.run(case, procedure, progress=lambda m: status.update(f"simulating: {m}"))
            except sim.SimulationError as e:
                raise Failure(str(e)) from None
        if output == Output.JSON:
            out.print_json(json.dumps(simulation_json(result)))
            return
        views.print_timeline(out, result.events)
        out.print(views.deadlines_table(result.deadlines, None, "Deadlines"))
        out.print(views.tracks_table(result.state))
        out.print(f"stage: [bold]{result.stage}[/bold]")

    _run(go())


def simulation_json(result) -> dict:
    return {
        "slug": result.slug,
        "stage": result.stage,
        "events": [e.model_dump(mode="json") for e in result.events],
        "deadlines": [{**d.model_dump(mode="json", exclude={"version"}), "status": d.label} for d in result.deadlines],
        "tracks": {a: t.model_dump(mode="json") for a, t in result.tracks.items()},
    }


@app.command()
def timeline(
    slug: Annotated[str, typer.Argument(help="The case's slug.")],
    after: Annotated[int, typer.Option(help="Only events after this seq.")] = 0,
    as_party: AsOpt = None,
    output: OutputOpt = Output.TABLE,
) -> None:
    """Print the joint record's events, in order.

    Example: `enforce timeline clearview-ai --after 10`
    """

    async def go() -> None:
        client = await connect()
        found = await _events(client, slug, after, as_party)
        if output == Output.JSON:
            out.print_json(json.dumps([e.model_dump(mode="json") for e in found]))
        else:
            views.print_timeline(out, found)

    _run(go())


async def _events(client, slug: str, after: int = 0, as_party: str | None = None) -> list:
    try:
        return (await answered(investigations.events(client, slug, after, as_party), workflow_id(slug))).events
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Failure(f"no investigation {slug!r} ({workflow_id(slug)}) on {settings.temporal_address()}") from None
        raise Failure(f"cannot read {workflow_id(slug)}: {e.message}") from None


@app.command()
def export(
    slug: Annotated[str, typer.Argument(help="The case's slug.")],
    out_file: Annotated[Path, typer.Option("--out", help="The JSON Lines file to write.")],
) -> None:
    """Export the record as JSON Lines, each line carrying the hash of the one before it.

    Example: `enforce export clearview-ai --out clearview.jsonl`
    """
    from domain.chain import chain

    async def go() -> None:
        client = await connect()
        found = await _events(client, slug)
        lines = chain(e.model_dump(mode="json") for e in found)
        _write_atomic(out_file, "".join(line + "\n" for line in lines))
        out.print(f"{len(lines)} events written to {out_file}")

    _run(go())


def _write_atomic(path: Path, text: str) -> None:
    """All or nothing: a failure leaves no half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise Failure(f"--out: cannot write {path}: {e.strerror}", 1) from None


@app.command()
def verify(file: Annotated[Path, typer.Argument(help="A file written by `enforce export`.")]) -> None:
    """Check an exported record's hash chain: any edited, dropped or reordered line is named.

    Example: `enforce verify clearview.jsonl`
    """
    from domain.chain import verify as check

    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise Failure(f"{file}: {e.strerror}", 2) from None
    problems = check(lines)
    if problems:
        for p in problems:
            err.print(f"[red]{file}:[/red] {p}", highlight=False)
        raise typer.Exit(1)
    out.print(f"{file}: {sum(1 for x in lines if x.strip())} events, chain intact")


@app.command()
def worker() -> None:
    """Run a worker in the foreground (the same as `python -m worker`); Ctrl-C stops it cleanly.

    Example: `TEMPORAL_ADDRESS=temporal.example:7233 enforce worker`
    """
    import worker as worker_module

    code = worker_module.main()
    if code:
        raise Failure("worker stopped", code)


watching.register(app)
paperwork.register(app)


def run() -> None:
    """Entry point: exit with the status the command means.

    A process that used a Temporal client or worker can abort at interpreter exit (sdk-python#300,
    `PyGILState_Release`, status 134), so the status is settled here and the process leaves at once.
    """
    logs.configure(level=os.environ.get("ENFORCE_LOG_LEVEL", "WARNING"))
    try:
        app()  # standalone: usage errors print themselves and raise SystemExit
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Failure as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        code = e.code
    except KeyboardInterrupt:
        err.print("Interrupted.")
        code = 130
    except Exception as e:  # a bug: still one line, with the traceback on request
        if os.environ.get("ENFORCE_DEBUG"):
            err.print_exception()
        err.print(f"[red]error:[/red] {type(e).__name__}: {e} (set ENFORCE_DEBUG=1 for details)", highlight=False)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
