"""Users, their keys and the keyring, on this machine.

A user's private keys (an Ed25519 signing key and an X25519 sealing key) live only in their own key folder:
`--dir`, else ENFORCE_USER_KEYS, else `$XDG_CONFIG_HOME/enforce/keys` (`~/.config/enforce/keys`), one file per
user, mode 0600 in a 0700 folder. The keyring is the deployment's file of public parts, one JSON object a line
(`domain.signing.KeyEntry`), at ENFORCE_KEYRING (default `<data dir>/keys/keyring.jsonl`): the worker reads it,
and `enforce verify --keyring` checks an export against it. Revoking a key is an edit: give it an `until`.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pydantic import ValidationError

from domain.case import RESPONDENT
from domain.limits import ID_MAX, REQUEST_ID_PATTERN
from domain.signing import KeyEntry, Signed, sign
from enforce import settings
from workflows import keyring as workflow_keyring

SUFFIX = ".key.json"


class KeyError_(Exception):
    """A key or keyring that cannot be read or made: one line naming the file or the field."""


def user_keys_dir(given: Path | None = None) -> Path:
    if given is not None:
        return given.expanduser().resolve()
    if env := os.environ.get("ENFORCE_USER_KEYS"):
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser().resolve() / "enforce" / "keys"


def keyring_file() -> Path:
    return Path(os.environ.get("ENFORCE_KEYRING", settings.data_dir() / "keys" / "keyring.jsonl")).resolve()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class User:
    """A user of this machine, with their private keys."""

    user: str
    party: str
    case: str | None
    signing: Ed25519PrivateKey
    sealing: X25519PrivateKey

    def entry(self, valid_from: datetime | None = None) -> KeyEntry:
        return KeyEntry(
            user=self.user,
            party=self.party,
            case=self.case,
            sign=_b64(self.signing.public_key().public_bytes_raw()),
            seal=_b64(self.sealing.public_key().public_bytes_raw()),
            valid_from=valid_from,
        )

    def sign_act(self, *, case: str, action: str, fields: Mapping[str, Any], request_id: str) -> Signed:
        return sign(
            self.signing,
            case=case,
            action=action,
            fields=fields,
            request_id=request_id,
            at=datetime.now(UTC),
            user=self.user,
            party=self.party,
        )


def generate(user: str, party: str, case: str | None = None) -> User:
    import re

    for what, value in (("--user", user), ("--party", party), ("--case", case or "x")):
        if len(value) > ID_MAX or not re.match(REQUEST_ID_PATTERN, value):
            raise KeyError_(f"{what}: use at most {ID_MAX} letters, digits and ._:- (starting with a letter or digit)")
    if party == RESPONDENT and not case:
        raise KeyError_("--case: a respondent's representative is registered for one case: name its slug")
    return User(user, party, case, Ed25519PrivateKey.generate(), X25519PrivateKey.generate())


def _write_private(path: Path, doc: dict) -> None:
    """Write a new file readable by its owner only; never overwrite one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise KeyError_(f"{path}: a key for this user exists already (never overwritten)") from None
    finally:
        tmp.unlink(missing_ok=True)


def save(u: User, folder: Path | None = None) -> Path:
    path = user_keys_dir(folder) / f"{u.user}{SUFFIX}"
    doc = {
        "user": u.user,
        "party": u.party,
        "case": u.case,
        "sign": _b64(u.signing.private_bytes_raw()),
        "seal": _b64(u.sealing.private_bytes_raw()),
    }
    _write_private(path, doc)
    return path


def _load_user(path: Path) -> User:
    try:
        doc = json.loads(path.read_text())
        return User(
            str(doc["user"]),
            str(doc["party"]),
            doc.get("case"),
            Ed25519PrivateKey.from_private_bytes(base64.b64decode(doc["sign"], validate=True)),
            X25519PrivateKey.from_private_bytes(base64.b64decode(doc["seal"], validate=True)),
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise KeyError_(f"{path}: not a user key file ({type(e).__name__})") from None


def local_users(folder: Path | None = None) -> list[User]:
    d = user_keys_dir(folder)
    if not d.is_dir():
        return []
    return [_load_user(p) for p in sorted(d.glob(f"*{SUFFIX}"))]


def user_for(
    party: str, *, case: str | None = None, user: str | None = None, folder: Path | None = None
) -> User | None:
    """This machine's user for `party` (for the respondent: its representative for `case`), or the one named."""
    for u in local_users(folder):
        if user is not None:
            if u.user == user:
                return u
            continue
        if u.party == party and (party != RESPONDENT or u.case == case):
            return u
    return None


# ------------------------------------------------------------------------------------------------ the keyring


def read_keyring(path: Path | None = None) -> list[KeyEntry]:
    path = path or keyring_file()
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise KeyError_(f"{path}: no keyring (`enforce dev up` makes one; `enforce keys new` prints entries)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise KeyError_(f"{path}: cannot read the keyring ({type(e).__name__})") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            out.append(KeyEntry.model_validate_json(line))
        except ValidationError as e:
            err = e.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"]) or "(line)"
            raise KeyError_(f"{path}: line {n}: {where}: {err['msg'][:200]}") from None
    return out


def append_keyring(entries: Iterable[KeyEntry], path: Path | None = None) -> Path:
    path = path or keyring_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with path.open("a") as f:
        for e in entries:
            f.write(e.model_dump_json(by_alias=True, exclude_none=True) + "\n")
    return path


def install(path: Path | None = None) -> list[KeyEntry]:
    """Load the keyring and hand it to workflow code (the validators of acts)."""
    entries = read_keyring(path)
    workflow_keyring.install(entries)
    return entries


def ensure_parties(parties: Iterable[str], cases: Iterable[str] = (), folder: Path | None = None) -> list[KeyEntry]:
    """A local user (and a keyring entry) for each party and for the respondent of each case that has none:
    what `enforce dev up` and the test session do, so `enforce act --as <party>` signs with no extra step."""
    ring = keyring_file()
    known = read_keyring(ring) if ring.exists() else []
    have = {(u.party, u.case if u.party == RESPONDENT else None) for u in local_users(folder)}
    in_ring = {(e.user, e.sign) for e in known}
    made: list[KeyEntry] = []
    wanted = [(p, None) for p in parties] + [(RESPONDENT, c) for c in cases]
    for party, case in wanted:
        if (party, case) in have:
            continue
        u = generate(f"dev-{party}" if case is None else f"dev-{party}-{case}", party, case)
        save(u, folder)
        made.append(u.entry())
    # A local user the keyring does not list yet (a keyring removed, say) is added back.
    for u in local_users(folder):
        e = u.entry()
        if (e.user, e.sign) not in in_ring and all(m.user != e.user for m in made):
            made.append(e)
    if made:
        append_keyring(made, ring)
    return made


def shipped_parties() -> list[str]:
    """Every authority of the shipped procedures."""
    from domain.procedure import known_procedures, load_procedure

    out: list[str] = []
    for pid in known_procedures():
        for aid in load_procedure(pid).authorities:
            if aid not in out:
                out.append(aid)
    return out


def shipped_cases() -> list[str]:
    """The slugs of the case files shipped in `cases/` (when run from the project's folder)."""
    import tomllib

    folder = Path(__file__).resolve().parent.parent / "cases"
    out = []
    for p in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            slug = tomllib.loads(p.read_text()).get("slug")
        except (OSError, ValueError):
            continue
        if isinstance(slug, str):
            out.append(slug)
    return out
