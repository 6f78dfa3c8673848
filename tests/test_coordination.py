"""Coordination between the authorities: evidence seen only within its scope, every sharing recorded with
its purpose, messages delivered like notices, comments and the comment window on draft findings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import events as ev
from domain.errors import Rejected
from enforce import codec, identity, investigations, sealing
from tests.live import action, failed_tasks, settle
from tests.test_clocks import advance_to

pytestmark = pytest.mark.timeout(120)


async def test_evidence_is_seen_only_within_its_scope_and_every_sharing_is_recorded(running):
    env, client, slug = running
    await investigations.act(
        client,
        slug,
        action(
            "record-evidence",
            by="oipc-bc",
            description="BC clients list",
            scope=["cai-qc"],
            purpose="joint investigation, BC PIPA s.36",
        ),
    )
    await investigations.act(
        client, slug, action("record-evidence", by="opc", description="Scraping logs", purpose="PIPEDA investigation")
    )

    def ids(view):
        return sorted(x.evidence_id for x in view.state.evidence)

    assert ids(await investigations.state(client, slug, "oipc-bc")) == ["E-1"]  # its own
    assert ids(await investigations.state(client, slug, "cai-qc")) == ["E-1"]  # shared with it
    assert ids(await investigations.state(client, slug, "oipc-ab")) == []  # outside the scope
    assert ids(await investigations.state(client, slug, "respondent")) == []
    assert ids(await investigations.state(client, slug, "opc")) == ["E-2"]
    hidden = (await investigations.events(client, slug, as_party="oipc-ab")).events
    assert not any(isinstance(e, ev.EvidenceRecorded | ev.EvidenceShared) for e in hidden)

    # Only the holder shares, and each sharing is an event with its purpose.
    with pytest.raises(Rejected, match="oipc-ab holds no evidence 'E-1'"):
        await investigations.act(
            client,
            slug,
            action("share-evidence", by="oipc-ab", evidence_id="E-1", shared_with=["opc"], purpose="curiosity"),
        )
    await investigations.act(
        client,
        slug,
        action(
            "share-evidence",
            by="oipc-bc",
            evidence_id="E-1",
            shared_with=["oipc-ab"],
            purpose="AB inquiry, AB PIPA s.36",
        ),
    )
    assert ids(await investigations.state(client, slug, "oipc-ab")) == ["E-1"]
    sharings = [e for e in (await investigations.events(client, slug)).events if isinstance(e, ev.EvidenceShared)]
    assert [(e.shared_with, e.purpose) for e in sharings] == [
        (["cai-qc"], "joint investigation, BC PIPA s.36"),
        (["oipc-ab"], "AB inquiry, AB PIPA s.36"),
    ]


async def test_a_message_between_authorities_is_delivered_and_recorded(running, data_dir):
    env, client, slug = running
    await investigations.act(
        client,
        slug,
        action(
            "message", by="opc", to=["cai-qc"], subject="Draft timing", text="We aim to circulate the draft in January."
        ),
    )
    await settle(client, slug)
    events = (await investigations.events(client, slug)).events
    [sent] = [e for e in events if isinstance(e, ev.MessageSent)]
    [served] = [e for e in events if isinstance(e, ev.NoticeServed) and e.kind == "message"]
    assert sent.to == ["cai-qc"] and served.to.id == "cai-qc" and served.cause == sent.seq
    # The text is sealed for the sender and the addressees: the notice says so, the addressee's key opens it.
    notice = codec.read_file(data_dir / "outbox" / "cai-qc" / f"{served.notice_id}.md").decode()
    assert "We aim to circulate" not in notice and "sealed for cai-qc, opc" in notice
    assert sealing.open_sealed(sent.text, identity.user_for("cai-qc")) == "We aim to circulate the draft in January."
    assert [m.subject for m in (await investigations.state(client, slug, "oipc-bc")).state.messages] == []
    with pytest.raises(Rejected, match="'ftc' is not an authority of this case"):
        await investigations.act(client, slug, action("message", by="opc", to=["ftc"], subject="s", text="t"))


async def test_the_comment_window_closes_with_the_answers_in_hand(running):
    env, client, slug = running
    await investigations.act(client, slug, action("draft-findings", by="opc", finding="well-founded", summary="s"))
    await investigations.act(client, slug, action("comment-on-findings", by="cai-qc", comments="Cite s.81 too."))
    await investigations.act(client, slug, action("concur", by="cai-qc"))
    await investigations.act(
        client, slug, action("dissent", by="oipc-bc", finding="not-well-founded", reasons="Insufficient BC nexus.")
    )
    await settle(client, slug)
    view = await investigations.state(client, slug)
    assert view.state.stage.value == "findings"  # oipc-ab has not answered
    [window] = [d for d in view.state.open_deadlines if d.kind == "comments"]
    await advance_to(env, client, slug, window.due + timedelta(days=1))
    view = await investigations.state(client, slug)
    [issued] = [e for e in (await investigations.events(client, slug)).events if isinstance(e, ev.FindingsIssued)]
    # The procedure's rule: proceed with those who concurred; a dissenting authority keeps its own finding.
    assert issued.findings == {"opc": "well-founded", "cai-qc": "well-founded", "oipc-bc": "not-well-founded"}
    assert view.state.stage.value == "recommendations"
    assert view.state.tracks["cai-qc"].comments == ["Cite s.81 too."]
    assert view.state.deadlines[window.deadline_id].label == "missed"
    assert await failed_tasks(client, slug) == []
