"""Sealed content: evidence encrypted on its holder's machine for the sealing keys of the authorities in its
scope (`enforce.sealing` does the cryptography). The record keeps the envelope, a text of its own format:
`sealed:1:` then base64 of a JSON object with the content (`c`, encrypted once) and one wrap of its content
key per recipient key (`k`: party, key id, ephemeral key, wrapped key). Pure: reading an envelope's parts,
never opening one."""

from __future__ import annotations

import base64
import hashlib
import json

PREFIX = "sealed:1:"


def is_sealed(text: str) -> bool:
    return text.startswith(PREFIX)


def parts(envelope: str) -> dict | None:
    """The envelope's JSON object, or None when `envelope` is not one."""
    if not is_sealed(envelope):
        return None
    try:
        doc = json.loads(base64.b64decode(envelope[len(PREFIX) :], validate=True))
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("c"), str) or not isinstance(doc.get("k"), list):
        return None
    return doc


def recipients(envelope: str) -> list[str]:
    doc = parts(envelope)
    return sorted({str(w.get("to")) for w in doc["k"] if isinstance(w, dict)}) if doc else []


def same_content(a: str, b: str) -> bool:
    """Whether two envelopes seal the very same ciphertext (a re-seal adds wraps, never changes content)."""
    pa, pb = parts(a), parts(b)
    return pa is not None and pb is not None and pa["c"] == pb["c"]


def digest(envelope: str) -> str:
    """What a record keeps of sealed content it no longer holds whole: the SHA-256 of its ciphertext (base64,
    43 characters), the same for every re-seal of it (`same_content`); empty for a text in clear, and `-` (which
    no digest equals) for one that claims to be sealed and is no envelope."""
    if not is_sealed(envelope):
        return ""
    doc = parts(envelope)
    if doc is None:
        return "-"
    return base64.b64encode(hashlib.sha256(doc["c"].encode()).digest()).decode().rstrip("=")


def marker(envelope: str, reader: str | None = None) -> str:
    """What is shown in place of sealed content that is not opened: who it is sealed for, and, when a party's
    key was tried, that it does not open with it."""
    shown = f"sealed for {', '.join(recipients(envelope)) or 'no one'}"
    return f"[{shown}; not readable with {reader}'s key]" if reader else f"[{shown}]"


def shown(text: str, reader: str | None = None) -> str:
    """`text` itself when it is not sealed, else its marker."""
    return marker(text, reader) if is_sealed(text) else text
