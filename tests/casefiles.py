"""Case files for tests, written the documented way (TOML), varied per test."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from domain.case import CaseFile, Issue, Recipient
from domain.notices import NoticeRequest, Sender
from domain.procedure import Procedure, load_procedure
from enforce.cases import load_case

ROOT = Path(__file__).resolve().parent.parent
CLEARVIEW = ROOT / "cases" / "clearview.toml"


def clearview_text(slug: str = "clearview-ai") -> str:
    return CLEARVIEW.read_text().replace('slug = "clearview-ai"', f'slug = "{slug}"', 1)


ADDRESS = "legal@clearview.example"
SMTP_RESPONDENT = 'kind = "organisation"\nchannel = "outbox"'


def smtp_case_text(slug: str, email_line: str = f'email = "{ADDRESS}"') -> str:
    """The Clearview case with its respondent served by email (the smtp channel) at ADDRESS."""
    text = clearview_text(slug)
    assert SMTP_RESPONDENT in text
    return text.replace(SMTP_RESPONDENT, f'kind = "organisation"\nchannel = "smtp"\n{email_line}'.rstrip(), 1)


def write_case(tmp: Path, text: str, name: str = "case.toml") -> Path:
    path = tmp / name
    path.write_text(text)
    return path


async def simulate_text(text: str, tmp: Path, name: str = "case.toml"):
    """A case file's text, written and simulated to its end on a time-skipping server of its own; the simulation's
    changes to the environment are undone."""
    from enforce import simulate

    case, proc = load_case(write_case(tmp, text, name), forecast=True)
    saved = dict(os.environ)
    try:
        return await simulate.run(case, proc)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def clearview(slug: str, tmp: Path) -> tuple[CaseFile, Procedure]:
    return load_case(write_case(tmp, clearview_text(slug), f"{slug}.toml"))


def procedure() -> Procedure:
    return load_procedure("ca-joint")


def acme_notice(
    kind: str = "notice-of-investigation", notice_id: str = "", to: Recipient | None = None
) -> NoticeRequest:
    """A one-sender notice to a small respondent, for delivery tests that need no investigation."""
    return NoticeRequest(
        notice_id=notice_id or f"acme-0001-{kind}-respondent",
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
        to=to or Recipient(id="respondent", name="Acme Ltd."),
        dated=date(2024, 3, 1),
    )
