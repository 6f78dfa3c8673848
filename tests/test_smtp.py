"""The smtp channel, against a real SMTP server on loopback (aiosmtpd), never a mock.

The server counts what it accepts by Message-ID. Failures are injected where they happen in life: the server
answers 451 to a message, refuses an address, is not there at all; the worker stops right after the server
accepted (the `activities.mail.checkpoint` seam). Each notice id ends up delivered once, except in the one window
`activities.mail` documents, where the copy carries the same Message-ID.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

import worker as enforce_worker
from activities import mail
from activities.notices import serve_notice
from domain.case import Recipient
from domain.errors import DataError
from domain.notices import NoticeRequest
from enforce import codec, investigations, settings
from enforce.cases import load_case
from tests.casefiles import ADDRESS, acme_notice, clearview_text, smtp_case_text, write_case

# ---------------------------------------------------------------- a real server that counts


@dataclass
class Counting:
    """An aiosmtpd handler: keeps what it accepts; answers 451 to the first `fail_first` messages."""

    fail_first: int = 0
    rcpt_code: str = ""
    on_rcpt: Callable[[], None] | None = None
    accepted: list[email.message.EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.on_rcpt:
            self.on_rcpt()
        if self.rcpt_code:
            return self.rcpt_code
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            if len(self.refused) < self.fail_first:
                self.refused.append(msg["Message-ID"])
                return "451 4.3.0 Temporary failure, try again later"
            self.accepted.append(msg)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 OK queued"

    def by_message_id(self) -> Counter:
        with self.lock:
            return Counter(m["Message-ID"] for m in self.accepted)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A server on 127.0.0.1, a free port, and the environment that points the smtp channel at it."""
    handler = Counting()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("ENFORCE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ENFORCE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ENFORCE_SMTP_PORT", str(port))
    monkeypatch.setenv("ENFORCE_SMTP_FROM", "Notices <notices@opc.example>")
    monkeypatch.setenv("ENFORCE_SMTP_STARTTLS", "0")
    monkeypatch.setenv("ENFORCE_SMTP_TIMEOUT", "10")
    for name in ("ENFORCE_SMTP_TLS", "ENFORCE_SMTP_USERNAME", "ENFORCE_SMTP_PASSWORD", "ENFORCE_SMTP_CA_FILE"):
        monkeypatch.delenv(name, raising=False)
    yield handler
    controller.stop()


def request(kind: str = "notice-of-investigation", notice_id: str = "") -> NoticeRequest:
    return acme_notice(kind, notice_id, Recipient(id="respondent", name="Acme Ltd.", channel="smtp", email=ADDRESS))


def sending_marker(tmp_path: Path, req: NoticeRequest) -> Path:
    return tmp_path / "sent" / req.to.id / f"{req.notice_id}.sending.json"


def receipt_marker(tmp_path: Path, req: NoticeRequest) -> Path:
    return tmp_path / "sent" / req.to.id / f"{req.notice_id}.receipt.json"


# ---------------------------------------------------------------- case files


@pytest.mark.timeout(10)
def test_a_respondent_on_smtp_carries_its_address(tmp_path):
    case, _ = load_case(write_case(tmp_path, smtp_case_text("acme")))
    recipient = case.respondent.recipient()
    assert (recipient.channel, recipient.email) == ("smtp", ADDRESS)


