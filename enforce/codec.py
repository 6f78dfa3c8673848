"""The one data converter: pydantic payloads, then AES-256-GCM over each payload, failures included.

Nothing of a case reaches Temporal's database in clear: workflow inputs and results, updates, signals,
queries, activity arguments, memo, timer summaries and current details, failure messages and stack traces.

Each encrypted payload names the key it was sealed with (metadata `encryption-key-id`). A key set has one
current key (what new payloads use) and any number of older ones, all of which still decode: rotating the
key means adding a new one and making it current, never dropping the old while a case or a history may
hold payloads sealed with it. A payload this codec did not encode (no `binary/encrypted` encoding) passes
through untouched, so histories recorded before the codec still replay.

Where the key set comes from (one setting, read by the worker, the CLI, the codec server and the tests):
- ENFORCE_CODEC_KEY: one base64 key of 32 bytes (a dev stack, a container); its id is derived from it;
- else ENFORCE_CODEC_KEYS: the path of a key-set file `{"current": "<id>", "keys": {"<id>": "<base64>"}}`;
- else `<ENFORCE_DATA_DIR or .data>/keys/codec-keys.json`, which `enforce dev up` creates (0600 in a 0700
  folder) on its first start and keeps.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from enforce import settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12


class CodecKeyError(Exception):
    """A key set that cannot be read, or a payload sealed with a key the set lacks. One line, no key material."""


@dataclasses.dataclass(frozen=True)
class KeySet:
    current: str
    keys: dict[str, bytes]

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise CodecKeyError(f"codec key set: current key {self.current!r} is not among its keys")
        for kid, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise CodecKeyError(f"codec key set: key {kid!r} has {len(key)} bytes, not {KEY_BYTES}")

    @classmethod
    def generate(cls, key_id: str | None = None) -> KeySet:
        key = AESGCM.generate_key(bit_length=256)
        return cls(current=key_id or derived_id(key), keys={key_id or derived_id(key): key})

    def rotated(self, key_id: str | None = None) -> KeySet:
        """A new current key; every older key kept so what they sealed still opens."""
        key = AESGCM.generate_key(bit_length=256)
        kid = key_id or derived_id(key)
        if kid in self.keys:
            raise CodecKeyError(f"codec key set: key {kid!r} exists already")
        return KeySet(current=kid, keys={**self.keys, kid: key})

    def to_json(self) -> str:
        keys = {kid: base64.b64encode(k).decode() for kid, k in self.keys.items()}
        return json.dumps({"current": self.current, "keys": keys}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "key set") -> KeySet:
        try:
            raw = json.loads(text)
            current, keys = raw["current"], raw["keys"]
            if not isinstance(current, str) or not isinstance(keys, dict) or not keys:
                raise ValueError
            decoded = {str(kid): base64.b64decode(k, validate=True) for kid, k in keys.items()}
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise CodecKeyError(
                f'{source}: not a codec key set {{"current": "<id>", "keys": {{"<id>": "<base64 32 bytes>"}}}}'
            ) from None
        return cls(current=current, keys=decoded)

    def write(self, path: Path) -> None:
        """Write the set readable by its owner only (the folder 0700, the file 0600), replacing atomically."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.to_json())
        os.replace(tmp, path)


def derived_id(key: bytes) -> str:
    """A key's id from the key itself (a hash prefix: it reveals nothing usable of the key)."""
    return "k-" + hashlib.sha256(b"enforce codec key id\0" + key).hexdigest()[:12]


def default_key_file() -> Path:
    return settings.data_dir() / "keys" / "codec-keys.json"


def key_file() -> Path:
    return Path(os.environ.get("ENFORCE_CODEC_KEYS") or default_key_file()).expanduser().resolve()


def configured() -> bool:
    return bool(os.environ.get("ENFORCE_CODEC_KEY")) or key_file().is_file()


