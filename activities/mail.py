"""The `smtp` channel: a notice as an email (text and HTML, the Markdown attached) to a server configured by
the environment, sent at most once per notice id as far as this side can know.

Configuration, read when a notice is delivered (so a worker picks up a fix without a restart):

| variable | meaning |
|---|---|
| ENFORCE_SMTP_HOST | the server (required) |
| ENFORCE_SMTP_PORT | default 465 with ENFORCE_SMTP_TLS, 587 with ENFORCE_SMTP_STARTTLS, else 25 |
| ENFORCE_SMTP_TLS | `1`: implicit TLS from the first byte (SMTPS) |
| ENFORCE_SMTP_STARTTLS | `1`: require STARTTLS; `0`: never; unset: use it when the server offers it |
| ENFORCE_SMTP_USERNAME, ENFORCE_SMTP_PASSWORD | credentials (AUTH), both or neither |
| ENFORCE_SMTP_FROM | the sender address (required), e.g. `Notices <notices@opc.example>` |
| ENFORCE_SMTP_CA_FILE | a CA bundle to verify the server's certificate with (default: the system's) |
| ENFORCE_SMTP_TIMEOUT | seconds per SMTP command, default 30 |

Exactly once, and where it stops
--------------------------------
Each attempt keeps a `.sending.json` marker beside the receipt (`<sent dir>/<recipient>/<notice_id>.…`):
written before MAIL FROM, moved to phase `data` just before the message is transmitted, and replaced by the
`.receipt.json` marker as soon as the server has accepted the message (before QUIT). Every attempt looks for
the receipt first: one that finds it returns it and sends nothing. One that finds a `.sending` marker knows
an earlier attempt stopped without a receipt:

- stopped before phase `data` (connection refused, a 4xx to MAIL or RCPT, a crash while connecting): the
  server cannot have the message; sending now is the first copy.
- refused in phase `data` with a reply code (451 to DATA or to the final dot): not accepted; the first copy.
- stopped in phase `data` without a reply (the worker crashed or was cancelled by its timeout, the connection
  dropped, or the server said 250 and the worker died before writing the receipt): the server may have the
  message. SMTP has no way to ask, so the notice is sent again, under the SAME `Message-ID: <notice_id@enforce>`,
  and the receipt says `possible_duplicate`.

A dead worker is noticed in seconds, not at the end of the activity's timeout: the delivery heartbeats at each
step (rendering, connecting, MAIL, RCPT, DATA, the receipt) and every couple of seconds while a command is
waiting on the server, and the workflow gives the activity a short heartbeat timeout (`NOTICE_HEARTBEAT` in
workflows/record.py). A worker killed before DATA is retried after that timeout plus the retry interval, and
the retry is the first copy.

The residual window, exactly: from the moment the final `<CRLF>.<CRLF>` of DATA is on the socket until the
receipt marker is on disk (written, fsynced, renamed into place, its folder fsynced). Within it the server may
already hold the message (it queues on the final dot; its 250 is still on the way back) while this side cannot
yet prove it. It spans one round trip to the server plus the server's own queueing, then the receipt: nothing
else runs between the 250 and the receipt (no log line, no heartbeat, no QUIT). This side's part, from the
250 to the receipt on disk, is a few milliseconds (mostly the fsyncs); the server's part, from the final dot
to its 250, is the server's to decide and is often the larger (tens of milliseconds for a server that queues
to disk or scans the message). A worker killed, or a connection lost, inside it, and only there, leaves
the recipient with two copies: byte-for-byte the same document with the same Message-ID, which receiving
systems use to de-duplicate; the case record still has ONE NoticeServed (the workflow records the activity's
single result). bench/mail_duplicates.py measures how often random kills land there.

Two more limits: the markers live on the worker's disk, so workers on several hosts need a shared data folder
(otherwise a retry on another host cannot see them); and an attempt whose worker stalls (alive, but silent
for longer than the heartbeat timeout) is retried while it may still resume. Just before its DATA an attempt
looks for a receipt a retry may have written meanwhile, and sends nothing if there is one; a stalled attempt
that resumes inside the window described above can still race its retry. Neither can double a receipt; each
can double a transmission.
"""

from __future__ import annotations

import email.policy
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path

from activities.markdown import visible
from activities.render import Rendered
from domain.notices import NoticeReceipt, NoticeRequest

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


class SmtpConfigError(Exception):
    """The environment does not say how to reach the server: no retry will fix it."""


