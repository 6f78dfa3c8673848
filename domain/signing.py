"""Signed acts: what a user's signature covers, the keyring's entries, and who may sign for whom.

A user acts for one party: an authority id of the procedure, or `respondent` as a respondent's registered
representative for one case. Their signing key (Ed25519) signs each act: the case, the action's name, a digest
of its fields (`by` among them), the request id, the time and who signs. The signature travels in the action's
payload as `signature` (a `Signed`), and every event the act decides keeps it, so an exported record can be
checked against the keyring long after. Pure: no I/O and no Temporal (verification is arithmetic on bytes).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.case import RESPONDENT
from domain.limits import ID_MAX, KEY_B64_MAX, Id

# The payload field that carries an act's signature; never one of the action's own fields.
FIELD = "signature"
KEY_BYTES = 32
SIG_BYTES = 64


def _b64(value: str, size: int, what: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise ValueError(f"{what}: not base64") from None
    if len(raw) != size:
        raise ValueError(f"{what}: {len(raw)} bytes, not {size}")
    return value


def key_id(public: str) -> str:
    """A short name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(base64.b64decode(public)).hexdigest()[:16]


class Signed(BaseModel):
    """An act's signature, and what it was made over (all of it but `sig` is signed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    case: Id
    action: Id
    by: Id
    fields_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    request_id: Id
    at: datetime
    user: Id
    # The party the signer acts for (from the keyring): `by`'s own, or an officer's recording for the respondent.
    party: Id
    # The signer's public key, so the signature can be checked from the record alone, without the keyring.
    key: str = Field(max_length=KEY_B64_MAX)
    sig: str = Field(max_length=KEY_B64_MAX)

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        return _b64(v, KEY_BYTES, "key")

    @field_validator("sig")
    @classmethod
    def _sig(cls, v: str) -> str:
        return _b64(v, SIG_BYTES, "sig")

    @field_validator("at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("at: give a time with its UTC offset")
        return v.astimezone(UTC)


def canonical(value: Any) -> bytes:
    """One fixed encoding of a JSON value: sorted keys, no spaces, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def fields_digest(fields: Mapping[str, Any]) -> str:
    """The SHA-256 of an action's fields (its JSON form, `by` included, the signature left out)."""
    return hashlib.sha256(canonical({k: v for k, v in fields.items() if k != FIELD})).hexdigest()


def message(s: Signed) -> bytes:
    """The bytes the signature covers: every field of `s` but the signature itself."""
    body = s.model_dump(mode="json", exclude={"sig"})
    return b"enforce-act/1\n" + canonical(body)


def sign(
    private: Ed25519PrivateKey,
    *,
    case: str,
    action: str,
    fields: Mapping[str, Any],
    request_id: str,
    at: datetime,
    user: str,
    party: str,
) -> Signed:
    """Sign an act's fields (their JSON form) with `private`."""
    public = base64.b64encode(private.public_key().public_bytes_raw()).decode()
    unsigned = Signed.model_construct(
        case=case,
        action=action,
        by=str(fields.get("by", "")),
        fields_sha256=fields_digest(fields),
        request_id=request_id,
        at=at.astimezone(UTC),
        user=user,
        party=party,
        key=public,
        sig="",
    )
    sig = base64.b64encode(private.sign(message(unsigned))).decode()
    return Signed.model_validate({**unsigned.model_dump(mode="json"), "sig": sig})


def verifies(s: Signed) -> bool:
    """Whether `s.sig` is `s.key`'s signature of `message(s)`. Depends on nothing but `s`: a replay decides
    the same."""
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(s.key)).verify(base64.b64decode(s.sig), message(s))
    except (InvalidSignature, ValueError):
        return False
    return True


def problem(
    s: Signed, *, case: str, action: str, fields: Mapping[str, Any], request_id: str | None = None
) -> str | None:
    """What is wrong with `s` as the signature of this act, checked from the act alone, or None."""
    if s.case != case:
        return f"signed for case {s.case!r}, not {case!r}"
    if s.action != action:
        return f"signed for {s.action!r}, not {action!r}"
    if s.by != fields.get("by"):
        return f"signed as by {s.by!r}, the action says {fields.get('by')!r}"
    if s.fields_sha256 != fields_digest(fields):
        return "the action's fields are not the ones signed"
    if request_id is not None and s.request_id != request_id:
        return f"signed under request id {s.request_id!r}, not {request_id!r}"
    if not verifies(s):
        return f"the signature of {s.user!r} does not verify"
    return None


def may_sign(s: Signed, *, authorities: Collection[str], track: str | None) -> str | None:
    """Whether the signer's party may take an act as `s.by`, or why not. An authority's user acts for that
    authority; the respondent's acts are signed by its registered representative (party `respondent`) or by an
    officer of the authority that received them: the track's authority for a track action, any authority of
    the case for a joint one. `s.party` says which one signed, and the record keeps it."""
    if s.by == RESPONDENT:
        if s.party == RESPONDENT:
            return None
        if track is not None and s.party == track:
            return None
        if track is None and s.party in authorities:
            return None
        receiving = track if track is not None else "an authority of this case"
        return f"{s.user!r} acts for {s.party!r}: the respondent's acts are signed by its representative or {receiving}"
    if s.party != s.by:
        return f"{s.user!r} acts for {s.party!r}, not for {s.by!r}"
    return None


