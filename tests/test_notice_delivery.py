"""The delivery activity is idempotent on the notice id: a retry returns the first proof, never a second copy."""

from __future__ import annotations

from datetime import date

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notices import serve_notice
from domain.case import Issue, Recipient
from domain.notices import NoticeRequest, Sender


def request(kind: str = "notice-of-investigation") -> NoticeRequest:
    return NoticeRequest(
        notice_id=f"acme-0001-{kind}-respondent",
        kind=kind,
        procedure="ca-joint",
        case_slug="acme",
        case_title="Investigation of Acme Ltd.",
        issues=[Issue(id="consent", title="Was consent obtained?")],
        senders=[
            Sender(
                id="opc",
                name="Office of the Privacy Commissioner of Canada",
                short="OPC",
                cite="PIPEDA",
                section="s.11(4)",
                file="PIPEDA-1",
            )
        ],
        to=Recipient(id="respondent", name="Acme Ltd."),
        dated=date(2024, 3, 1),
    )


async def test_a_second_attempt_delivers_nothing_new(tmp_path, monkeypatch):
    monkeypatch.setenv("ENFORCE_DATA_DIR", str(tmp_path))
    env = ActivityEnvironment()
    first = await env.run(serve_notice, request())
    second = await env.run(serve_notice, request())
    assert second == first
    delivered = sorted(p.name for p in (tmp_path / "outbox" / "respondent").iterdir())
    assert delivered == [f"{first.notice_id}.md", f"{first.notice_id}.receipt.json"]
    text = (tmp_path / "outbox" / "respondent" / f"{first.notice_id}.md").read_text()
    assert "Acme Ltd." in text and "PIPEDA s.11(4)" in text and "2024-03-01" in text


async def test_an_unknown_notice_kind_fails_without_retry(tmp_path, monkeypatch):
    monkeypatch.setenv("ENFORCE_DATA_DIR", str(tmp_path))
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(serve_notice, request("summons-to-mars"))
    assert caught.value.non_retryable
    assert "summons-to-mars" in caught.value.message
    assert not (tmp_path / "outbox").exists()
