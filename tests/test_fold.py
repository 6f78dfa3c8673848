"""The record: state is a pure fold of events, and events round-trip through their one union type."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.actions import New
from domain.case import Recipient
from domain.events import EVENT_ADAPTER, InvestigationOpened, NoticeFailed, NoticeServed
from domain.investigation import Investigation
from domain.state import Stage, apply, fold
from tests.casefiles import clearview, procedure

T0 = datetime(2020, 2, 21, 9, 0, tzinfo=UTC)
RESPONDENT = Recipient(id="respondent", name="Clearview AI, Inc.")


def opened_investigation(tmp_path) -> Investigation:
    case, proc = clearview("clearview-ai", tmp_path)
    inv = Investigation(proc)
    inv.open(case, T0)
    return inv


def failed(inv: Investigation, notice_id: str) -> None:
    inv.record(
        [
            New(
                NoticeFailed,
                "opc",
                dict(
                    notice_id=notice_id,
                    kind="notice-of-investigation",
                    senders=["opc"],
                    to=RESPONDENT,
                    channel="outbox",
                    reason="outbox unwritable",
                ),
            )
        ],
        T0,
    )


def served(inv: Investigation, notice_id: str) -> None:
    inv.record(
        [
            New(
                NoticeServed,
                "opc",
                dict(
                    notice_id=notice_id,
                    kind="notice-of-investigation",
                    senders=["opc"],
                    section="PIPEDA s.11(4)",
                    to=RESPONDENT,
                    channel="outbox",
                    message_id=f"<{notice_id}@enforce>",
                    delivered_at=T0,
                    document="d.md",
                    sha256="ab" * 32,
                ),
            )
        ],
        T0,
    )


def test_opening_sets_the_case_up_for_investigation(tmp_path):
    inv = opened_investigation(tmp_path)
    s = inv.state
    assert s.stage == Stage.INVESTIGATING
    assert s.lead == "opc" and s.awaiting_party == "opc"
    assert [i.id for i in s.issues] == ["purpose", "consent", "biometrics"]
    assert s.linked == ["rcmp"]
    assert s.last_seq == 1


def test_a_failed_notice_is_undelivered_until_it_is_served(tmp_path):
    inv = opened_investigation(tmp_path)
    failed(inv, "n1")
    assert [n.notice_id for n in inv.state.undelivered] == ["n1"]
    served(inv, "n1")
    assert inv.state.undelivered == []
    assert [(n.notice_id, n.status) for n in inv.state.notices] == [("n1", "served")]


def test_state_is_the_fold_of_the_events_from_nothing(tmp_path):
    inv = opened_investigation(tmp_path)
    failed(inv, "n1")
    served(inv, "n1")
    served(inv, "n2")
    assert fold(inv.events) == inv.state
    # Through JSON and back, as the events travel through Temporal's history.
    again = [EVENT_ADAPTER.validate_json(EVENT_ADAPTER.dump_json(e)) for e in inv.events]
    assert again == inv.events and fold(again) == inv.state


def test_a_gap_in_the_record_is_refused(tmp_path):
    inv = opened_investigation(tmp_path)
    inv2 = Investigation(procedure())
    with pytest.raises(ValueError, match="gap"):
        apply(inv2.state, inv.events[0].model_copy(update={"seq": 2}))


def test_an_investigation_opens_once(tmp_path):
    case, proc = clearview("clearview-ai", tmp_path)
    inv = Investigation(proc)
    inv.open(case, T0)
    with pytest.raises(ValueError, match="already open"):
        inv.open(case, T0)
    assert len(inv.events) == 1 and isinstance(inv.events[0], InvestigationOpened)
