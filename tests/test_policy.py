"""What follows from what, on the pure aggregate (no Temporal): the edge cases a real case hits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain import events as ev
from domain.actions import CASE, New, parse_action
from domain.errors import Rejected
from domain.investigation import Investigation
from domain.notices import notice_id
from domain.policy import on_missed
from domain.state import TrackStatus
from enforce.cases import load_case
from tests.casefiles import clearview_text, write_case

T0 = datetime(2021, 2, 2, 12, tzinfo=UTC)


def joint(tmp_path, authorities=None) -> tuple[Investigation, object]:
    text = clearview_text()
    if authorities:
        text = text.replace('authorities = ["opc", "cai-qc", "oipc-bc", "oipc-ab"]', f"authorities = {authorities}")
        text = text[: text.index("[files]")] + text[text.index("[[issues]]") :]
        text = text[: text.index("# ------------------------------------------------------------ scripted")]
    case, procedure = load_case(write_case(tmp_path, text))
    inv = Investigation(procedure, CASE)
    inv.open(case, T0)
    return inv, case


def act(inv: Investigation, name: str, when: datetime = T0, **fields) -> list[ev.Event]:
    return inv.execute(parse_action(name, fields), when)


def served(inv: Investigation, cause: ev.Event, when: datetime) -> list[ev.Event]:
    """The report of findings reaching the respondent (as the workflow records it after delivery)."""
    return inv.record(
        [
            New(
                ev.NoticeServed,
                "opc",
                {
                    "notice_id": notice_id(inv.state.slug, cause.seq, "report-of-findings", "respondent"),
                    "kind": "report-of-findings",
                    "senders": ["opc"],
                    "section": "s.13",
                    "to": inv.state.contacts["respondent"],
                    "channel": "outbox",
                    "message_id": "m",
                    "delivered_at": when,
                    "document": "d",
                    "sha256": "0" * 64,
                    "cause": cause.seq,
                    "cause_type": cause.type,
                },
            )
        ],
        when,
    )


def to_recommendations(inv: Investigation, concur=("cai-qc", "oipc-bc", "oipc-ab")) -> ev.Event:
    act(inv, "draft-findings", by="opc", finding="well-founded", summary="s")
    for aid in concur:
        inv.record([New(ev.FindingsConcurred, aid, {"authority": aid})], T0)
    [issued] = act(
        inv,
        "issue-recommendations",
        by="opc",
        recommendations=[{"id": "R1", "text": "Stop."}, {"id": "R2", "text": "Delete."}],
    )[:1]
    return issued


def test_alone_the_lead_issues_findings_and_no_comment_window_is_left_running(tmp_path):
    inv, _ = joint(tmp_path, authorities='["opc"]')
    recorded = act(inv, "draft-findings", by="opc", finding="well-founded", summary="s")
    assert [e.type for e in recorded][:2] == ["FindingsDrafted", "FindingsIssued"]
    assert not [d for d in inv.state.open_deadlines if d.kind == "comments"]


def test_an_answer_before_the_report_is_served_starts_no_response_clock(tmp_path):
    inv, _ = joint(tmp_path)
    issued = to_recommendations(inv)
    act(inv, "answer-recommendations", by="respondent", answers={"R1": "refused", "R2": "refused"})
    served(inv, issued, T0 + timedelta(hours=1))
    assert not [d for d in inv.state.deadlines.values() if d.kind == "response"]
    assert [e.type for e in inv.events].count("EscalationStarted") == 1


def test_a_closed_track_stays_closed_when_everything_is_accepted_later(tmp_path):
    inv, _ = joint(tmp_path)
    to_recommendations(inv)
    inv.record([New(ev.TrackClosed, "oipc-ab", {"authority": "oipc-ab", "outcome": "closed early"})], T0)
    act(inv, "answer-recommendations", by="respondent", answers={"R1": "accepted", "R2": "accepted"})
    assert inv.state.stage.value == "compliance-monitoring"
    assert inv.state.tracks["oipc-ab"].status == TrackStatus.CLOSED
    assert inv.state.tracks["oipc-ab"].outcome == "closed early"
    assert inv.state.tracks["oipc-bc"].status == TrackStatus.MONITORING


def test_accepted_recommendations_are_verified_even_when_others_were_refused(tmp_path):
    inv, _ = joint(tmp_path)
    to_recommendations(inv)
    act(inv, "answer-recommendations", by="respondent", answers={"R1": "accepted", "R2": "refused"})
    assert inv.state.stage.value == "escalation"
    act(inv, "verify-recommendation", by="opc", recommendation="R1")
    assert [r.verified for r in inv.state.recommendations] == [True, False]
    with pytest.raises(Rejected, match="'R2' is not awaiting verification"):
        act(inv, "verify-recommendation", by="opc", recommendation="R2")


def test_a_redraft_supersedes_the_running_comment_window(tmp_path):
    inv, _ = joint(tmp_path)
    act(inv, "draft-findings", by="opc", finding="well-founded", summary="first")
    later = T0 + timedelta(days=5)
    act(inv, "draft-findings", when=later, by="opc", finding="well-founded", summary="second")
    windows = [d for d in inv.state.deadlines.values() if d.kind == "comments"]
    assert sorted(d.status for d in windows) == ["cancelled", "open"]
    [running] = [d for d in windows if d.status == "open"]
    assert running.trigger == later.date()


def test_absurd_periods_are_refused_before_anything_is_counted():
    with pytest.raises(Rejected, match="comply_within_days"):
        parse_action("issue-order", {"by": "cai-qc", "order": "O", "comply_within_days": 4_000_000})
    with pytest.raises(Rejected, match="added"):
        parse_action(
            "extend-deadline",
            {"by": "opc", "deadline": "case:x:1", "added": 10**7, "reason": "r", "notified": ["respondent"]},
        )


def test_a_stayed_clock_is_not_extended_while_it_is_stayed(tmp_path):
    joint_record, _ = joint(tmp_path)
    track = Investigation(joint_record.procedure, "oipc-bc")
    track.mirror(joint_record.events[0])
    track.record([New(ev.EscalationStarted, "system", {"authorities": ["oipc-bc"], "reason": "refused"})], T0)
    act(track, "open-inquiry", by="oipc-bc")
    act(track, "issue-order", by="oipc-bc", order="P21-08")
    act(track, "file-judicial-review", by="respondent", authority="oipc-bc", court="BCSC")
    [stayed] = [d for d in track.state.deadlines.values() if d.kind == "compliance"]
    assert stayed.status == "paused"
    with pytest.raises(Rejected, match="is paused"):
        act(
            track,
            "extend-deadline",
            by="oipc-bc",
            deadline=stayed.deadline_id,
            added=5,
            reason="r",
            notified=["respondent"],
        )


def test_a_second_deemed_refusal_does_not_reset_a_track_already_further_on(tmp_path):
    inv, _ = joint(tmp_path)
    to_recommendations(inv)
    act(inv, "answer-recommendations", by="respondent", answers={"R1": "refused", "R2": "refused"})
    inv.record([New(ev.InquiryOpened, "oipc-bc", {"authority": "oipc-bc"})], T0)
    again = inv.record([New(ev.EscalationStarted, "system", {"authorities": ["oipc-bc"], "reason": "r"})], T0)
    assert again and inv.state.tracks["oipc-bc"].status == TrackStatus.INQUIRY


def test_a_compliance_agreement_suspends_the_opc_court_application_clock(tmp_path):
    joint_record, _ = joint(tmp_path)
    to_recommendations(joint_record)
    track = Investigation(joint_record.procedure, "opc")
    track.mirror(joint_record.events[0])
    [issued] = [e for e in joint_record.events if e.type == "FindingsIssued"]
    track.mirror(issued)
    track.record([New(ev.EscalationStarted, "system", {"authorities": ["opc"], "reason": "refused"})], T0)
    [clock] = [d for d in track.state.deadlines.values() if d.kind == "court-application"]
    assert clock.status == "open"
    act(track, "sign-compliance-agreement", T0 + timedelta(days=30), by="opc", terms="Delete Canadian images.")
    assert track.state.deadlines[clock.deadline_id].status == "paused"
    # A default on the agreement restarts the clock with the days it had left.
    act(track, "find-non-compliance", T0 + timedelta(days=200), by="opc", reason="Images not deleted.")
    resumed = track.state.deadlines[clock.deadline_id]
    assert resumed.status == "open" and resumed.due > clock.due


def dissent_case(tmp_path, finding: str) -> Investigation:
    """The Clearview report with cai-qc dissenting on `finding`; the others concur."""
    inv, _ = joint(tmp_path)
    act(inv, "draft-findings", by="opc", finding="well-founded", summary="s")
    for aid in ("oipc-bc", "oipc-ab"):
        inv.record([New(ev.FindingsConcurred, aid, {"authority": aid})], T0)
    inv.record([New(ev.FindingsDissented, "cai-qc", {"authority": "cai-qc", "finding": finding, "reasons": "r"})], T0)
    act(inv, "issue-recommendations", by="opc", recommendations=[{"id": "R1", "text": "Stop."}])
    return inv


@pytest.mark.parametrize(
    ("finding", "escalates"),
    [
        ("not-well-founded", False),
        ("discontinued", False),
        ("declined", False),
        ("well-founded-and-resolved", False),
        ("well-founded", True),
        ("well-founded-and-conditionally-resolved", True),
    ],
)
def test_a_dissenting_authority_escalates_only_if_its_own_finding_supports_the_recommendations(
    tmp_path, finding, escalates
):
    inv = dissent_case(tmp_path, finding)
    assert inv.state.tracks["cai-qc"].finding == finding
    act(inv, "answer-recommendations", by="respondent", answers={"R1": "refused"})
    [started] = [e for e in inv.events if isinstance(e, ev.EscalationStarted)]
    expected = ["opc", "cai-qc", "oipc-bc", "oipc-ab"] if escalates else ["opc", "oipc-bc", "oipc-ab"]
    assert started.authorities == expected
    # The fold agrees with the event: only the named tracks are in escalation.
    assert (inv.state.tracks["cai-qc"].status == TrackStatus.ESCALATION) is escalates
    assert all(inv.state.tracks[a].status == TrackStatus.ESCALATION for a in ("opc", "oipc-bc", "oipc-ab"))


def test_a_deemed_refusal_leaves_the_dissenter_out_of_escalation_too(tmp_path):
    inv = dissent_case(tmp_path, "not-well-founded")
    [issued] = [e for e in inv.events if e.type == "RecommendationsIssued"]
    served(inv, issued, T0)  # the response clock runs from service
    [response] = [d for d in inv.state.open_deadlines if d.kind == "response"]
    inv.record(on_missed(inv.state, response, inv.ctx(T0)), T0 + timedelta(days=60))
    [started] = [e for e in inv.events if isinstance(e, ev.EscalationStarted)]
    assert "cai-qc" not in started.authorities and "oipc-bc" in started.authorities


def test_the_dissenters_own_track_closes_with_its_own_finding_when_the_others_escalate(tmp_path):
    joint_record = dissent_case(tmp_path, "not-well-founded")
    act(joint_record, "answer-recommendations", by="respondent", answers={"R1": "refused"})
    track = Investigation(joint_record.procedure, "cai-qc")
    for e in joint_record.events:
        if e.type in ("InvestigationOpened", "FindingsDrafted", "FindingsIssued", "EscalationStarted"):
            track.mirror(e)
    closed = [e for e in track.events if isinstance(e, ev.TrackClosed)]
    assert [c.authority for c in closed] == ["cai-qc"]
    assert closed[0].outcome.startswith("not-well-founded")
    assert track.state.tracks["cai-qc"].status == TrackStatus.CLOSED
    # An escalating authority's track does not close on the same event.
    bc = Investigation(joint_record.procedure, "oipc-bc")
    for e in joint_record.events:
        if e.type in ("InvestigationOpened", "FindingsDrafted", "FindingsIssued", "EscalationStarted"):
            bc.mirror(e)
    assert bc.state.tracks["oipc-bc"].status == TrackStatus.ESCALATION
    assert not [e for e in bc.events if isinstance(e, ev.TrackClosed)]
