"""Notices: what the investigation asks to be served, and the proof of service that comes back."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from domain.case import Issue, Recipient
from domain.procedure import Procedure


class Sender(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    short: str
    cite: str
    section: str
    file: str = ""


class NoticeRequest(BaseModel):
    """Everything the delivery activity needs; small, so it sits well in history."""

    model_config = ConfigDict(frozen=True)

    notice_id: str
    kind: str
    procedure: str
    case_slug: str
    case_title: str
    issues: list[Issue]
    senders: list[Sender]
    to: Recipient
    dated: date
    due: date | None = None
    due_rule: str = ""
    # The event that made it necessary (its seq and type in the sending workflow's record).
    cause: int = 0
    cause_type: str = ""
    deadline: str = ""
    context: dict[str, str] = {}

    @property
    def section(self) -> str:
        return "; ".join(f"{s.cite} {s.section}".strip() for s in self.senders if s.section)


class NoticeReceipt(BaseModel):
    """Proof of transmission, as the delivery activity returns it (and keeps it, as the idempotence marker)."""

    model_config = ConfigDict(frozen=True)

    notice_id: str
    channel: str
    # `<notice_id@enforce>`: deterministic, so a receiving server can recognise a copy it already has.
    message_id: str
    # Wall-clock time at the recipient's end; the workflow records the case clock beside it.
    transmitted_at: datetime
    # The document of record (Markdown) and its SHA-256.
    document: str
    sha256: str
    # The same notice rendered to HTML, for reading and for email.
    html_document: str = ""
    html_sha256: str = ""
    # Where it went: the outbox folder, or the email address.
    address: str = ""
    # The server's reply to the message (smtp), e.g. `250 OK queued as ...`.
    response: str = ""
    # An earlier attempt may have reached the server before its worker stopped (see activities.mail): this
    # transmission repeats it, under the same Message-ID.
    possible_duplicate: bool = False


def notice_id(log: str, trigger_seq: int, kind: str, recipient: str) -> str:
    """Derived from the record (`log` names it: the case's slug, or `<slug>.<authority>` for a track), so a
    replay or a retry names the same notice and never serves it twice."""
    return f"{log}-{trigger_seq:04d}-{kind}-{recipient}"


def senders_for(procedure: Procedure, authority_ids: list[str], files: dict[str, str], step: str) -> list[Sender]:
    out = []
    for aid in authority_ids:
        auth = procedure.authority(aid)
        out.append(
            Sender(
                id=aid,
                name=auth.name,
                short=auth.short,
                cite=auth.cite,
                section=auth.sections.get(step, ""),
                file=files.get(aid, ""),
            )
        )
    return out
