"""The delivery activity is idempotent on the notice id: a retry returns the first proof, never a second copy."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notices import serve_notice
from activities.render import render
from domain.case import Issue
from domain.notices import NoticeRequest, Sender
from enforce import codec
from tests.casefiles import acme_notice

pytestmark = pytest.mark.timeout(30)


def request(kind: str = "notice-of-investigation") -> NoticeRequest:
    return acme_notice(kind)


async def test_a_second_attempt_delivers_nothing_new(tmp_path, monkeypatch):
    monkeypatch.setenv("ENFORCE_DATA_DIR", str(tmp_path))
    env = ActivityEnvironment()
    first = await env.run(serve_notice, request())
    second = await env.run(serve_notice, request())
    assert second == first
    delivered = sorted(p.name for p in (tmp_path / "outbox" / "respondent").iterdir())
    assert delivered == [f"{first.notice_id}.{ext}" for ext in ("html", "md", "receipt.json")]
    text = codec.read_file(tmp_path / "outbox" / "respondent" / f"{first.notice_id}.md").decode()
    assert "Acme Ltd." in text and "PIPEDA s.11(4)" in text and "2024-03-01" in text


async def test_an_unknown_notice_kind_fails_without_retry(tmp_path, monkeypatch):
    monkeypatch.setenv("ENFORCE_DATA_DIR", str(tmp_path))
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(serve_notice, request("summons-to-mars"))
    assert caught.value.non_retryable
    assert "summons-to-mars" in caught.value.message
    assert not (tmp_path / "outbox").exists()


async def test_a_notice_is_filed_as_markdown_and_html_with_the_markdown_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("ENFORCE_DATA_DIR", str(tmp_path))
    receipt = await ActivityEnvironment().run(serve_notice, request())
    docs = tmp_path / "documents"
    md, html = docs / f"{receipt.notice_id}.md", docs / f"{receipt.notice_id}.html"
    assert receipt.document == str(md) and receipt.html_document == str(html)
    # The Markdown is the document of record: its hash is the one the event records.
    assert hashlib.sha256(codec.read_file(md)).hexdigest() == receipt.sha256
    assert hashlib.sha256(codec.read_file(html)).hexdigest() == receipt.html_sha256
    page = codec.read_file(html).decode()
    assert page.startswith("<!DOCTYPE html>") and '<html lang="en">' in page
    assert "<h1>Notice of investigation</h1>" in page and "<li>Was consent obtained?</li>" in page
    assert receipt.sha256 in page  # the HTML names the document it renders


async def test_what_a_case_file_says_is_escaped_in_the_html(tmp_path, monkeypatch):
    monkeypatch.setenv("ENFORCE_DATA_DIR", str(tmp_path))
    req = request().model_copy(
        update={
            "case_title": 'Acme <script>alert("x")</script> & Co',
            "issues": [Issue(id="x", title="<img src=x onerror=alert(1)>")],
        }
    )
    receipt = await ActivityEnvironment().run(serve_notice, req)
    page = codec.read_file(Path(receipt.html_document)).decode()
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page and "&amp; Co" in page
    # The Markdown escapes it for Markdown: it reads as written, and no tag is left in it.
    markdown = codec.read_file(Path(receipt.document)).decode()
    assert '\\<script\\>alert("x")\\</script\\> \\& Co' in markdown and "<script>" not in markdown


def test_rendering_is_deterministic():
    assert render(request()) == render(request())


async def test_the_cai_serves_its_order_in_french(tmp_path, monkeypatch):
    monkeypatch.setenv("ENFORCE_DATA_DIR", str(tmp_path))
    cai = Sender(
        id="cai-qc",
        name="Commission d'accès à l'information du Québec",
        short="CAI",
        cite="P-39.1",
        section="s.83",
        file="1023158",
    )
    req = request("order").model_copy(
        update={
            "notice_id": "acme.cai-qc-0010-order-respondent",
            "senders": [cai],
            "context": {"order": "1023158-S", "terms": "Détruire les images."},
            "dated": date(2021, 12, 14),
            "due": date(2022, 3, 14),
            "due_rule": "P-39.1 s.83: carry out decision 1023158-S",
        }
    )
    receipt = await ActivityEnvironment().run(serve_notice, req)
    text = codec.read_file(Path(receipt.document)).decode()
    assert text.startswith("# Décision 1023158-S\n")
    assert "daté du 14 décembre 2021" in text and "en vertu de P-39.1 art. 83" in text
    assert "dossier 1023158" in text and "Détruire les images." in text and "## Échéance" in text
    assert '<html lang="fr">' in codec.read_file(Path(receipt.html_document)).decode()
    # A joint notice (several senders) uses the procedure's English template, whoever is among the senders.
    joint = request().model_copy(update={"senders": [cai, *request().senders]})
    assert render(joint).lang == "en" and render(joint).title == "Notice of investigation"


async def test_a_template_that_fails_is_not_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("ENFORCE_DATA_DIR", str(tmp_path))
    # The order template needs context["order"]: a request without it cannot be rendered.
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(serve_notice, request("order"))
    assert caught.value.non_retryable and caught.value.type == "NoticeUndeliverable"
    assert "order" in caught.value.message
    assert not (tmp_path / "documents").exists() and not (tmp_path / "outbox").exists()