CONTACT = '\n[contacts.cai-qc]\nid = "cai-qc"\nname = "CAI"\nchannel = "smtp"\n'
BAD_ADDRESSES = [
    ("respondent on smtp without an address", smtp_case_text("acme", ""), "respondent.email"),
    ("respondent with a broken address", smtp_case_text("acme", 'email = "legal at clearview"'), "respondent.email"),
    ("authority on smtp without an address", clearview_text("acme").replace("\n[files]", CONTACT + "\n[files]"), None),
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("label,text,field", BAD_ADDRESSES, ids=[b[0] for b in BAD_ADDRESSES])
def test_a_recipient_on_smtp_without_an_address_is_refused_naming_the_field(tmp_path, label, text, field):
    field = field or "contacts.cai-qc.email"
    path = write_case(tmp_path, text)
    with pytest.raises(DataError) as caught:
        load_case(path)
    assert caught.value.field == field, str(caught.value)
    assert str(caught.value).startswith(f"{path}: {field}: ")


# ---------------------------------------------------------------- the activity, attempt by attempt


@pytest.mark.timeout(30)
async def test_a_notice_is_delivered_once_as_text_html_and_the_markdown_attached(server, tmp_path):
    req = request()
    env = ActivityEnvironment()
    receipt = await env.run(serve_notice, req)
    again = await env.run(serve_notice, req)
    assert again == receipt
    assert server.by_message_id() == {f"<{req.notice_id}@enforce>": 1}
    assert server.envelopes == [("notices@opc.example", [ADDRESS])]

    [msg] = server.accepted
    assert msg["Subject"] == f"Notice of investigation: Investigation of Acme Ltd. [{req.notice_id}]"
    [to] = msg["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Acme Ltd.", ADDRESS)
    assert msg["Content-Language"] == "en"
    assert msg["X-Enforce-SHA256"].strip() == receipt.sha256  # folded: a long header starts its own line
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    [attached] = list(msg.iter_attachments())
    markdown = codec.read_file(Path(receipt.document))  # sealed at rest
    assert attached.get_filename() == f"{req.notice_id}.md"
    # The attachment is the document of record to the byte; the text part is the same text (in CRLF lines).
    assert attached.get_payload(decode=True) == markdown
    assert plain.replace("\r\n", "\n").encode() == markdown
    assert hashlib.sha256(markdown).hexdigest() == receipt.sha256
    assert "<h1>Notice of investigation</h1>" in html
    assert (receipt.channel, receipt.address, receipt.message_id) == ("smtp", ADDRESS, f"<{req.notice_id}@enforce>")
    assert receipt.response.startswith("250") and not receipt.possible_duplicate
    assert not sending_marker(tmp_path, req).exists()


@pytest.mark.timeout(30)
async def test_a_451_is_retried_and_the_notice_arrives_once(server, tmp_path):
    server.fail_first = 1
    req = request()
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError) as caught:
        await env.run(serve_notice, req)
    assert not caught.value.non_retryable and "451" in caught.value.message
    marker = json.loads(codec.read_file(sending_marker(tmp_path, req)))
    assert marker["attempts"][-1]["outcome"].startswith("not sent")
    receipt = await env.run(serve_notice, req)
    assert server.refused == [f"<{req.notice_id}@enforce>"]
    assert server.by_message_id() == {f"<{req.notice_id}@enforce>": 1}
    # The refused copy was never accepted: the retry is the first delivery, not a possible duplicate.
    assert not receipt.possible_duplicate


@pytest.mark.timeout(30)
async def test_a_worker_that_stops_after_the_receipt_does_not_send_again(server, tmp_path, monkeypatch):
    def crash(stage: str, notice_id: str) -> None:
        if stage == "recorded":
            raise RuntimeError("worker lost before reporting the result")

    monkeypatch.setattr(mail, "checkpoint", crash)
    req = request()
    env = ActivityEnvironment()
    with pytest.raises(RuntimeError):
        await env.run(serve_notice, req)
    monkeypatch.setattr(mail, "checkpoint", lambda stage, notice_id: None)
    receipt = await env.run(serve_notice, req)
    assert server.by_message_id() == {f"<{req.notice_id}@enforce>": 1}
    assert json.loads(codec.read_file(receipt_marker(tmp_path, req)))["message_id"] == receipt.message_id