class Refused(Exception):
    """The server answered with a permanent (5xx) code: no retry will fix it."""


class Transient(Exception):
    """The server could not be reached, or answered 4xx: a later attempt may succeed."""


def _flag(environ: dict[str, str], name: str) -> bool | None:
    value = environ.get(name, "").strip().lower()
    if not value:
        return None
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise SmtpConfigError(f"{name}={environ[name]!r}: expected 1 or 0")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: bool
    starttls: bool | None
    username: str
    password: str
    sender: str
    timeout: float
    ca_file: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SmtpConfig:
        env = dict(os.environ if environ is None else environ)
        host = env.get("ENFORCE_SMTP_HOST", "").strip()
        if not host:
            raise SmtpConfigError("SMTP is not configured: set ENFORCE_SMTP_HOST and ENFORCE_SMTP_FROM")
        sender = env.get("ENFORCE_SMTP_FROM", "").strip()
        if not parseaddr(sender)[1] or "@" not in parseaddr(sender)[1]:
            raise SmtpConfigError("SMTP is not configured: set ENFORCE_SMTP_FROM to the sender's address")
        tls = bool(_flag(env, "ENFORCE_SMTP_TLS"))
        starttls = _flag(env, "ENFORCE_SMTP_STARTTLS")
        if tls and starttls:
            raise SmtpConfigError("ENFORCE_SMTP_TLS and ENFORCE_SMTP_STARTTLS: choose one")
        default_port = 465 if tls else 587 if starttls else 25
        try:
            port = int(env.get("ENFORCE_SMTP_PORT") or default_port)
            timeout = float(env.get("ENFORCE_SMTP_TIMEOUT") or 30)
        except ValueError as e:
            raise SmtpConfigError(f"ENFORCE_SMTP_PORT/ENFORCE_SMTP_TIMEOUT: {e}") from None
        if not 0 < port < 65536:
            raise SmtpConfigError(f"ENFORCE_SMTP_PORT={port}: not a port")
        username = env.get("ENFORCE_SMTP_USERNAME", "")
        password = env.get("ENFORCE_SMTP_PASSWORD", "")
        if bool(username) != bool(password):
            raise SmtpConfigError("ENFORCE_SMTP_USERNAME and ENFORCE_SMTP_PASSWORD: set both or neither")
        ca_file = env.get("ENFORCE_SMTP_CA_FILE", "")
        if ca_file and not Path(ca_file).is_file():
            raise SmtpConfigError(f"ENFORCE_SMTP_CA_FILE={ca_file}: no such file")
        return cls(host, port, tls, starttls, username, password, sender, timeout, ca_file)

    @property
    def envelope_sender(self) -> str:
        return parseaddr(self.sender)[1]


def message_id(notice_id: str) -> str:
    """The same for every attempt: a receiving server can tell a repeat from a new notice."""
    return f"<{notice_id}@enforce>"


