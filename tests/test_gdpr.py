"""The EU one-stop-shop (procedure eu-gdpr) on the engine: every clock against a date worked out by hand under
Regulation 1182/71 Art. 3 (the day of the event not counted; weeks end on the same weekday, months on the same
date or the month's last day; an end on a Saturday, a Sunday or a public holiday moves to the next working day),
the procedure's own steps, and what a procedure file is checked for when it is read."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import events as ev
from domain.actions import CASE, allowed_now, parse_action
from domain.deadlines import due_date
from domain.errors import DataError, Rejected
from domain.investigation import Investigation
from domain.policy import on_missed
from domain.procedure import load_procedure, parse_procedure
from enforce.cases import load_case
from enforce.codec import read_file
from enforce.paperwork import render_report
from enforce.views import event_line
from tests.casefiles import ROOT, simulate_text, write_case
from workflows.details import current_details

GDPR = load_procedure("eu-gdpr")
CASE_FILE = ROOT / "cases" / "lumen-social.toml"
T0 = datetime(2025, 9, 1, 12, tzinfo=UTC)


def noon(d: date) -> datetime:
    return datetime.combine(d, time(12), tzinfo=UTC)


def case_without_steps(tmp_path: Path) -> Investigation:
    text = CASE_FILE.read_text()
    text = text[: text.index("# ------------------------------------------------------------ scripted")]
    case, procedure = load_case(write_case(tmp_path, text))
    inv = Investigation(procedure, CASE)
    inv.open(case, T0)
    return inv


def act(inv: Investigation, name: str, on: date, **fields) -> list[ev.Event]:
    return inv.execute(parse_action(name, fields, inv.procedure), noon(on))


def clock(inv: Investigation, rule: str):
    return next(d for d in inv.state.open_deadlines if d.rule == rule)


def run_out(inv: Investigation, rule: str) -> list[ev.Event]:
    """A clock's timer firing at the end of its due day, as the workflow does it."""
    d = clock(inv, rule)
    when = datetime.combine(d.due + timedelta(days=1), time(0), tzinfo=UTC)
    return inv.record(on_missed(inv.state, d, inv.ctx(when)), when)


def steps(events: list[ev.Event]) -> list[str]:
    return [e.name for e in events if isinstance(e, ev.StepRecorded)]


# ------------------------------------------------------------------ counting (Regulation 1182/71 Art. 3)

# (rule, calendar, trigger, due, the reasoning)
COUNTED = [
    (
        "objections",
        "ie",
        date(2026, 3, 9),
        date(2026, 4, 7),
        "4 weeks from Mon 9 Mar 2026 end on Mon 6 Apr, Easter Monday in Ireland: Tue 7 Apr",
    ),
    (
        "objections",
        "ie",
        date(2026, 12, 2),
        date(2026, 12, 30),
        "4 weeks from Wed 2 Dec 2026: Wed 30 Dec, a working day in Ireland",
    ),
    (
        "objections",
        "edpb",
        date(2026, 12, 4),
        date(2027, 1, 4),
        "4 weeks from Fri 4 Dec 2026: Fri 1 Jan 2027, a holiday; Sat 2, Sun 3: Mon 4 Jan",
    ),
    (
        "revised-objections",
        "ie",
        date(2026, 4, 20),
        date(2026, 5, 5),
        "2 weeks from Mon 20 Apr 2026: Mon 4 May, the May Bank Holiday in Ireland: Tue 5 May",
    ),
    (
        "revised-objections",
        "edpb",
        date(2026, 12, 17),
        date(2027, 1, 4),
        "2 weeks from Thu 17 Dec 2026: Thu 31 Dec, in the Union institutions' closure; Fri 1 Jan holiday; "
        "weekend: Mon 4 Jan",
    ),
    (
        "binding-decision",
        "edpb",
        date(2026, 1, 31),
        date(2026, 3, 2),
        "1 month from Sat 31 Jan 2026: February has no 31st, so its last day, Sat 28 Feb; weekend: Mon 2 Mar",
    ),
    (
        "binding-decision",
        "edpb",
        date(2026, 5, 19),
        date(2026, 6, 19),
        "1 month from Tue 19 May 2026: Fri 19 Jun, a working day",
    ),
    (
        "final-decision",
        "ie",
        date(2026, 2, 17),
        date(2026, 3, 18),
        "1 month from Tue 17 Feb 2026: Tue 17 Mar, Saint Patrick's Day: Wed 18 Mar",
    ),
    (
        "final-decision",
        "ie",
        date(2028, 1, 29),
        date(2028, 2, 29),
        "1 month from Sat 29 Jan 2028: Tue 29 Feb 2028 (a leap year), a working day",
    ),
    (
        "provisional-measure",
        "it",
        date(2026, 1, 12),
        date(2026, 4, 13),
        "3 months from Mon 12 Jan 2026: Sun 12 Apr; Mon 13 Apr is a working day in Italy",
    ),
    (
        "provisional-measure",
        "fr",
        date(2026, 4, 14),
        date(2026, 7, 15),
        "3 months from Tue 14 Apr 2026: Tue 14 Jul, the Fête nationale in France: Wed 15 Jul",
    ),
    (
        "mutual-assistance",
        "ie",
        date(2025, 12, 1),
        date(2026, 1, 2),
        "1 month from Mon 1 Dec 2025: Thu 1 Jan 2026, New Year's Day in Ireland: Fri 2 Jan",
    ),
]


@pytest.mark.parametrize("rule,calendar,trigger,due,why", COUNTED, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in COUNTED])
def test_periods_count_as_regulation_1182_71_counts(rule, calendar, trigger, due, why):
    r = GDPR.deadlines[rule].for_holder(calendar)
    assert due_date(r, trigger, GDPR.calendars) == due, why