def load_keys() -> KeySet:
    """The key set from the one setting (see the module's docstring); CodecKeyError naming what is wrong."""
    if single := os.environ.get("ENFORCE_CODEC_KEY"):
        try:
            key = base64.b64decode(single, validate=True)
        except (ValueError, binascii.Error):
            raise CodecKeyError("ENFORCE_CODEC_KEY: not base64") from None
        if len(key) != KEY_BYTES:
            raise CodecKeyError(f"ENFORCE_CODEC_KEY: {len(key)} bytes, not {KEY_BYTES}")
        return KeySet(current=derived_id(key), keys={derived_id(key): key})
    path = key_file()
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CodecKeyError(
            f"no codec key set at {path}: start the dev stack once (`enforce dev up` creates it), "
            "or set ENFORCE_CODEC_KEYS to a key-set file or ENFORCE_CODEC_KEY to a base64 key"
        ) from None
    except OSError as e:
        raise CodecKeyError(f"cannot read the codec key set {path}: {e.strerror}") from None
    return KeySet.from_json(text, str(path))


def ensure_key_file(path: Path | None = None) -> tuple[Path, bool]:
    """The key-set file, created with a fresh key when missing (never replaced). Returns (path, created)."""
    path = path or key_file()
    if path.is_file():
        os.chmod(path, 0o600)
        return path, False
    KeySet.generate().write(path)
    return path, True


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over the serialized payload; the key id is bound to the ciphertext as associated data."""

    def __init__(self, keys: KeySet):
        self.keys = keys
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.seal(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.open(p) for p in payloads]

    def seal(self, payload: Payload) -> Payload:
        kid = self.keys.current
        nonce = os.urandom(NONCE_BYTES)
        data = nonce + self._ciphers[kid].encrypt(nonce, payload.SerializeToString(), kid.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid.encode()}, data=data)

    def open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # not ours: a plaintext payload from before the codec
        kid = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise CodecKeyError(
                f"payload sealed with codec key {kid!r}, which is not in the key set "
                f"(it has {', '.join(sorted(self._ciphers))}): keep old keys when rotating"
            )
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], kid.encode())
        except Exception:  # cryptography's InvalidTag: altered data or a different key under the same id
            raise CodecKeyError(f"payload sealed with codec key {kid!r} does not open with that key") from None
        return Payload.FromString(plain)


# ------------------------------------------------------------------------------------------ files at rest
# Notices, documents and delivery receipts on disk are sealed with the same key set: a file is
# FILE_MAGIC, one byte of key id length, the key id, a 12-byte nonce, then AES-256-GCM of the content with the
# magic and key id as associated data. Everything that reads them goes through `read_file`.

FILE_MAGIC = b"enforce-sealed/1\n"


def seal_bytes(data: bytes, keys: KeySet | None = None) -> bytes:
    keys = keys or load_keys()
    kid = keys.current.encode()
    head = FILE_MAGIC + bytes([len(kid)]) + kid
    nonce = os.urandom(NONCE_BYTES)
    return head + nonce + AESGCM(keys.keys[keys.current]).encrypt(nonce, data, head)


def open_bytes(data: bytes, keys: KeySet | None = None, what: str = "file") -> bytes:
    """The content of a sealed file; a file from before sealing (no magic) comes back as it is."""
    if not data.startswith(FILE_MAGIC):
        return data
    keys = keys or load_keys()
    n = len(FILE_MAGIC)
    size = data[n] if len(data) > n else 0
    kid = data[n + 1 : n + 1 + size].decode(errors="replace")
    head_end = n + 1 + size
    key = keys.keys.get(kid)
    if key is None:
        raise CodecKeyError(f"{what} sealed with codec key {kid!r}, which is not in the key set")
    nonce = data[head_end : head_end + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, data[head_end + NONCE_BYTES :], data[:head_end])
    except Exception:  # InvalidTag
        raise CodecKeyError(f"{what} sealed with codec key {kid!r} does not open with that key") from None


def read_file(path: Path, keys: KeySet | None = None) -> bytes:
    """The one way to read a notice, document or receipt the activities wrote: opened with the key set."""
    return open_bytes(Path(path).read_bytes(), keys, str(path))


def private_dir(path: Path) -> Path:
    """`path` and every folder made on the way to it created 0700 (an existing one is left as it is, but the
    leaf is made 0700)."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def data_converter(keys: KeySet | None = None) -> DataConverter:
    """The data converter of the worker, the CLI, the simulation, the tests and the replayer."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keys or load_keys()),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
