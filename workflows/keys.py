"""The record key set, as workflow code sees it: the keys that authenticate batches of events between the
records of a case (the joint record and its tracks). Only the workers hold them.

The worker loads the key set at start (`enforce.keys`, outside any workflow) and installs it here. This module
is passed through the workflow sandbox, so workflow code reads the very keys the worker installed; they never
travel as an input, never enter history and are never logged. A batch names the key that signed it, and every
key still in the set verifies, so a key can be rotated without dropping batches in flight.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives import constant_time, hashes, hmac

_keys: dict[str, bytes] = {}
_current: list[str] = []


class NoKeys(RuntimeError):
    """A worker started without a record key set: it cannot sign what its records send."""


def install(current: str, keys: Mapping[str, bytes]) -> None:
    """Make `keys` the ones workflow code signs (with `current`) and verifies with. Keys installed before
    stay valid for verification: a batch in flight when the set was reloaded still verifies."""
    if current not in keys:
        raise ValueError(f"the current key {current!r} is not in the key set")
    _keys.update(keys)
    _current[:] = [current]


def installed() -> bool:
    return bool(_current)


def canonical(target: str, source: str, seq: int, events: Sequence[Mapping]) -> bytes:
    """The bytes a batch's MAC covers: to whom, from whom, its number and its events, in one fixed encoding."""
    doc = {"events": list(events), "seq": seq, "source": source, "target": target}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str).encode()


def _mac(key: bytes, message: bytes) -> hmac.HMAC:
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(message)
    return h


def sign(message: bytes) -> tuple[str, str]:
    """(key id, base64 MAC) under the current key."""
    if not _current:
        raise NoKeys("no record key set installed: the worker loads it at start (ENFORCE_RECORD_KEYS)")
    kid = _current[0]
    return kid, base64.b64encode(_mac(_keys[kid], message).finalize()).decode()


def verify(key_id: str, mac: str, message: bytes) -> bool:
    key = _keys.get(key_id)
    if key is None:
        return False
    try:
        tag = base64.b64decode(mac, validate=True)
    except ValueError:
        return False
    # Compared here rather than by HMAC.verify: an exception raised from cryptography's native code inside
    # the workflow sandbox aborts the worker process.
    return constant_time.bytes_eq(_mac(key, message).finalize(), tag)


# cryptography loads its native bindings lazily, on first use; loading them inside the workflow sandbox fails.
# One MAC here, when the worker imports this module, loads them outside it.
constant_time.bytes_eq(_mac(bytes(32), b"").finalize(), b"")
