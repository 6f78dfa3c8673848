"""`enforce dev`: the embedded Temporal dev server and a worker, in the background."""

import typer

app = typer.Typer(help="Start, stop and inspect the local Temporal dev server and worker.", no_args_is_help=True)
