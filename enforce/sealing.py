"""Sealing evidence on the user's machine: the content is encrypted once (AES-256-GCM, a fresh content key),
and the content key is wrapped for each sealing key (X25519) the keyring lists for the authorities in scope:
an ephemeral X25519 key agreement, HKDF-SHA256, AES-256-GCM. Only a holder of one of those private keys opens
it; workflows, Temporal's history and its database see the envelope (`domain.sealed`) and nothing else."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.sealed import PREFIX, parts
from domain.signing import KeyEntry, key_id
from enforce.identity import User

CONTENT_AAD = b"enforce-sealed/1 content"
WRAP_INFO = b"enforce-sealed/1 wrap"


class NoSealingKey(Exception):
    """An authority in scope with no sealing key in the keyring: one line naming it."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _wrap_key(shared: bytes, eph: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=WRAP_INFO + eph + recipient).derive(shared)


def _wrap(content_key: bytes, party: str, seal: str) -> dict:
    recipient = base64.b64decode(seal)
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes_raw()
    kek = _wrap_key(eph.exchange(X25519PublicKey.from_public_bytes(recipient)), eph_pub, recipient)
    nonce = os.urandom(12)
    wrapped = AESGCM(kek).encrypt(nonce, content_key, party.encode())
    return {"to": party, "key": key_id(seal), "e": _b64(eph_pub), "w": _b64(nonce + wrapped)}


def _recipients(parties: Iterable[str], entries: Iterable[KeyEntry]) -> list[tuple[str, str]]:
    entries = list(entries)
    out = []
    for party in parties:
        keys = [e.seal for e in entries if e.party == party and e.seal and e.until is None]
        if not keys:
            raise NoSealingKey(f"no sealing key for {party!r} in the keyring: its evidence cannot be sealed for it")
        out += [(party, k) for k in dict.fromkeys(keys)]
    return out


def _envelope(doc: dict) -> str:
    return PREFIX + _b64(json.dumps(doc, separators=(",", ":")).encode())


def seal(text: str, parties: Iterable[str], entries: Iterable[KeyEntry]) -> str:
    """`text` sealed for every (unrevoked) sealing key of `parties`."""
    content_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    content = nonce + AESGCM(content_key).encrypt(nonce, text.encode(), CONTENT_AAD)
    wraps = [_wrap(content_key, party, k) for party, k in _recipients(parties, entries)]
    return _envelope({"c": _b64(content), "k": wraps})


def _content_key(doc: dict, user: User) -> bytes | None:
    mine = user.sealing.public_key().public_bytes_raw()
    kid = key_id(_b64(mine))
    for w in doc["k"]:
        if not isinstance(w, dict) or w.get("key") != kid:
            continue
        try:
            eph = base64.b64decode(w["e"])
            raw = base64.b64decode(w["w"])
            kek = _wrap_key(user.sealing.exchange(X25519PublicKey.from_public_bytes(eph)), eph, mine)
            return AESGCM(kek).decrypt(raw[:12], raw[12:], str(w["to"]).encode())
        except (InvalidTag, ValueError, KeyError, TypeError):
            continue
    return None


def open_sealed(envelope: str, user: User) -> str | None:
    """The text, if `user`'s own sealing key opens the envelope; else None."""
    doc = parts(envelope)
    if doc is None:
        return None
    key = _content_key(doc, user)
    if key is None:
        return None
    raw = base64.b64decode(doc["c"])
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], CONTENT_AAD).decode()
    except (InvalidTag, ValueError):
        return None


def reseal(envelope: str, user: User, parties: Iterable[str], entries: Iterable[KeyEntry]) -> str | None:
    """The envelope with the content key also wrapped for `parties`: done by a user whose key opens it (the
    holder's), the content itself untouched. None when `user` cannot open it."""
    doc = parts(envelope)
    key = _content_key(doc, user) if doc else None
    if doc is None or key is None:
        return None
    have = {w.get("key") for w in doc["k"] if isinstance(w, dict)}
    added = [_wrap(key, p, k) for p, k in _recipients(parties, entries) if key_id(k) not in have]
    return _envelope({"c": doc["c"], "k": [*doc["k"], *added]})
