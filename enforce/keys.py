"""The record key set on disk: `{"current": "<id>", "keys": {"<id>": "<base64>"}}`, at ENFORCE_RECORD_KEYS
(default `<data dir>/keys/record-keys.json`). Created once, readable by its owner only; read by the worker at
start, which installs it for workflow code (`workflows.keys`)."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from enforce import settings
from workflows import keys

KEY_BYTES = 32


class KeyFileError(Exception):
    """A key set file that cannot be read or does not say what it must: one line naming the file."""


def new_key_set() -> dict:
    kid = f"k{secrets.token_hex(4)}"
    return {"current": kid, "keys": {kid: base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}}


def ensure(path: Path | None = None) -> Path:
    """Create the key set file (0600, in a 0700 folder) when it is missing; never overwrite one."""
    path = path or settings.record_keys_file()
    if path.exists():
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(new_key_set(), f)
        try:
            os.link(tmp, path)  # atomic, and fails if another process created it first: theirs stands
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load(path: Path | None = None) -> tuple[str, dict[str, bytes]]:
    path = path or settings.record_keys_file()
    try:
        doc = json.loads(path.read_text())
        current, raw = doc["current"], doc["keys"]
        found = {str(k): base64.b64decode(v, validate=True) for k, v in raw.items()}
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no record key set (enforce dev up creates one)") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise KeyFileError(f"{path}: not a record key set ({type(e).__name__})") from None
    if current not in found:
        raise KeyFileError(f"{path}: current: {current!r} is not one of the keys")
    if any(len(k) < 16 for k in found.values()):
        raise KeyFileError(f"{path}: keys: every key must be at least 16 bytes")
    return current, found


def install(path: Path | None = None, create: bool = True) -> Path:
    """Load the key set (creating it first when `create`) and hand it to workflow code."""
    path = path or settings.record_keys_file()
    if create:
        ensure(path)
    keys.install(*load(path))
    return path
