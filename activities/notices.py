"""Serving a notice: render it, file it in the document store, deliver it. Idempotent on the notice id."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.notices import NoticeReceipt, NoticeRequest
from enforce import settings

TEMPLATES = Path(__file__).parent / "templates"
UNDELIVERABLE = "NoticeUndeliverable"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def template_for(req: NoticeRequest) -> jinja2.Template:
    """The most specific template: per sending authority, then per procedure, then the default."""
    names = [f"{req.procedure}/{req.senders[0].id}/{req.kind}.md.j2"] if len(req.senders) == 1 else []
    names += [f"{req.procedure}/{req.kind}.md.j2", f"{req.kind}.md.j2"]
    try:
        return _env.select_template(names)
    except jinja2.TemplatesNotFound:
        raise ApplicationError(
            f"no template for notice kind {req.kind!r}", type=UNDELIVERABLE, non_retryable=True
        ) from None


def render(req: NoticeRequest) -> str:
    context = req.model_dump() | {"dated": req.dated, "due": req.due, "section": req.section}
    try:
        return template_for(req).render(**context)
    except jinja2.TemplateError as e:
        raise ApplicationError(f"template for {req.kind} failed: {e}", type=UNDELIVERABLE, non_retryable=True) from None


def file_document(req: NoticeRequest) -> tuple[Path, str]:
    body = render(req).encode()
    path = settings.documents_dir() / f"{req.notice_id}.md"
    _write_atomic(path, body)
    return path, hashlib.sha256(body).hexdigest()


def deliver_to_outbox(req: NoticeRequest, document: Path, sha256: str) -> NoticeReceipt:
    folder = settings.outbox_dir() / req.to.id
    marker = folder / f"{req.notice_id}.receipt.json"
    if marker.exists():
        # Already delivered by an earlier attempt: the same proof, not a second delivery.
        return NoticeReceipt.model_validate_json(marker.read_text())
    _write_atomic(folder / f"{req.notice_id}.md", document.read_bytes())
    receipt = NoticeReceipt(
        notice_id=req.notice_id,
        channel="outbox",
        message_id=f"<{req.notice_id}@enforce>",
        transmitted_at=datetime.now(UTC),
        document=str(document),
        sha256=sha256,
    )
    _write_atomic(marker, receipt.model_dump_json(indent=2).encode())
    return receipt


@activity.defn(name="serve_notice")
async def serve_notice(req: NoticeRequest) -> NoticeReceipt:
    activity.logger.info("serving notice", extra={"notice_id": req.notice_id, "to": req.to.id})
    document, sha256 = file_document(req)
    if req.to.channel != "outbox":
        raise ApplicationError(f"unknown channel {req.to.channel!r}", type=UNDELIVERABLE, non_retryable=True) from None
    return deliver_to_outbox(req, document, sha256)


def outbox_entries(recipient: str) -> list[dict]:
    """What an outbox holds for one recipient (for people and tests)."""
    folder = settings.outbox_dir() / recipient
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.receipt.json"))]
