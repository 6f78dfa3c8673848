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
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import DataError
from enforce import dev, investigations, logs, settings, views
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


class Failure(Exception):
    """A command that cannot do what was asked: one line on stderr, and the exit status it names."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


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
    output: OutputOpt = Output.TABLE,
) -> None:
    """Show an investigation: stage, parties, notices served and undelivered.

    Example: `enforce show clearview-ai -o json`
    """

    async def go() -> None:
        client = await connect()
        try:
            view = await investigations.state(client, slug)
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise Failure(
                    f"no investigation {slug!r} ({workflow_id(slug)}) on {settings.temporal_address()}"
                ) from None
            raise Failure(f"cannot read {workflow_id(slug)}: {e.message}") from None
        if output == Output.JSON:
            out.print_json(json.dumps(view.model_dump(mode="json")))
        else:
            views.print_state(out, view)

    _run(go())


@app.command()
def worker() -> None:
    """Run a worker in the foreground (the same as `python -m worker`); Ctrl-C stops it cleanly.

    Example: `TEMPORAL_ADDRESS=temporal.example:7233 enforce worker`
    """
    import worker as worker_module

    code = worker_module.main()
    if code:
        raise Failure("worker stopped", code)




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