@pytest.mark.timeout(30)
async def test_the_residual_window_repeats_the_notice_under_the_same_message_id(server, tmp_path, monkeypatch):
    """The server said 250 and the worker stopped before the receipt reached the disk: SMTP cannot be asked
    whether it has the message, so the retry sends it again, the same bytes under the same Message-ID, and
    says so. This is the documented residual risk (activities/mail.py), not a silent double delivery."""

    def crash(stage: str, notice_id: str) -> None:
        if stage == "accepted":
            raise RuntimeError("worker lost between the server's 250 and the receipt")

    monkeypatch.setattr(mail, "checkpoint", crash)
    req = request()
    env = ActivityEnvironment()
    with pytest.raises(RuntimeError):
        await env.run(serve_notice, req)
    assert json.loads(codec.read_file(sending_marker(tmp_path, req)))["attempts"][-1]["phase"] == "data"
    monkeypatch.setattr(mail, "checkpoint", lambda stage, notice_id: None)
    receipt = await env.run(serve_notice, req)
    assert receipt.possible_duplicate
    ids = [m["Message-ID"] for m in server.accepted]
    assert ids == [f"<{req.notice_id}@enforce>"] * 2
    first, second = (m.get_body(("plain",)).get_content() for m in server.accepted)
    assert first == second
    # A third attempt (the result lost again) finds the receipt: no third copy.
    assert await env.run(serve_notice, req) == receipt
    assert len(server.accepted) == 2


@pytest.mark.timeout(30)
async def test_a_stalled_attempt_whose_retry_delivered_meanwhile_sends_nothing(server, tmp_path):
    """An attempt silent past the heartbeat timeout is retried while it may still resume. Here the retry
    delivers (its receipt appears) while the first attempt holds its connection at RCPT; the first attempt,
    resuming, finds the receipt before DATA and sends nothing: the server keeps one copy."""
    req = request()
    env = ActivityEnvironment()
    retry = await env.run(serve_notice, req)  # what the retry will have written
    marker = receipt_marker(tmp_path, req)
    written = marker.read_bytes()
    marker.unlink()
    server.on_rcpt = lambda: marker.write_bytes(written)  # the retry finishing while this attempt stalls
    resumed = await env.run(serve_notice, req)
    assert resumed == retry
    assert server.by_message_id() == {f"<{req.notice_id}@enforce>": 1}


@pytest.mark.timeout(30)
async def test_an_unreachable_server_is_retryable(server, tmp_path, monkeypatch):
    monkeypatch.setenv("ENFORCE_SMTP_PORT", str(free_port()))  # nobody listens there
    req = request()
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(serve_notice, req)
    assert not caught.value.non_retryable and caught.value.type == "NoticeNotYetDelivered"
    assert not receipt_marker(tmp_path, req).exists()


@pytest.mark.timeout(30)
async def test_an_address_the_server_refuses_is_not_retried(server, tmp_path):
    server.rcpt_code = "550 5.1.1 No such user"
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(serve_notice, request())
    assert caught.value.non_retryable and caught.value.type == "NoticeUndeliverable"
    assert "550" in caught.value.message and ADDRESS in caught.value.message
    assert server.accepted == []


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "unset,set_,words",
    [
        ("ENFORCE_SMTP_HOST", {}, "ENFORCE_SMTP_HOST"),
        ("ENFORCE_SMTP_FROM", {}, "ENFORCE_SMTP_FROM"),
        ("", {"ENFORCE_SMTP_TLS": "1", "ENFORCE_SMTP_STARTTLS": "1"}, "choose one"),
        ("", {"ENFORCE_SMTP_USERNAME": "opc"}, "ENFORCE_SMTP_PASSWORD"),
        ("", {"ENFORCE_SMTP_PORT": "smtp"}, "ENFORCE_SMTP_PORT"),
    ],
)
async def test_no_smtp_configuration_is_not_retried(server, tmp_path, monkeypatch, unset, set_, words):
    if unset:
        monkeypatch.delenv(unset)
    for name, value in set_.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(serve_notice, request())
    assert caught.value.non_retryable and caught.value.type == "NoticeUndeliverable"
    assert words in caught.value.message
    assert server.accepted == [] and not (tmp_path / "sent").exists()


