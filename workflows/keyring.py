"""The keyring, as workflow code sees it: the users who may sign acts, their party and public keys, and when
each key is valid. Only the validator of an act reads it (whether a key is known and not revoked now); the
handler decides from the record alone, so a keyring edited since never changes what a replay decides.

The worker loads the keyring file at start and whenever it changes (`enforce.identity`, outside any workflow)
and installs it here; this module is passed through the workflow sandbox, so workflow code reads what the
worker installed. Public keys only: nothing secret is held here.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.signing import KeyEntry

_entries: list[KeyEntry] = []
# Keys a process made for itself and holds in memory only (a simulation's), whatever the file says.
_own: list[KeyEntry] = []


def install(entries: Iterable[KeyEntry]) -> None:
    """Replace the keyring read from its file: a key revoked there (an until date) is refused from the next
    act on."""
    _entries[:] = list(entries)


def add(entries: Iterable[KeyEntry]) -> None:
    """Add keys this process made for itself (a simulation's own), kept across reloads of the file."""
    _own.extend(entries)


def entries() -> list[KeyEntry]:
    return [*_entries, *_own]