def test_the_edpb_calendar_is_data_and_differs_from_the_lsa_s():
    # 21 July (Belgian National Day) is an EDPB holiday, not an Irish one; 3 August 2026 the reverse.
    from domain.calendars import calendar_for

    edpb, ie = calendar_for(GDPR.calendars, ["edpb"]), calendar_for(GDPR.calendars, ["ie"])
    assert edpb.is_holiday(date(2026, 7, 21)) and not ie.is_holiday(date(2026, 7, 21))
    assert ie.is_holiday(date(2026, 8, 3)) and not edpb.is_holiday(date(2026, 8, 3))
    assert edpb.is_holiday(date(2026, 5, 15))  # the Friday after Ascension Day: Easter (5 Apr) + 40


# ------------------------------------------------------------------ the procedure's steps, on the aggregate


def test_no_objection_within_four_weeks_is_deemed_agreement(tmp_path):
    inv = case_without_steps(tmp_path)
    act(inv, "circulate-draft-decision", date(2026, 3, 9), by="dpc-ie", summary="A reprimand.")
    assert clock(inv, "objections").due == date(2026, 4, 7)
    assert inv.state.awaiting_party == "authorities"  # the window is the authorities concerned's
    closed = run_out(inv, "objections")
    assert [e.type for e in closed][:1] == ["DeadlineElapsed"]
    assert steps(closed) == ["DraftDecisionDeemedAgreed"]
    assert inv.state.phase == "agreed"
    assert inv.state.deadlines[clock_id(inv, "objections")].status == "elapsed"
    act(inv, "adopt-final-decision", date(2026, 4, 15), by="dpc-ie", summary="A reprimand.")
    assert inv.state.phase == "adopted"


def clock_id(inv: Investigation, rule: str) -> str:
    return next(did for did, d in inv.state.deadlines.items() if d.rule == rule)


def test_an_objection_in_time_leaves_the_lsa_to_follow_or_refer(tmp_path):
    inv = case_without_steps(tmp_path)
    act(inv, "circulate-draft-decision", date(2026, 3, 9), by="dpc-ie", summary="A reprimand.")
    act(inv, "raise-objection", date(2026, 4, 7), by="cnil-fr", summary="A fine is due.")  # its last day
    assert steps(run_out(inv, "objections")) == ["ObjectionPeriodClosed"]
    assert inv.state.phase == "objections"
    assert set(allowed_now(inv.state, inv.ctx(noon(date(2026, 4, 8))), "dpc-ie")) >= {
        "revise-draft-decision",
        "refer-to-board",
    }
    # A revised draft (Art. 60(5)) opens a two-week window, and a second revision supersedes the first.
    act(inv, "revise-draft-decision", date(2026, 4, 20), by="dpc-ie", summary="A fine added.")
    assert clock(inv, "revised-objections").due == date(2026, 5, 5)
    assert steps(run_out(inv, "revised-objections")) == ["DraftDecisionDeemedAgreed"]


def test_the_edpb_acts_only_in_the_dispute_and_the_lsa_s_clock_starts_on_its_notification(tmp_path):
    inv = case_without_steps(tmp_path)
    with pytest.raises(
        Rejected, match="edpb acts only in dispute-resolution, binding-decision; the case is in inquiry"
    ):
        act(inv, "adopt-binding-decision", date(2025, 10, 1), by="edpb", summary="x")
    act(inv, "circulate-draft-decision", date(2026, 3, 9), by="dpc-ie", summary="A reprimand.")
    with pytest.raises(Rejected, match="raise-objection is for concerned, not edpb"):
        act(inv, "raise-objection", date(2026, 3, 10), by="edpb", summary="x")
    act(inv, "raise-objection", date(2026, 3, 20), by="garante-it", summary="A fine is due.")
    run_out(inv, "objections")
    act(inv, "refer-to-board", date(2026, 5, 19), by="dpc-ie", summary="Not followed.")
    assert inv.state.awaiting_party == "edpb"
    binding = clock(inv, "binding-decision")
    assert (binding.authority, binding.due) == ("edpb", date(2026, 6, 19))
    # Art. 65(2): extended by a further month, counted whole from the referral: 19 July 2026 is a Sunday.
    act(
        inv,
        "extend-deadline",
        date(2026, 6, 10),
        by="edpb",
        deadline="binding-decision",
        reason="Complexity.",
        notified=["dpc-ie"],
    )
    assert clock(inv, "binding-decision").due == date(2026, 7, 20)
    with pytest.raises(Rejected, match="allows 1 extension"):
        act(
            inv,
            "extend-deadline",
            date(2026, 6, 11),
            by="edpb",
            deadline="binding-decision",
            reason="Again.",
            notified=["dpc-ie"],
        )
    # Art. 65(3): no decision in the period; two weeks following its expiry on Mon 20 Jul: Mon 3 Aug.
    expired = run_out(inv, "binding-decision")
    assert [e.type for e in expired][0] == "DeadlineMissed" and "BindingDecisionPeriodExpired" in steps(expired)
    fallback = clock(inv, "binding-decision-fallback")
    assert (fallback.authority, fallback.trigger, fallback.due) == ("edpb", date(2026, 7, 20), date(2026, 8, 3))
    act(inv, "adopt-binding-decision", date(2026, 7, 28), by="edpb", summary="A fine.")
    assert inv.state.deadlines[fallback.deadline_id].status == "met"
    act(inv, "notify-binding-decision", date(2026, 7, 30), by="edpb")
    final = clock(inv, "final-decision")
    # The EDPB's event starts the LSA's clock, on the LSA's calendar: Sun 30 Aug 2026 -> Mon 31 Aug.
    assert (final.authority, final.due) == ("dpc-ie", date(2026, 8, 31))
    assert inv.state.awaiting_party == "dpc-ie"
    with pytest.raises(Rejected, match="edpb acts only in"):
        act(inv, "message", date(2026, 8, 1), by="edpb", to=["dpc-ie"], subject="s", text="t")


