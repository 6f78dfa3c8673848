"""`enforce keys`: a user's key pairs, made on the user's own machine."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Users' keys: a signing and a sealing key pair per user.", no_args_is_help=True)


def _fail(message: str, code: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


@app.command("new")
def new(
    party: Annotated[str, typer.Option("--party", help="The party the user acts for: an authority id, or respondent.")],
    user: Annotated[str, typer.Option("--user", help="The user's id (unique in the keyring).")],
    case: Annotated[
        str | None, typer.Option("--case", help="For a respondent's representative: the case's slug.")
    ] = None,
    folder: Annotated[
        Path | None,
        typer.Option("--dir", help="Where the private keys go (default: ENFORCE_USER_KEYS or the XDG config dir)."),
    ] = None,
) -> None:
    """Make a user's signing (Ed25519) and sealing (X25519) key pairs. The private keys stay in the user's key
    folder (0600); the public part is printed as one JSON line, for the keyring (ENFORCE_KEYRING).

    Example: `enforce keys new --party opc --user j.doe >> keyring.jsonl`
    """
    from enforce import identity

    try:
        u = identity.generate(user, party, case)
    except identity.KeyError_ as e:
        _fail(str(e), 2)
    try:
        path = identity.save(u, folder)
    except identity.KeyError_ as e:
        _fail(str(e), 1)
    except OSError as e:
        _fail(f"cannot write the key file: {e.strerror or e}", 1)
    print(f"private keys of {user} written to {path} (0600)", file=sys.stderr)
    print(u.entry().model_dump_json(by_alias=True, exclude_none=True))


@app.command("list")
def list_users(
    folder: Annotated[Path | None, typer.Option("--dir", help="The key folder (default as for `keys new`).")] = None,
) -> None:
    """The users whose private keys are on this machine, one JSON line each (their keyring entries)."""
    from enforce import identity

    try:
        for u in identity.local_users(folder):
            print(u.entry().model_dump_json(by_alias=True, exclude_none=True))
    except identity.KeyError_ as e:
        _fail(str(e), 1)