def build_message(
    req: NoticeRequest, doc: Rendered, config: SmtpConfig, *, now: datetime | None = None
) -> EmailMessage:
    """multipart/mixed: (text/plain = the Markdown | text/html), and the Markdown, the document of record,
    attached under its own name.

    In clear, by necessity: the recipient reads it, so the SMTP server receives it as it is (encrypted in
    transit only with STARTTLS or implicit TLS configured) and stores it outside this project's keys. The copies
    this project keeps on disk are sealed (activities.notices)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    name, address = parseaddr(config.sender)
    msg["From"] = formataddr((name or ", ".join(s.short for s in req.senders), address))
    msg["To"] = formataddr((req.to.name, req.to.email))
    msg["Subject"] = " ".join(visible(f"{doc.title}: {req.case_title} [{req.notice_id}]").split())
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = message_id(req.notice_id)
    msg["X-Enforce-Notice-Id"] = req.notice_id
    msg["X-Enforce-Notice-Kind"] = req.kind
    msg["X-Enforce-Case"] = req.case_slug
    msg["X-Enforce-SHA256"] = doc.sha256
    if req.section:
        msg["X-Enforce-Section"] = req.section
    msg.set_content(doc.markdown, subtype="plain", charset="utf-8")
    msg.add_alternative(doc.html, subtype="html", charset="utf-8")
    # As bytes (base64): the attachment is the document of record to the byte, its SHA-256 the recorded one.
    msg.add_attachment(
        doc.markdown.encode(),
        maintype="text",
        subtype="markdown",
        filename=f"{req.notice_id}.md",
        params={"charset": "utf-8"},
    )
    msg["Content-Language"] = doc.lang  # after the content: setting content clears Content-* headers
    return msg


def _tls_context(config: SmtpConfig) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=config.ca_file or None)


# A seam for the tests (tests/test_smtp.py): called at `accepted` (the server said 250, no receipt yet) and
# `recorded` (the receipt is on disk, the activity has not returned). Production never changes it.
def checkpoint(stage: str, notice_id: str) -> None:
    return None


def _quiet(step: str) -> None:
    return None


async def transmit(
    config: SmtpConfig, message: EmailMessage, recipient: str, on_phase, on_accepted, beat=_quiet
) -> str:
    """One SMTP session: MAIL, RCPT, DATA. `beat(step)` before each command (the caller heartbeats);
    `on_phase("data")` just before the message goes out (the moment after which its fate may be unknown);
    `on_accepted(reply)` as soon as the server has accepted it, before anything else, QUIT included, so the
    receipt is on disk as early as it can be. Returns the server's reply."""
    import aiosmtplib  # not at module level: the workflow sandbox imports this package's notices module

    client = aiosmtplib.SMTP(
        hostname=config.host,
        port=config.port,
        use_tls=config.tls,
        start_tls=config.starttls,
        timeout=config.timeout,
        username=config.username or None,
        password=config.password or None,
        tls_context=_tls_context(config) if (config.tls or config.starttls is not False) else None,
    )
    payload = message.as_bytes(policy=email.policy.SMTP)  # ready before the session: nothing to do after 250
    beat("connect")
    try:
        await client.connect()
    except aiosmtplib.SMTPAuthenticationError as e:
        raise Refused(f"the server refused the credentials: {e.code} {e.message}") from None
    except aiosmtplib.SMTPResponseException as e:
        raise _by_code(e.code, f"the server refused the connection: {e.code} {e.message}") from None
    except (OSError, aiosmtplib.SMTPException) as e:
        if _certificate_refused(e):
            raise Refused(f"{config.host}:{config.port}: the server's certificate does not verify: {e}") from None
        raise Transient(f"cannot reach {config.host}:{config.port}: {e}") from None
    try:
        try:
            beat("MAIL FROM")
            await client.mail(config.envelope_sender)
            beat("RCPT TO")
            await client.rcpt(recipient)
        except aiosmtplib.SMTPResponseException as e:
            raise _by_code(e.code, f"{recipient}: {e.code} {e.message}") from None
        except (OSError, aiosmtplib.SMTPException) as e:
            raise Transient(f"{config.host}:{config.port}: {e}") from None
        on_phase("data")
        beat("DATA")
        try:
            reply = await client.data(payload)
        except aiosmtplib.SMTPResponseException as e:
            # A reply code to DATA or to the final dot: the server did not take the message.
            raise _by_code(e.code, f"message refused: {e.code} {e.message}") from None
        # Anything else here (a dropped connection, a timeout) leaves the outcome unknown: the `.sending`
        # marker stays in phase `data` and the next attempt treats the message as possibly delivered.
        # The residual window closes in on_accepted: the receipt first, then anything else.
        response = f"{reply.code} {reply.message}"
        on_accepted(response)
        beat("accepted")
        return response
    finally:
        try:
            await client.quit()
        except Exception:  # the message is accepted or not by now; QUIT changes nothing
            client.close()


def _certificate_refused(e: BaseException | None) -> bool:
    """A certificate that does not verify will not verify on the next attempt either."""
    seen = 0
    while e is not None and seen < 5:
        if isinstance(e, ssl.SSLCertVerificationError):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def _by_code(code: int, text: str) -> Exception:
    return Transient(text) if 400 <= code < 500 else Refused(text)


def receipt(
    req: NoticeRequest, doc_path: Path, html_path: Path, doc: Rendered, response: str, duplicate: bool
) -> NoticeReceipt:
    return NoticeReceipt(
        notice_id=req.notice_id,
        channel="smtp",
        message_id=message_id(req.notice_id),
        transmitted_at=datetime.now(UTC),
        document=str(doc_path),
        sha256=doc.sha256,
        html_document=str(html_path),
        html_sha256=doc.html_sha256,
        address=req.to.email,
        response=response,
        possible_duplicate=duplicate,
    )