# ---------------------------------------------------------------- TLS and credentials


@pytest.fixture
def certificate(tmp_path) -> tuple[Path, Path]:
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.timeout(30)
async def test_starttls_and_credentials_from_the_environment(server, certificate, monkeypatch):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins: list[str] = []

    def authenticator(smtp, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and (bytes(data.login), bytes(data.password)) == (b"opc", b"s3cret")
        logins.append(f"{mechanism}:{session.ssl is not None}:{ok}")
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 235 or 535 itself

    handler = Counting()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        monkeypatch.setenv("ENFORCE_SMTP_PORT", str(port))
        monkeypatch.setenv("ENFORCE_SMTP_STARTTLS", "1")
        # Without the CA that signed the server's certificate: refused for good, not retried.
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(serve_notice, request(notice_id="acme-0001-unverified"))
        assert caught.value.non_retryable and "certificate" in caught.value.message, caught.value.message
        monkeypatch.setenv("ENFORCE_SMTP_CA_FILE", str(cert))
        monkeypatch.setenv("ENFORCE_SMTP_USERNAME", "opc")
        monkeypatch.setenv("ENFORCE_SMTP_PASSWORD", "wrong")
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(serve_notice, request(notice_id="acme-0001-bad-credentials"))
        assert caught.value.non_retryable and "credentials" in caught.value.message

        monkeypatch.setenv("ENFORCE_SMTP_PASSWORD", "s3cret")
        req = request()
        receipt = await ActivityEnvironment().run(serve_notice, req)
        assert handler.by_message_id() == {f"<{req.notice_id}@enforce>": 1} and receipt.channel == "smtp"
        # Credentials went over TLS only.
        assert logins and all(":True:" in line for line in logins)
    finally:
        controller.stop()


# ---------------------------------------------------------------- through the real workflow


@pytest.mark.timeout(90)
async def test_the_investigation_serves_its_notice_by_smtp_once_despite_the_failures(
    server, skipping_env, task_queue, slug, tmp_path, monkeypatch
):
    """The real InvestigationWorkflow, a respondent on smtp. The server answers 451 to the first message; the
    next attempt is accepted but its worker stops before reporting; the one after finds the receipt. The
    server ends with exactly one message for the notice, and the record with one NoticeServed."""
    server.fail_first = 1
    attempts: list[str] = []

    def crash_once(stage: str, notice_id: str) -> None:
        if stage == "recorded" and stage not in attempts:
            attempts.append(stage)
            raise RuntimeError("worker lost before reporting the result")

    monkeypatch.setattr(mail, "checkpoint", crash_once)
    case, procedure = load_case(write_case(tmp_path, smtp_case_text(slug), f"{slug}.toml"))
    async with Worker(
        skipping_env.client,
        task_queue=task_queue,
        workflows=enforce_worker.WORKFLOWS,
        activities=enforce_worker.ACTIVITIES,
    ):
        await investigations.start(skipping_env.client, case, procedure, task_queue=task_queue, indexed=False)
        for _ in range(100):
            view = await investigations.state(skipping_env.client, slug)
            if view.state.notices:
                break
            await skipping_env.sleep(30)  # lets the retry policy's backoff pass in virtual time
            await asyncio.sleep(0.05)
        events = (await investigations.events(skipping_env.client, slug)).events

    [served] = [e for e in events if e.type == "NoticeServed"]
    assert not [e for e in events if e.type == "NoticeFailed"]
    assert (served.channel, served.to.email) == ("smtp", ADDRESS)
    assert served.message_id == f"<{served.notice_id}@enforce>"
    assert server.refused == [served.message_id]
    assert server.by_message_id() == {served.message_id: 1}
    assert attempts == ["recorded"]
    [msg] = server.accepted
    [attached] = list(msg.iter_attachments())
    body = attached.get_payload(decode=True)
    assert (
        hashlib.sha256(body).hexdigest()
        == served.sha256
        == hashlib.sha256(codec.read_file(Path(served.document))).hexdigest()
    )
    assert "Clearview AI, Inc." in msg["To"] and "PIPEDA-039525" in body.decode()


@pytest.mark.timeout(60)
async def test_no_smtp_configuration_records_notice_failed_at_once(
    skipping_env, task_queue, slug, tmp_path, monkeypatch
):
    """Non-retryable: the first attempt ends the delivery, and the record says why (no stuck workflow)."""
    monkeypatch.setenv("ENFORCE_DATA_DIR", str(tmp_path))
    for name in ("ENFORCE_SMTP_HOST", "ENFORCE_SMTP_FROM"):
        monkeypatch.delenv(name, raising=False)
    case, procedure = load_case(write_case(tmp_path, smtp_case_text(slug), f"{slug}.toml"))
    async with Worker(
        skipping_env.client,
        task_queue=task_queue,
        workflows=enforce_worker.WORKFLOWS,
        activities=enforce_worker.ACTIVITIES,
    ):
        await investigations.start(skipping_env.client, case, procedure, task_queue=task_queue, indexed=False)
        for _ in range(200):
            view = await investigations.state(skipping_env.client, slug)
            if view.state.notices:
                break
            await asyncio.sleep(0.05)  # no virtual time passes: a non-retryable failure needs no backoff
    [notice] = view.state.undelivered
    assert notice.channel == "smtp" and "ENFORCE_SMTP_HOST" in notice.reason
    assert not (tmp_path / "sent").exists()


# ---------------------------------------------------------------- a worker killed mid-delivery


ROOT = Path(__file__).resolve().parent.parent


def start_worker(address: str) -> subprocess.Popen:
    """`python -m worker`, the real one, on the dev server: the process the test kills."""
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": "default"}
    return subprocess.Popen(
        [sys.executable, "-m", "worker"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


# Under the old options (no heartbeat, a 2-minute start-to-close timeout) the retry could not start before
# 120 s: the ceiling below fails that, while a heartbeat timeout of 10 s and a 2 s retry pass with room.
@pytest.mark.timeout(90)
async def test_a_worker_killed_after_connect_before_data_delivers_the_notice_once(server, dev_env, slug, tmp_path):
    """The worker process is killed with SIGKILL while the server holds its connection (after MAIL, at RCPT,
    before DATA). The notice is redelivered by the restarted worker once the heartbeat timeout has noticed the
    death, not after the activity's full timeout; the server ends with exactly one message, not flagged as a
    possible duplicate (the killed attempt never reached DATA)."""
    address = dev_env.client.service_client.config.target_host
    workers = [start_worker(address)]
    killed: list[int] = []

    def kill_the_first_time() -> None:
        if not killed:
            killed.append(workers[0].pid)
            os.kill(workers[0].pid, signal.SIGKILL)

    server.on_rcpt = kill_the_first_time
    try:
        case, procedure = load_case(write_case(tmp_path, smtp_case_text(slug), f"{slug}.toml"))
        await investigations.start(dev_env.client, case, procedure, task_queue=settings.TASK_QUEUE, indexed=False)
        while not killed:
            await asyncio.sleep(0.05)
        assert await asyncio.to_thread(workers[0].wait) == -signal.SIGKILL
        workers.append(start_worker(address))
        while not (await investigations.state(dev_env.client, slug)).state.notices:
            await asyncio.sleep(0.2)
        events = (await investigations.events(dev_env.client, slug)).events
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    [served] = [e for e in events if e.type == "NoticeServed" and e.channel == "smtp"]
    assert not [e for e in events if e.type == "NoticeFailed"]
    assert server.by_message_id() == {served.message_id: 1}
    receipt = json.loads(codec.read_file(tmp_path / "sent" / served.to.id / f"{served.notice_id}.receipt.json"))
    assert receipt["message_id"] == served.message_id and not receipt["possible_duplicate"]
