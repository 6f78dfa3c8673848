"""Serving a notice: render it (Markdown, the document of record, and HTML), file both in the document store,
deliver it by the recipient's channel. Idempotent on the notice id.

Channels (chosen per recipient in the case file, `domain.case.Recipient`):
- `outbox`: a folder per recipient under the outbox (ENFORCE_OUTBOX_DIR, default `.data/outbox`).
- `smtp`: an email (see `activities.mail` for the configuration, and for what "exactly once" can promise).

Either way a `<notice_id>.receipt.json` marker in `<outbox or sent dir>/<recipient>/` is written once the notice
is delivered; a retry that finds it returns the same receipt and delivers nothing.

At rest: every file written here (documents, outbox copies, receipts, the smtp channel's sending state) is sealed
with the payload codec's key set and created 0600 in 0700 folders; `enforce.codec.read_file` opens them. The
smtp channel is the one that needs a notice in clear: the message goes to the SMTP server as the recipient
reads it (over TLS when configured, see `activities.mail`), and that server keeps it as its own policy says.

Errors: what no retry can fix (no template, a template that fails, no SMTP configuration, an address the
server refuses with 5xx) is a non-retryable `NoticeUndeliverable`, which the workflow records as NoticeFailed;
what may pass (an unreachable server, a 4xx, a full disk) is retryable under the workflow's retry policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import mail
from activities.render import Rendered, RenderError, render, template_for  # noqa: F401  (template_for: re-export)
from domain.notices import NoticeReceipt, NoticeRequest
from enforce import codec, settings

UNDELIVERABLE = "NoticeUndeliverable"
TRANSIENT = "NoticeNotYetDelivered"
CHANNELS = ("outbox", "smtp")
# While a step waits (a slow server, a slow disk) the worker still says it is alive this often: a heartbeat
# timeout then means a dead or stalled worker, never a slow server. Well under NOTICE_HEARTBEAT (10 s).
HEARTBEAT_EVERY = 2.0


def undeliverable(message: str) -> ApplicationError:
    return ApplicationError(message, type=UNDELIVERABLE, non_retryable=True)


def sent_dir() -> Path:
    """Where the smtp channel keeps its markers: ENFORCE_SENT_DIR, default `<data dir>/sent`."""
    return Path(os.environ.get("ENFORCE_SENT_DIR", settings.data_dir() / "sent")).resolve()


def receipts_dir(channel: str) -> Path:
    return settings.outbox_dir() if channel == "outbox" else sent_dir()


def _write_atomic(path: Path, data: bytes) -> None:
    """Sealed with the codec's key set (enforce.codec.seal_bytes), readable by the worker's user only (0600 in
    0700 folders); read back with `codec.read_file`."""
    codec.private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(codec.seal_bytes(data))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    # The rename itself durable: a receipt that a power cut could take back is not a receipt.
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class Heartbeat:
    """Tells Temporal which step the delivery is at (the details of the last heartbeat), at once when the step
    changes and every HEARTBEAT_EVERY seconds meanwhile. Outside an activity (a direct call) it only records."""

    def __init__(self) -> None:
        self.step = "starting"

    def __call__(self, step: str) -> None:
        self.step = step
        try:
            activity.heartbeat(step)
        except RuntimeError:  # not in an activity
            pass

    async def _repeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            self(self.step)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Heartbeat]:
        task = asyncio.create_task(self._repeat())
        try:
            yield self
        finally:
            task.cancel()


def render_notice(req: NoticeRequest) -> Rendered:
    try:
        return render(req)
    except RenderError as e:
        raise undeliverable(str(e)) from None


def file_documents(req: NoticeRequest) -> tuple[Rendered, Path, Path]:
    """Both renderings in the document store, named by notice id. Rendering is deterministic, so a retry
    writes the same bytes."""
    doc = render_notice(req)
    folder = settings.documents_dir()
    md, html = folder / f"{req.notice_id}.md", folder / f"{req.notice_id}.html"
    _write_atomic(md, doc.markdown.encode())
    _write_atomic(html, doc.html.encode())
    return doc, md, html


def marker_path(req: NoticeRequest) -> Path:
    return receipts_dir(req.to.channel) / req.to.id / f"{req.notice_id}.receipt.json"


def delivered(req: NoticeRequest) -> NoticeReceipt | None:
    """The receipt of an earlier attempt that delivered this notice, if any."""
    marker = marker_path(req)
    if marker.exists():
        return NoticeReceipt.model_validate_json(codec.read_file(marker))
    return None


def deliver_to_outbox(req: NoticeRequest, doc: Rendered, md: Path, html: Path) -> NoticeReceipt:
    folder = settings.outbox_dir() / req.to.id
    _write_atomic(folder / f"{req.notice_id}.md", doc.markdown.encode())
    _write_atomic(folder / f"{req.notice_id}.html", doc.html.encode())
    receipt = NoticeReceipt(
        notice_id=req.notice_id,
        channel="outbox",
        message_id=mail.message_id(req.notice_id),
        transmitted_at=datetime.now(UTC),
        document=str(md),
        sha256=doc.sha256,
        html_document=str(html),
        html_sha256=doc.html_sha256,
        address=str(folder),
    )
    _write_atomic(marker_path(req), receipt.model_dump_json(indent=2).encode())
    return receipt


def _attempt_number() -> int:
    try:
        return activity.info().attempt
    except RuntimeError:
        return 0


class _DeliveredMeanwhile(Exception):
    """A retry of this notice wrote its receipt while this attempt was stalled: this one must not send."""


async def deliver_by_smtp(
    req: NoticeRequest, doc: Rendered, md: Path, html: Path, beat: Heartbeat | None = None
) -> NoticeReceipt:
    """See `activities.mail` for the markers and what they leave to chance."""
    beat = beat or Heartbeat()
    try:
        config = mail.SmtpConfig.from_env()
    except mail.SmtpConfigError as e:
        raise undeliverable(str(e)) from None
    if not req.to.email:
        raise undeliverable(f"{req.to.id}: channel smtp without an email address")
    folder = sent_dir() / req.to.id
    sending = folder / f"{req.notice_id}.sending.json"
    state = json.loads(codec.read_file(sending)) if sending.exists() else {"message_id": mail.message_id(req.notice_id)}
    attempts: list[dict] = state.setdefault("attempts", [])
    if attempts and attempts[-1]["outcome"] == "in-flight":
        # The last attempt stopped without saying how: it matters only if the message had started to go out.
        last = attempts[-1]
        last["outcome"] = "unknown: stopped while sending" if last["phase"] == "data" else "stopped before sending"
    duplicate = any(a["outcome"].startswith("unknown") for a in attempts)
    if duplicate:
        activity.logger.warning(
            "an earlier attempt may have delivered this notice; sending it again under the same Message-ID",
            extra={"notice_id": req.notice_id, "message_id": state["message_id"]},
        )
    attempt = {
        "attempt": _attempt_number(),
        "started_at": datetime.now(UTC).isoformat(),
        "phase": "transaction",
        "outcome": "in-flight",
    }
    attempts.append(attempt)

    def save() -> None:
        _write_atomic(sending, json.dumps(state, indent=2).encode())

    def on_phase(phase: str) -> None:
        if phase == "data" and marker_path(req).exists():
            raise _DeliveredMeanwhile
        attempt["phase"] = phase
        save()

    receipts: list[NoticeReceipt] = []

    def on_accepted(response: str) -> None:
        # The server has the message: the receipt goes to disk now, before QUIT, before a heartbeat or a log
        # line. The residual window (activities/mail.py) closes when this function returns.
        mail.checkpoint("accepted", req.notice_id)
        receipt = mail.receipt(req, md, html, doc, response, duplicate)
        _write_atomic(marker_path(req), receipt.model_dump_json(indent=2).encode())
        receipts.append(receipt)

    save()  # before the SMTP transaction: a crash from here on is seen by the next attempt
    message = mail.build_message(req, doc, config)
    try:
        await mail.transmit(config, message, req.to.email, on_phase, on_accepted, beat)
    except _DeliveredMeanwhile:
        attempt["outcome"] = "not sent: delivered by a later attempt"
        earlier = delivered(req)
        assert earlier is not None
        return earlier
    except mail.Refused as e:
        attempt["outcome"] = f"refused: {e}"
        save()
        raise undeliverable(f"smtp: {e}") from None
    except mail.Transient as e:
        attempt["outcome"] = f"not sent: {e}"
        save()
        raise ApplicationError(f"smtp: {e}", type=TRANSIENT) from None
    except Exception as e:
        if attempt["phase"] == "data":
            attempt["outcome"] = f"unknown: {type(e).__name__}: {e}"
            save()
        raise
    sending.unlink(missing_ok=True)
    mail.checkpoint("recorded", req.notice_id)
    return receipts[0]


@activity.defn(name="serve_notice")
async def serve_notice(req: NoticeRequest) -> NoticeReceipt:
    activity.logger.info(
        "serving notice", extra={"notice_id": req.notice_id, "to": req.to.id, "channel": req.to.channel}
    )
    if req.to.channel not in CHANNELS:
        raise undeliverable(f"unknown channel {req.to.channel!r}")
    beat = Heartbeat()
    beat("receipt")
    earlier = delivered(req)
    if earlier is not None:
        # Delivered by an earlier attempt: the same proof, not a second delivery (and the document that was
        # delivered stays the one on file, even if the templates changed since).
        return earlier
    async with beat.running():
        beat("rendering")
        doc, md, html = file_documents(req)
        if req.to.channel == "smtp":
            return await deliver_by_smtp(req, doc, md, html, beat)
        beat("outbox")
        return deliver_to_outbox(req, doc, md, html)
