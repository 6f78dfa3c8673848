"""Where things live on this machine. One place, read by the CLI and the worker alike."""

from __future__ import annotations

import json
import os
from pathlib import Path

TASK_QUEUE = "enforce"
DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233
# The codec server `enforce dev up` starts beside the UI (enforce/codec_server.py).
DEFAULT_CODEC_PORT = 8234
DEFAULT_NAMESPACE = "default"


def data_dir() -> Path:
    """`.data/` under the working directory unless ENFORCE_DATA_DIR says otherwise."""
    return Path(os.environ.get("ENFORCE_DATA_DIR", ".data")).resolve()


def outbox_dir() -> Path:
    return Path(os.environ.get("ENFORCE_OUTBOX_DIR", data_dir() / "outbox")).resolve()


def documents_dir() -> Path:
    return Path(os.environ.get("ENFORCE_DOCUMENTS_DIR", data_dir() / "documents")).resolve()


def record_keys_file() -> Path:
    """The record key set that authenticates events between a case's records (see enforce.keys)."""
    return Path(os.environ.get("ENFORCE_RECORD_KEYS", data_dir() / "keys" / "record-keys.json")).resolve()


def dev_state_file() -> Path:
    return data_dir() / "dev.json"


def dev_state() -> dict:
    """What `enforce dev up` recorded (ports, pids), or {} when it never ran here."""
    try:
        return json.loads(dev_state_file().read_text())
    except (OSError, ValueError):
        return {}


def temporal_address() -> str:
    """TEMPORAL_ADDRESS if set, else the dev stack started from this folder, else localhost:7233."""
    if addr := os.environ.get("TEMPORAL_ADDRESS"):
        return addr
    port = dev_state().get("port", DEFAULT_PORT)
    return f"localhost:{port}"


def ui_url() -> str:
    if url := os.environ.get("ENFORCE_UI_URL"):
        return url.rstrip("/")
    return f"http://localhost:{dev_state().get('ui_port', DEFAULT_UI_PORT)}"


def namespace() -> str:
    return os.environ.get("TEMPORAL_NAMESPACE", DEFAULT_NAMESPACE)