def test_mutual_assistance_unanswered_opens_provisional_measures(tmp_path):
    inv = case_without_steps(tmp_path)
    act(inv, "request-mutual-assistance", date(2025, 12, 1), by="garante-it", to=["dpc-ie"], summary="Minors?")
    request = clock(inv, "mutual-assistance")
    assert (request.authority, request.subject, request.due) == ("dpc-ie", "MA-1", date(2026, 1, 2))
    with pytest.raises(Rejected, match="subject: 'MA-7' is not a request for mutual assistance"):
        act(inv, "provide-mutual-assistance", date(2025, 12, 5), by="dpc-ie", subject="MA-7")
    assert steps(run_out(inv, "mutual-assistance")) == ["MutualAssistanceNotProvided"]
    act(inv, "adopt-provisional-measure", date(2026, 1, 12), by="garante-it", summary="Stop profiling in Italy.")
    measure = clock(inv, "provisional-measure")
    assert (measure.authority, measure.subject, measure.due) == ("garante-it", "PM-1", date(2026, 4, 13))
    assert steps(run_out(inv, "provisional-measure")) == ["ProvisionalMeasureLapsed"]


def test_the_common_actions_the_procedure_does_not_keep_are_refused(tmp_path):
    inv = case_without_steps(tmp_path)
    with pytest.raises(Rejected, match="draft-findings is not an action of procedure eu-gdpr"):
        act(inv, "draft-findings", date(2025, 10, 1), by="dpc-ie", finding="well-founded", summary="x")
    with pytest.raises(Rejected, match="summary: circulate-draft-decision \\(draft decision\\) requires it"):
        act(inv, "circulate-draft-decision", date(2025, 10, 1), by="dpc-ie")
    with pytest.raises(Rejected, match="refer-to-board is taken in objections; the case is in inquiry"):
        act(inv, "refer-to-board", date(2025, 10, 1), by="dpc-ie", summary="x")


# ------------------------------------------------------------------ a procedure file checked when it is read

BAD = [
    (
        'trigger = "DraftDecisionCirculated"',
        'trigger = "DraftDecisionCirculatd"',
        "deadlines.objections.trigger: 'DraftDecisionCirculatd' is not an event of domain/events.py or of this "
        "procedure's steps",
    ),
    (
        'met_by = ["FinalDecisionAdopted"]',
        'met_by = ["FinalDecisionAdoptd"]',
        "deadlines.final-decision.met_by[0]: 'FinalDecisionAdoptd' is not an event",
    ),
    (
        'then = "deemed-agreement"',
        'then = "deemed-agreemnt"',
        "deadlines.objections.then: 'deemed-agreemnt' is not a step of this procedure",
    ),
    (
        'otherwise = "objections-received"',
        'otherwise = "close"',
        "deadlines.objections.otherwise: step 'close' is not one the record takes (by = system)",
    ),
    ('unit = "weeks"', 'unit = "fortnights"', "deadlines.objections.unit"),
    (
        'kind = "draft-decision"',
        'kind = "draft-decison"',
        "notices.DraftDecisionCirculated.kind: no template for notice kind 'draft-decison'",
    ),
]