# ------------------------------------------------------------------------------------------------ the keyring


class KeyEntry(BaseModel):
    """One user's public keys in the keyring, valid from `from` until `until` (revoked from then on)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    user: Id
    party: Id
    # A respondent's representative is registered for one case (its slug).
    case: Id | None = None
    sign: str = Field(max_length=KEY_B64_MAX)
    seal: str = Field(default="", max_length=KEY_B64_MAX)
    valid_from: datetime | None = Field(default=None, alias="from")
    until: datetime | None = None

    @field_validator("sign")
    @classmethod
    def _sign(cls, v: str) -> str:
        return _b64(v, KEY_BYTES, "sign")

    @field_validator("seal")
    @classmethod
    def _seal(cls, v: str) -> str:
        return _b64(v, KEY_BYTES, "seal") if v else v

    @field_validator("valid_from", "until")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v

    @property
    def key_id(self) -> str:
        return key_id(self.sign)

    def valid_at(self, t: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= t) and (self.until is None or t < self.until)


def find(entries: Iterable[KeyEntry], user: str, key: str) -> KeyEntry | None:
    for e in entries:
        if e.user == user and e.sign == key:
            return e
    return None


def refuse(entries: Iterable[KeyEntry], s: Signed, *, slug: str, now: datetime | None = None) -> str | None:
    """Why the keyring refuses `s`: the key is unknown, names another party or case, or is not valid when it
    signed (or, given `now`, is not valid now: revoked since). None when it stands."""
    e = find(entries, s.user, s.key)
    if e is None:
        return f"key {key_id(s.key)} of {s.user[:ID_MAX]!r} is not in the keyring"
    if e.party != s.party:
        return f"{s.user!r} acts for {e.party!r} in the keyring, not {s.party!r}"
    if e.party == RESPONDENT and e.case != slug:
        return f"{s.user!r} represents the respondent of case {e.case!r}, not {slug!r}"
    for t, when in ((s.at, "when it signed"), (now, "now")):
        if t is not None and not e.valid_at(t):
            revoked = f" (revoked from {e.until.isoformat()})" if e.until and t >= e.until else ""
            return f"key {e.key_id} of {s.user!r} is not valid {when}{revoked}"
    return None


# cryptography imports its exception types lazily, the first time its native code raises one; inside the
# workflow sandbox that import fails and aborts the worker process. One failed verification here, when this
# module is first imported (outside any sandbox: workflow code imports it passed through), loads them.
verifies(
    Signed.model_construct(
        key=base64.b64encode(bytes(KEY_BYTES)).decode(),
        sig=base64.b64encode(bytes(SIG_BYTES)).decode(),
        case="",
        action="",
        by="",
        fields_sha256="0" * 64,
        request_id="",
        at=datetime(2000, 1, 1, tzinfo=UTC),
        user="",
        party="",
    )
)


# What a record records by itself in a party's name, unsigned: its opening (`enforce open`), notices served or
# failed (by their sender), and findings issued once every co-authority concurred (by the lead).
RECORD_MADE = frozenset({"InvestigationOpened", "NoticeServed", "NoticeFailed", "FindingsIssued"})
SYSTEM = "system"


def check_signatures(lines: Iterable[tuple[int, Mapping[str, Any]]], entries: list[KeyEntry], case: str) -> str | None:
    """The first exported event (line number, fields) whose signature fails, or None: every act's event must
    carry the signature of a key the keyring lists for the party it names, valid when it signed, over that
    event's `by`; what the record does itself is unsigned (`system`, or one of RECORD_MADE)."""
    authorities: list[str] = []
    for n, body in lines:
        if body.get("type") == "InvestigationOpened":
            authorities = list(body.get("authorities") or [])
        raw = body.get("signed")
        by = body.get("by")
        if raw is None:
            if by != SYSTEM and body.get("type") not in RECORD_MADE:
                return f"line {n}: {body.get('type')} by {by!r} is not signed"
            continue
        try:
            s = Signed.model_validate(raw)
        except ValueError as e:
            return f"line {n}: signed: not a signature ({type(e).__name__})"
        if by not in (s.by, SYSTEM):
            return f"line {n}: by {by!r}, but {s.user!r} signed as {s.by!r}"
        if s.case != case:
            return f"line {n}: signed for case {s.case!r}, not {case!r}"
        if not verifies(s):
            return f"line {n}: the signature of {s.user!r} does not verify"
        why = refuse(entries, s, slug=case) or may_sign(s, authorities=authorities, track=None)
        if why:
            return f"line {n}: {why}"
    return None
