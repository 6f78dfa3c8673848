"""Naming a running clock by its rule and authority, and the "allowed now" hint offering extend-deadline
exactly when some running clock may be extended by the actor. Pure domain, no Temporal."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import events as ev
from domain.actions import ACTIONS, CASE, ExtendDeadline, New, allowed_now, parse_action, resolve_deadline
from domain.case import RESPONDENT
from domain.errors import Rejected
from domain.investigation import Investigation
from tests.test_policy import T0, act, joint, served, to_recommendations


def track_in_inquiry(tmp_path, aid: str) -> Investigation:
    joint_record, _ = joint(tmp_path)
    track = Investigation(joint_record.procedure, aid)
    track.mirror(joint_record.events[0])
    track.record([New(ev.EscalationStarted, "system", {"authorities": [aid], "reason": "refused"})], T0)
    act(track, "open-inquiry", by=aid)
    return track


def extension(**fields) -> ExtendDeadline:
    base = dict(
        by="oipc-ab",
        added=30,
        reason="complex",
        notified=["respondent"],
        anticipated_completion=(T0 + timedelta(days=150)).date(),
    )
    return parse_action("extend-deadline", {**base, **fields})


@pytest.mark.parametrize(
    "ref",
    [{"deadline": "oipc-ab:inquiry"}, {"deadline": "inquiry", "authority": "oipc-ab"}, {"deadline": "inquiry"}],
)
def test_a_clock_named_by_rule_and_authority_is_extended_like_one_named_by_id(tmp_path, ref):
    track = track_in_inquiry(tmp_path, "oipc-ab")
    [clock] = [d for d in track.state.open_deadlines if d.rule == "inquiry"]
    assert resolve_deadline(track.state, **{"ref" if k == "deadline" else k: v for k, v in ref.items()}) == clock
    [extended] = track.execute(extension(**ref), T0)
    assert extended.type == "DeadlineExtended" and extended.deadline_id == clock.deadline_id
    assert track.state.deadlines[clock.deadline_id].due > clock.due


def test_the_internal_id_still_works(tmp_path):
    track = track_in_inquiry(tmp_path, "oipc-ab")
    [clock] = [d for d in track.state.open_deadlines if d.rule == "inquiry"]
    [extended] = track.execute(extension(deadline=clock.deadline_id), T0)
    assert extended.deadline_id == clock.deadline_id


def both_inquiries(tmp_path) -> Investigation:
    """The joint view, which sees every track's clocks: BC's and AB's inquiries both run."""
    joint_record, _ = joint(tmp_path)
    for aid in ("oipc-bc", "oipc-ab"):
        track = track_in_inquiry(tmp_path, aid)
        [setting] = [e for e in track.events if isinstance(e, ev.DeadlineSet) and e.rule == "inquiry"]
        joint_record.mirror(setting)
    return joint_record


@pytest.mark.parametrize(
    ("ref", "authority", "refusal"),
    [
        ("inquiry", "", r"'inquiry' names 2 running deadlines .*give the authority"),
        ("opc:inquiry", "", r"no running deadline 'opc:inquiry' \(running: .*oipc-bc:inquiry"),
        ("compliance", "oipc-ab", r"no running deadline 'oipc-ab:compliance'"),
        ("oipc-ab:inquiry", "oipc-bc", r"authority: 'oipc-bc' does not match the deadline's 'oipc-ab'"),
        ("oipc-ab:inquiry:999", "", r"no running deadline 'oipc-ab:inquiry:999'"),
    ],
)
def test_a_name_matching_no_clock_or_several_is_refused_clearly(tmp_path, ref, authority, refusal):
    state = both_inquiries(tmp_path).state
    with pytest.raises(Rejected, match=refusal):
        resolve_deadline(state, ref, authority)


def test_the_rule_and_authority_pick_one_of_several(tmp_path):
    state = both_inquiries(tmp_path).state
    assert resolve_deadline(state, "inquiry", "oipc-bc").authority == "oipc-bc"
    assert resolve_deadline(state, "oipc-ab:inquiry").authority == "oipc-ab"


def test_a_joint_clock_is_named_by_the_lead_and_routed_to_the_joint_record(tmp_path):
    inv, _ = joint(tmp_path)
    issued = to_recommendations(inv)
    served(inv, issued, T0)
    d = resolve_deadline(inv.state, "opc:response")
    assert d.owner == CASE and d.rule == "response"
    [extended] = inv.execute(
        parse_action(
            "extend-deadline",
            {"by": "opc", "deadline": "response", "added": 10, "reason": "r", "notified": ["respondent"]},
        ),
        T0,
    )
    assert extended.deadline_id == d.deadline_id
    assert (
        parse_action(
            "extend-deadline", {"by": "opc", "deadline": d.deadline_id, "added": 1, "reason": "r", "notified": ["opc"]}
        ).record_owner()
        == CASE
    )


# ---- the hint


def states(tmp_path):
    """(investigation, label) along a case: joint record at each stage, and tracks with their own clocks."""
    inv, _ = joint(tmp_path)
    out = [(Investigation(inv.procedure, CASE, list(inv.events)), "opened")]
    act(inv, "request-information", by="oipc-bc", items=["accounts"])
    out.append((Investigation(inv.procedure, CASE, list(inv.events)), "information requested"))
    issued = to_recommendations(inv)
    served(inv, issued, T0)
    out.append((Investigation(inv.procedure, CASE, list(inv.events)), "awaiting response"))
    act(inv, "answer-recommendations", by="respondent", answers={"R1": "refused", "R2": "refused"})
    out.append((Investigation(inv.procedure, CASE, list(inv.events)), "escalation"))
    for aid in ("oipc-ab", "oipc-bc"):
        out.append((track_in_inquiry(tmp_path, aid), f"{aid} inquiry"))
    bc = track_in_inquiry(tmp_path, "oipc-bc")
    act(bc, "issue-order", by="oipc-bc", order="P21-08")
    out.append((bc, "oipc-bc order (a clock no one may extend)"))
    return out


def test_every_action_in_the_hint_passes_the_validators_checks_and_extend_deadline_is_offered(tmp_path):
    offered_extend = 0
    for inv, label in states(tmp_path):
        ctx = inv.ctx(T0)
        for by in [*inv.state.authorities, RESPONDENT]:
            hint = allowed_now(inv.state, ctx, by)
            for name in hint:
                if name == "extend-deadline":
                    continue
                probe = ACTIONS[name].model_construct(by=by, authority=by if by != RESPONDENT else ctx.owner)
                probe.check(inv.state, ctx)  # the validator's own check: raises if the hint lied
            grantable = [
                d
                for d in inv.state.deadlines.values()
                if d.running
                and d.owner == ctx.owner
                and {"authority": d.authority, "lead": inv.state.lead}.get(
                    inv.procedure.deadline_rule(d.owner, d.rule).extend_by
                )
                == by
            ]
            assert ("extend-deadline" in hint) == bool(grantable), (label, by, hint)
            for d in grantable:
                # The validator accepts an actual extension of each clock the hint stands for.
                fields = {"deadline": f"{d.authority}:{d.rule}", "added": 5, "reason": "r", "notified": ["respondent"]}
                if inv.procedure.deadline_rule(d.owner, d.rule).extension_needs_completion_date:
                    fields["anticipated_completion"] = (d.due + timedelta(days=30)).isoformat()
                inv.validate(parse_action("extend-deadline", {"by": by, **fields}), T0)
                offered_extend += 1
    assert offered_extend >= 3  # the response clock and both inquiries: the states above do cover it