@pytest.mark.parametrize("old,new,message", BAD, ids=[b[1] for b in BAD])
def test_an_unknown_name_in_a_procedure_is_one_line_naming_it_exit_2(tmp_path, old, new, message):
    text = (ROOT / "domain" / "procedures" / "eu-gdpr.toml").read_text()
    assert old in text
    (tmp_path / "procedures").mkdir()
    (tmp_path / "procedures" / "eu-gdpr.toml").write_text(text.replace(old, new, 1))
    path = write_case(tmp_path, CASE_FILE.read_text())
    done = subprocess.run(
        [str(Path(sys.executable).parent / "enforce"), "simulate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_canadian_procedures_still_load_unchanged():
    for pid in ("ca-joint", "ca-privacy-act"):
        p = load_procedure(pid)
        assert not p.steps and p.actions is None and p.in_force is None
    with pytest.raises(DataError, match="steps.x.records: 'OrderIssued' is an event of domain/events.py already"):
        parse_procedure(
            (ROOT / "domain" / "procedures" / "eu-gdpr.toml").read_text()
            + '\n[steps.x]\nrecords = "OrderIssued"\nlabel = "x"\nby = ["lead"]\n',
            "p",
        )


# ------------------------------------------------------------------ the shipped case, simulated

# Every clock of cases/lumen-social.toml: (rule, subject, trigger, due, status, the reasoning).
EXPECTED = [
    (
        "mutual-assistance",
        "MA-1",
        date(2025, 11, 10),
        date(2025, 12, 10),
        "met",
        "Mon 10 Nov 2025 + 1 month: Wed 10 Dec, a working day in Ireland; replied 28 Nov",
    ),
    (
        "mutual-assistance",
        "MA-2",
        date(2025, 12, 1),
        date(2026, 1, 2),
        "missed",
        "Mon 1 Dec 2025 + 1 month: Thu 1 Jan 2026, New Year's Day in Ireland: Fri 2 Jan; no reply",
    ),
    (
        "provisional-measure",
        "PM-1",
        date(2026, 1, 12),
        date(2026, 4, 13),
        "elapsed",
        "Mon 12 Jan 2026 + 3 months: Sun 12 Apr; Mon 13 Apr, a working day in Italy (the Garante's)",
    ),
    (
        "objections",
        "",
        date(2026, 3, 9),
        date(2026, 4, 7),
        "elapsed",
        "Mon 9 Mar 2026 + 4 weeks: Mon 6 Apr, Easter Monday in Ireland (the LSA's): Tue 7 Apr",
    ),
    (
        "revised-objections",
        "",
        date(2026, 4, 20),
        date(2026, 5, 5),
        "elapsed",
        "Mon 20 Apr 2026 + 2 weeks: Mon 4 May, the May Bank Holiday in Ireland: Tue 5 May",
    ),
    (
        "binding-decision",
        "",
        date(2026, 5, 19),
        date(2026, 7, 20),
        "missed",
        "Tue 19 May 2026 + 1 month: Fri 19 Jun; extended by a further month: 19 Jul, a Sunday: Mon 20 Jul",
    ),
    (
        "binding-decision-fallback",
        "",
        date(2026, 7, 20),
        date(2026, 8, 3),
        "met",
        "two weeks following the expiry on Mon 20 Jul: Mon 3 Aug, an EDPB working day (an Irish holiday)",
    ),
    (
        "final-decision",
        "",
        date(2026, 7, 30),
        date(2026, 8, 31),
        "met",
        "notified Thu 30 Jul 2026 + 1 month: Sun 30 Aug: Mon 31 Aug, an Irish working day",
    ),
]


async def test_the_shipped_case_simulates_to_the_final_decision_on_dates_worked_by_hand(tmp_path):
    result = await simulate_text(CASE_FILE.read_text(), tmp_path)
    assert result.stage == "closed"
    got = [(d.rule, d.subject, d.trigger, d.due, d.status) for d in result.deadlines]
    assert got == [e[:5] for e in EXPECTED], "\n".join(e[5] for e in EXPECTED)
    binding = next(d for d in result.deadlines if d.rule == "binding-decision")
    assert binding.initial_due == date(2026, 6, 19) and binding.extensions == 1
    names = [e.name for e in result.events if isinstance(e, ev.StepRecorded)]
    assert names[names.index("DraftDecisionCirculated") :] == [
        "DraftDecisionCirculated",
        "ObjectionRaised",
        "ObjectionPeriodClosed",
        "ProvisionalMeasureLapsed",
        "RevisedDraftDecisionCirculated",
        "ObjectionRaised",
        "ObjectionPeriodClosed",
        "ReferredToBoard",
        "BindingDecisionPeriodExpired",
        "BindingDecisionAdopted",
        "BindingDecisionNotified",
        "FinalDecisionAdopted",
        "FinalDecisionNotified",
        "ComplaintDecisionAdopted",
        "CaseClosed",
    ]
    served = {e.kind: e for e in result.events if isinstance(e, ev.NoticeServed)}
    assert not [e for e in result.events if isinstance(e, ev.NoticeFailed)]
    assert {"draft-decision", "relevant-and-reasoned-objection", "binding-decision", "final-decision"} <= set(served)
    to_controller = served["final-decision"]
    assert to_controller.to.id == "respondent"
    text = (
        read_file(Path(result.data_dir, "documents", to_controller.document)).decode()
        if not Path(to_controller.document).is_absolute()
        else read_file(Path(to_controller.document)).decode()
    )
    assert "# Final decision (GDPR Art. 60(7), 65(6))" in text and "final decision of" in text
    # The record in the GDPR's own words.
    report = render_report(result.state, result.events, load_procedure("eu-gdpr", on=date(2025, 9, 1)))
    assert report.startswith("# Record of the cross-border case: Cross-border inquiry into Lumen Social Ltd")
    for words in (
        "| lead supervisory authority |",
        "with CNIL, Garante as supervisory authorities concerned.",
        "| Draft decision (GDPR Art. 60(3)) |",
        "| Relevant and reasoned objection (GDPR Art. 60(4), Art. 4(24)) |",
        "| Binding decision (GDPR Art. 65(1)(a), 65(2)-(3)) |",
        "| Final decision (GDPR Art. 60(7), Art. 65(6)) |",
        "extended on 2026-06-10 to 2026-07-20",
    ):
        assert words in report, words
    assert "co-investigator" not in report and "Report of findings" not in report
    # The UI's details and the CLI's timeline name the steps by the procedure's events.
    upto = next(i for i, e in enumerate(result.events) if getattr(e, "name", "") == "CaseClosed") + 1
    details = current_details(result.state, result.events[:upto], noon(date(2026, 9, 15)))
    assert "**stage:** closed · **phase:** notified ·" in details and "CaseClosed (by dpc-ie)" in details
    line = event_line(next(e for e in result.events if isinstance(e, ev.StepRecorded) and e.name == "ObjectionRaised"))
    assert "ObjectionRaised" in line and line.endswith("by cnil-fr    relevant and reasoned objection")
    assert {t.outcome for t in result.tracks.values()} == {
        "Final decision adopted and notified; the CNIL's decision on the rejected part adopted."
    }


# ------------------------------------------------------------------ Regulation (EU) 2025/2518, from 2027-04-02

LATER_CASE = ROOT / "cases" / "corvid-maps.toml"
AFTER = date(2028, 6, 1)  # a day by which the later case has run its course


@pytest.mark.parametrize(
    "opened,version",
    [
        (date(2025, 9, 1), "GDPR (2016/679)"),
        (date(2027, 4, 1), "GDPR (2016/679)"),
        (date(2027, 4, 2), "GDPR (2016/679) with Regulation (EU) 2025/2518"),
        (date(2027, 4, 15), "GDPR (2016/679) with Regulation (EU) 2025/2518"),
    ],
)
def test_a_case_takes_the_procedure_version_in_force_on_its_opening_date(tmp_path, opened, version):
    text = LATER_CASE.read_text().replace("opened = 2027-04-15", f"opened = {opened}")
    text = text[: text.index("[[steps]]")]
    _, procedure = load_case(write_case(tmp_path, text), today=AFTER)
    assert procedure.version == version
    assert ("investigation" in procedure.deadlines) == (opened >= date(2027, 4, 2))


def test_a_later_step_is_refused_in_a_case_opened_before_the_regulation_applied(tmp_path):
    text = LATER_CASE.read_text().replace("opened = 2027-04-15", "opened = 2027-03-15")
    with pytest.raises(
        DataError, match=r"steps\[0\] \(2027-06-01 share-summary-of-key-issues\).action: unknown action"
    ):
        load_case(write_case(tmp_path, text), today=AFTER)
    with pytest.raises(DataError, match="opened: 2027-04-15 is in the future"):
        load_case(LATER_CASE, today=date(2026, 12, 2))


async def test_the_later_case_simulates_with_the_regulation_s_clocks(tmp_path, monkeypatch):
    from enforce import simulate

    case, procedure = load_case(LATER_CASE, today=AFTER)
    monkeypatch.setenv("ENFORCE_DATA_DIR", str(tmp_path))
    result = await simulate.run(case, procedure)
    assert (result.stage, result.state.phase) == ("closed", "notified")
    assert [(d.rule, d.trigger, d.due, d.status) for d in result.deadlines] == [
        # 15 months from Thu 15 Apr 2027: Sat 15 Jul 2028; Mon 17 Jul. Met by the draft decision.
        ("investigation", date(2027, 4, 15), date(2028, 7, 17), "met"),
        # 3 weeks from the preliminary findings served Tue 2 Nov 2027: Tue 23 Nov, a working day in Ireland.
        ("right-to-be-heard", date(2027, 11, 2), date(2027, 11, 23), "met"),
        # 4 weeks from Mon 10 Jan 2028: Mon 7 Feb, Saint Brigid's Day; Tue 8 Feb. No objection: deemed agreement.
        ("objections", date(2028, 1, 10), date(2028, 2, 8), "elapsed"),
    ]
    names = [e.name for e in result.events if isinstance(e, ev.StepRecorded)]
    assert names == [
        "SummaryOfKeyIssuesShared",
        "PreliminaryFindingsIssued",
        "ObservationsSubmitted",
        "DraftDecisionCirculated",
        "DraftDecisionDeemedAgreed",
        "FinalDecisionAdopted",
        "FinalDecisionNotified",
        "CaseClosed",
    ]
    assert {"summary-of-key-issues", "preliminary-findings"} <= {
        e.kind for e in result.events if isinstance(e, ev.NoticeServed)
    }


def test_the_two_shipped_cases_differ_in_what_their_procedure_asks(tmp_path):
    _, before = load_case(CASE_FILE)
    _, after = load_case(LATER_CASE, today=AFTER)
    assert before.steps["circulate-draft-decision"].phases == ["inquiry"]
    assert after.steps["circulate-draft-decision"].phases == ["preliminary-findings", "heard"]
    assert set(after.steps) - set(before.steps) == {
        "share-summary-of-key-issues",
        "issue-preliminary-findings",
        "submit-observations",
    }


@settings(max_examples=200, deadline=None)
@given(
    trigger=st.dates(min_value=date(2019, 1, 1), max_value=date(2029, 12, 1)),
    rule=st.sampled_from(["objections", "revised-objections", "binding-decision", "provisional-measure"]),
    calendar=st.sampled_from(["ie", "edpb", "it", "fr", "de-by"]),
)
def test_a_period_ends_on_the_first_working_day_from_its_last_day(trigger, rule, calendar):
    """Art. 3(2)(b)-(c) and 3(4): the period's own last day, or the first working day after it, never later."""
    from domain.calendars import calendar_for
    from domain.deadlines import add_months

    r = GDPR.deadlines[rule].for_holder(calendar)
    cal = calendar_for(GDPR.calendars, [calendar])
    if r.unit == "weeks":
        last = trigger + timedelta(weeks=r.count)
        assert last.weekday() == trigger.weekday()
    else:
        last = add_months(trigger, r.count)
        # The same date, or the month's last day when it has no such date (31 January + 1 month: 28 February).
        assert last.day == trigger.day or (last.day < trigger.day and (last + timedelta(days=1)).day == 1)
    due = due_date(r, trigger, GDPR.calendars)
    assert due >= last and not cal.is_holiday(due) and due.weekday() < 5
    assert all(cal.is_holiday(last + timedelta(days=i)) for i in range((due - last).days))


# ------------------------------------------------------------------ a real case: WhatsApp Ireland (EDPB BD 1/2021)

REAL_CASE = ROOT / "cases" / "whatsapp-ie.toml"
OBJECTORS = ["bfdi-de", "lfdi-de-bw", "cnil-fr", "garante-it", "naih-hu", "ap-nl", "uodo-pl", "cnpd-pt"]

# (rule, trigger, due, status, the reasoning), each worked out by hand under Regulation 1182/71 Art. 3.
REAL_CLOCKS = [
    (
        "objections",
        date(2020, 12, 24),
        date(2021, 1, 21),
        "elapsed",
        "draft decision Thu 24 Dec 2020 + 4 weeks: Thu 21 Jan 2021, an Irish working day; the window closed with "
        "eight objections in it (objections-received), so no deemed agreement",
    ),
    (
        "binding-decision",
        date(2021, 6, 3),
        date(2021, 8, 3),
        "met",
        "referral Thu 3 Jun 2021 + 1 month: Sat 3 Jul, so Mon 5 Jul 2021 (first working day); extended by a "
        "further month, counted from the referral: Tue 3 Aug 2021, an EDPB working day; met on Wed 28 Jul",
    ),
    (
        "final-decision",
        date(2021, 7, 29),
        date(2021, 8, 30),
        "met",
        "notified Thu 29 Jul 2021 + 1 month: Sun 29 Aug, so Mon 30 Aug 2021, an Irish working day (the August "
        "bank holiday was Mon 2 Aug); met by the final decision of Fri 20 Aug",
    ),
]


async def test_the_real_whatsapp_case_simulates_to_its_real_outcome_on_its_real_dates(tmp_path):
    result = await simulate_text(REAL_CASE.read_text(), tmp_path)
    assert result.stage == "closed"
    got = [(d.rule, d.trigger, d.due, d.status) for d in result.deadlines]
    assert got == [c[:4] for c in REAL_CLOCKS], "\n".join(c[4] for c in REAL_CLOCKS)
    binding = next(d for d in result.deadlines if d.rule == "binding-decision")
    assert binding.initial_due == date(2021, 7, 5) and binding.extensions == 1
    # The record's own dates are the public record's: each step on its day, the window closing the day after
    # its last day, nothing the engine moved.
    dated = [(e.name, e.by, e.on.date()) for e in result.events if isinstance(e, ev.StepRecorded)]
    assert dated == [
        ("DraftDecisionCirculated", "dpc-ie", date(2020, 12, 24)),
        *[("ObjectionRaised", a, date(2021, 1, 21)) for a in OBJECTORS],
        ("ObjectionPeriodClosed", "system", date(2021, 1, 22)),
        ("ReferredToBoard", "dpc-ie", date(2021, 6, 3)),
        ("BindingDecisionAdopted", "edpb", date(2021, 7, 28)),
        ("BindingDecisionNotified", "edpb", date(2021, 7, 29)),
        ("FinalDecisionAdopted", "dpc-ie", date(2021, 8, 20)),
        ("FinalDecisionNotified", "dpc-ie", date(2021, 9, 2)),
        ("CaseClosed", "dpc-ie", date(2021, 9, 2)),
    ]
    final = next(e for e in result.events if isinstance(e, ev.StepRecorded) and e.name == "FinalDecisionAdopted")
    assert "EUR 225 million" in final.summary
    assert not [e for e in result.events if isinstance(e, ev.NoticeFailed)]
    # The joint report, in the GDPR's words, on this case.
    report = render_report(result.state, result.events, load_procedure("eu-gdpr", on=date(2018, 12, 10)))
    assert report.startswith("# Record of the cross-border case: DPC inquiry IN-18-12-2 into WhatsApp Ireland Ltd")
    for words in (
        "| lead supervisory authority |",
        "| Draft decision (GDPR Art. 60(3)) |",
        "| Relevant and reasoned objection (GDPR Art. 60(4), Art. 4(24)) |",
        "| Binding decision (GDPR Art. 65(1)(a), 65(2)-(3)) |",
        "| Final decision (GDPR Art. 60(7), Art. 65(6)) |",
        "extended on 2021-06-30 to 2021-08-03",
        "EUR 225 million",
        "- **AP, BfDI, CNIL, Garante, LfDI BW, NAIH, UODO, CNPD PT, EDPB**: the same decision as the lead supervisory",
    ):
        assert words in report, words
    assert report.count("| Relevant and reasoned objection (GDPR Art. 60(4), Art. 4(24)) |") == len(OBJECTORS)
    assert "co-investigator" not in report and "Report of findings" not in report and "done late" not in report
    # The UI's current details as the case stood: waiting on the LSA's choice, then in the EDPB's hands.
    from domain.state import fold

    def details_after(name: str) -> str:
        """As the case stood at the end of the day of that step."""
        day = next(e.on.date() for e in result.events if getattr(e, "name", "") == name)
        then = [e for e in result.events if e.on.date() <= day]
        return current_details(fold(then), then, noon(day), procedure=GDPR)

    waiting = details_after("ObjectionPeriodClosed")
    assert "**stage:** objections ·" in waiting and "**whose move:** dpc-ie" in waiting
    assert "| edpb | European Data Protection Board (dispute resolution) | acts only in dispute-resolution" in waiting
    assert (
        "| cnil-fr | supervisory authority concerned | open | relevant and reasoned objection, 2021-01-21 |" in waiting
    )
    # The yearly figures count it at its phase too.
    from domain.stats import stats

    before_board = [e for e in result.events if e.on.date() <= date(2021, 6, 3)]
    assert [(r.procedure, r.stage, r.cases) for r in stats([before_board]).stages] == [
        ("eu-gdpr", "dispute-resolution", 1)
    ]
    referred = details_after("ReferredToBoard")
    assert "**stage:** dispute-resolution ·" in referred and "**whose move:** edpb" in referred
    assert "| edpb | European Data Protection Board (dispute resolution) | open | — |" in referred
    assert "concurrence" not in referred and "finding" not in referred


def _as_a_reader_of_the_press_would_write_it() -> str:
    """The real case without the EDPB's extension (which no source here confirms) and with the final decision on
    2 September 2021, the day the DPC announced it: two acts after their periods, which the Regulation does not
    void. The engine must record both, late, never refuse them."""
    text = REAL_CASE.read_text()
    start = text.index("[[steps]]\non = 2021-06-30")
    text = text[:start] + text[text.index("[[steps]]\non = 2021-07-28") :]
    assert "on = 2021-08-20 " in text
    return text.replace("on = 2021-08-20 ", "on = 2021-09-02 ")


def test_acts_after_their_periods_are_recorded_and_shown_late(tmp_path):
    path = write_case(tmp_path, _as_a_reader_of_the_press_would_write_it())
    done = subprocess.run(
        [str(Path(sys.executable).parent / "enforce"), "simulate", str(path), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ENFORCE_DATA_DIR": str(tmp_path / "data")},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["stage"] == "closed"
    clocks = [(d["rule"], d["due"], d["status"], d.get("done_late_on")) for d in result["deadlines"]]
    assert clocks == [
        ("objections", "2021-01-21", "elapsed", None),
        # Referral Thu 3 Jun 2021 + 1 month: Sat 3 Jul, so Mon 5 Jul; no extension: missed.
        ("binding-decision", "2021-07-05", "missed", "2021-07-28"),
        # Art. 65(3): two weeks from that month's last day, Mon 5 Jul: Mon 19 Jul 2021 (the EDPB's 21 Jul
        # holiday is after it); missed too; the binding decision of Wed 28 Jul is done 9 days after.
        ("binding-decision-fallback", "2021-07-19", "missed", "2021-07-28"),
        # Notified Thu 29 Jul + 1 month: Sun 29 Aug, so Mon 30 Aug; the final decision of Thu 2 Sep, 3 days after.
        ("final-decision", "2021-08-30", "missed", "2021-09-02"),
    ]
    names = [e["name"] for e in result["events"] if e["type"] == "StepRecorded"]
    assert names[-6:] == [
        "BindingDecisionPeriodExpired",
        "BindingDecisionAdopted",
        "BindingDecisionNotified",
        "FinalDecisionAdopted",
        "FinalDecisionNotified",
        "CaseClosed",
    ]


async def test_the_report_and_the_deadline_table_say_late_where_late(tmp_path):
    from domain.policy import acted_late, status_with_lateness

    result = await simulate_text(_as_a_reader_of_the_press_would_write_it(), tmp_path)
    procedure = load_procedure("eu-gdpr", on=date(2018, 12, 10))
    late = acted_late(procedure, result.deadlines, result.events)
    shown = {d.rule: status_with_lateness(d, late.get(d.deadline_id)) for d in result.deadlines}
    assert shown == {
        "objections": "elapsed",
        "binding-decision": "missed; done late on 2021-07-28 (23 days after)",
        "binding-decision-fallback": "missed; done late on 2021-07-28 (9 days after)",
        "final-decision": "missed; done late on 2021-09-02 (3 days after)",
    }
    # Past both of its periods the binding decision is still the EDPB's to adopt: its move, not the LSA's.
    from domain.state import fold

    assert fold(e for e in result.events if e.on.date() <= date(2021, 7, 27)).awaiting_party == "edpb"
    assert fold(e for e in result.events if e.on.date() <= date(2021, 9, 1)).awaiting_party == "dpc-ie"
    # Between the binding decision adopted (28 Jul, its clock met) and notified (29 Jul), no clock runs: the
    # procedure's next step in that phase, its notification, is the EDPB's.
    adopted = fold(e for e in result.events if e.on.date() <= date(2021, 7, 28))
    assert adopted.phase == "binding-decision" and not [d for d in adopted.open_deadlines if d.running]
    assert adopted.whose_move(procedure) == "edpb"
    assert adopted.whose_move() == "dpc-ie"  # the record alone knows no step order: the lead
    notified = fold(e for e in result.events if e.on.date() <= date(2021, 7, 29))
    assert notified.whose_move(procedure) == "dpc-ie"  # the final decision is the LSA's, on its clock
    report = render_report(result.state, result.events, procedure)
    assert "| 2021-07-29 | 2021-08-30 | missed; done late on 2021-09-02 (3 days after) |" in report
    assert "missed (2021-08-31); done late on 2021-09-02" in report


BAD_CASE = [
    ('"naih-hu", "uodo-pl"', '"naih-hv", "uodo-pl"', "authorities[6]: unknown authority 'naih-hv' (procedure eu-gdpr"),
    (
        'action = "raise-objection"',
        'action = "raise-objecton"',
        "steps[1] (2021-01-21 raise-objecton).action: unknown action 'raise-objecton' (did you mean "
        "'raise-objection'?); actions: request-information,",
    ),
    (
        'summary = "The fine is too low',
        'sumary = "The fine is too low',
        "steps[1] (2021-01-21 raise-objection).sumary: not a field of raise-objection (its fields: summary)",
    ),
    (
        'by = "cnpd-pt"',
        'by = "cnpd-px"',
        "steps[8] (2021-01-21 raise-objection).by: 'cnpd-px' is neither an authority of the case nor 'respondent'",
    ),
    (
        'deadline = "edpb:binding-decision"',
        'deadline = "edpb:binding-decisin"',
        "steps[11] (2021-06-30 extend-deadline).deadline: 'binding-decisin' is no clock of procedure eu-gdpr",
    ),
    (
        'action = "close"',
        'action = "issue-order"',
        "steps[16] (2021-09-02 issue-order).action: issue-order is not an action of procedure eu-gdpr",
    ),
]


@pytest.mark.parametrize("old,new,message", BAD_CASE, ids=[b[1] for b in BAD_CASE])
def test_a_wrong_id_action_or_field_in_a_gdpr_case_file_is_one_line_naming_it_exit_2(tmp_path, old, new, message):
    text = REAL_CASE.read_text()
    assert old in text
    path = write_case(tmp_path, text.replace(old, new, 1))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "enforce"), "simulate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


async def test_list_by_procedure_shows_a_gdpr_case_at_its_phase(cli_env, dev_env, tmp_path, slug):
    """On a dev server (the time-skipping one knows no search attributes): a GDPR case is listed under its
    procedure, at the phase it is in, and shown there in the GDPR's words."""
    from tests.live import enforce

    text = REAL_CASE.read_text().replace('slug = "whatsapp-ie"', f'slug = "{slug}"', 1)
    text = text[: text.index("# ------------------------------------------------------------ scripted")]
    opened = await enforce(cli_env, "open", str(write_case(tmp_path, text)))
    assert opened.returncode == 0, opened.stderr
    other = f"{slug}-cv"
    path = write_case(
        tmp_path,
        (ROOT / "cases" / "clearview.toml").read_text().replace('slug = "clearview-ai"', f'slug = "{other}"', 1),
        "cv.toml",
    )
    assert (await enforce(cli_env, "open", str(path))).returncode == 0
    acted = await enforce(
        cli_env, "act", slug, "circulate-draft-decision", "--as", "dpc-ie", "-f", "summary=Infringements of Art. 12-14."
    )
    assert acted.returncode == 0, acted.stderr

    async def listed(*args: str) -> list[dict]:
        done = await enforce(
            cli_env, "list", "-q", f'WorkflowId STARTS_WITH "investigation-{slug}"', *args, "-o", "json"
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    for _ in range(100):
        rows = await listed("--procedure", "eu-gdpr")
        if rows and rows[0]["stage"] == "draft-decision":
            break
        await asyncio.sleep(0.2)
    assert [(r["slug"], r["procedure"], r["stage"], r["lead"]) for r in rows] == [
        (slug, "eu-gdpr", "draft-decision", "dpc-ie")
    ]
    # The window for objections is the next deadline: 4 weeks from the case's day, a working day in Ireland.
    assert rows[0]["awaiting"] == "authorities" and rows[0]["next_deadline"]
    assert [r["slug"] for r in await listed("--procedure", "eu-gdpr", "--stage", "draft-decision")] == [slug]
    assert await listed("--procedure", "eu-gdpr", "--stage", "dispute-resolution") == []
    assert [r["slug"] for r in await listed("--procedure", "ca-joint")] == [other]
    table = await enforce(cli_env, "list", "--procedure", "eu-gdpr", "-q", f'WorkflowId = "investigation-{slug}"')
    assert table.returncode == 0 and "draft-decision" in table.stdout, table.stderr
    shown = await enforce(cli_env, "show", slug)
    assert shown.returncode == 0, shown.stderr
    for words in ("draft-decision", "Authorities", "lead supervisory authority", "acts only in", "draft decision,"):
        assert words in shown.stdout, words
    assert "concurrence" not in shown.stdout
    wrong = await enforce(cli_env, "list", "--procedure", "eu-gpdr")
    assert wrong.returncode == 2 and "--procedure: unknown procedure 'eu-gpdr'" in wrong.stderr


# ------------------------------------------------------------------ a second real case: Meta transfers (BD 1/2023)

META_CASE = ROOT / "cases" / "meta-transfers-ie.toml"

# (rule, trigger, due, status, the reasoning), by hand under Regulation 1182/71 Art. 3.
META_CLOCKS = [
    (
        "objections",
        date(2022, 7, 7),
        date(2022, 8, 4),
        "elapsed",
        "draft decision Thu 7 Jul 2022 + 4 weeks: Thu 4 Aug 2022, an Irish working day (the August bank holiday "
        "was Mon 1 Aug); four objections in it",
    ),
    (
        "binding-decision",
        date(2023, 1, 20),
        date(2023, 2, 20),
        "cancelled",
        "referral Fri 20 Jan 2023 + 1 month: Mon 20 Feb; ended on Mon 13 Feb, when the file was declared complete",
    ),
    (
        "binding-decision-complete",
        date(2023, 2, 13),
        date(2023, 4, 13),
        "met",
        "file complete Mon 13 Feb 2023 + 1 month: Mon 13 Mar; extended by a further month: Thu 13 Apr 2023, an "
        "EDPB working day (Maundy Thursday was 6 Apr, Easter Monday 10 Apr); met by the decision that day",
    ),
    (
        "final-decision",
        date(2023, 4, 13),
        date(2023, 5, 15),
        "met",
        "notified Thu 13 Apr 2023 + 1 month: Sat 13 May, so Mon 15 May 2023; met by the decision of Fri 12 May",
    ),
]


async def test_the_real_meta_transfers_case_runs_its_board_month_from_the_file_s_completeness(tmp_path):
    result = await simulate_text(META_CASE.read_text(), tmp_path)
    assert result.stage == "closed"
    got = [(d.rule, d.trigger, d.due, d.status) for d in result.deadlines]
    assert got == [c[:4] for c in META_CLOCKS], "\n".join(c[4] for c in META_CLOCKS)
    complete = next(d for d in result.deadlines if d.rule == "binding-decision-complete")
    assert complete.initial_due == date(2023, 3, 13) and complete.extensions == 1
    names = [e.name for e in result.events if isinstance(e, ev.StepRecorded)]
    assert names == [
        "DraftDecisionCirculated",
        *["ObjectionRaised"] * 4,
        "ObjectionPeriodClosed",
        "ReferredToBoard",
        "ReferralFileComplete",
        "BindingDecisionAdopted",
        "BindingDecisionNotified",
        "FinalDecisionAdopted",
        "FinalDecisionNotified",
        "CaseClosed",
    ]
    report = render_report(result.state, result.events, load_procedure("eu-gdpr", on=date(2020, 8, 1)))
    assert "EUR 1.2 billion" in report and "| The file of the referral declared complete (GDPR Art. 65(2)" in report


@pytest.mark.parametrize(
    ("phase", "actor"),
    [
        ("inquiry", "lead"),  # the draft decision
        ("draft-decision", "concerned"),  # objections: nothing moves the phase on but the window's end
        ("objections", "lead"),  # revise, or refer to the board
        ("dispute-resolution", "board"),
        ("binding-decision", "board"),  # its notification
        ("final-decision", "lead"),
        ("adopted", "lead"),  # the notification, before a concerned authority's own complaint decision
        ("notified", "lead"),  # the close
    ],
)
def test_whose_move_in_a_phase_is_who_takes_its_next_step(phase, actor):
    assert load_procedure("eu-gdpr", on=date(2021, 1, 1)).next_actor(phase) == actor
