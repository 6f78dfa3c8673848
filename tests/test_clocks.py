"""Deadlines as durable timers: a reminder fires before the clock runs out, an extension that arrives while
the timer runs moves it, and a clock that runs out acts. On the real time-skipping test server."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from domain import events as ev
from domain.deadlines import extended_due, reminder_dates
from domain.errors import Rejected
from enforce import investigations
from tests.live import action, settle, to_recommendations

pytestmark = pytest.mark.timeout(120)


async def advance_to(env, client, slug: str, day, at: time = time(12)) -> None:
    """Move the test server's clock to `day` on the case's own calendar."""
    await settle(client, slug)
    view = await investigations.state(client, slug)
    delta = datetime.combine(day, at, tzinfo=UTC) - view.clock
    if delta > timedelta(0):
        await env.sleep(delta)
    await settle(client, slug)


async def events_of(client, slug, kind):
    return [e for e in (await investigations.events(client, slug)).events if isinstance(e, kind)]


async def test_a_reminder_then_an_extension_while_the_timer_runs(running):
    env, client, slug = running
    procedure = investigations_procedure()
    await investigations.act(
        client, slug, action("request-information", by="oipc-bc", items=["Canadian clients and their searches"])
    )
    await settle(client, slug)
    [clock] = [d for d in await events_of(client, slug, ev.DeadlineSet) if d.kind == "information"]
    rule = procedure.deadlines["information"]
    first, second = reminder_dates(rule, clock.due, procedure.calendars, trigger=clock.trigger)

    await advance_to(env, client, slug, first)
    reminders = [n for n in await events_of(client, slug, ev.NoticeServed) if n.deadline == clock.deadline_id]
    assert [n.on.date() for n in reminders] == [first]
    assert reminders[0].to.id == "respondent" and reminders[0].kind == "reminder"

    # Only the lead grants an extension of a joint clock; never to an earlier date.
    with pytest.raises(Rejected, match="only opc can extend"):
        await investigations.act(
            client,
            slug,
            action(
                "extend-deadline",
                by="oipc-bc",
                deadline=clock.deadline_id,
                added=10,
                reason="r",
                notified=["respondent"],
            ),
        )
    with pytest.raises(Rejected, match="cannot shorten"):
        await investigations.act(
            client,
            slug,
            action(
                "extend-deadline",
                by="opc",
                deadline=clock.deadline_id,
                new_due=str(clock.due - timedelta(days=1)),
                reason="r",
                notified=["respondent"],
            ),
        )
    await investigations.act(
        client,
        slug,
        action(
            "extend-deadline",
            by="opc",
            deadline=clock.deadline_id,
            added=10,
            reason="volume of records",
            notified=["respondent"],
        ),
    )
    [extended] = await events_of(client, slug, ev.DeadlineExtended)
    assert extended.due == extended_due(rule, clock.due, added=10, specs=procedure.calendars)

    # Past the old due date nothing runs out; past the new one it does.
    await advance_to(env, client, slug, clock.due + timedelta(days=1))
    assert await events_of(client, slug, ev.DeadlineMissed) == []
    await advance_to(env, client, slug, extended.due + timedelta(days=1))
    [missed] = await events_of(client, slug, ev.DeadlineMissed)
    assert missed.deadline_id == clock.deadline_id and missed.on.date() == extended.due + timedelta(days=1)
    view = await investigations.state(client, slug)
    assert view.state.deadlines[clock.deadline_id].label == "missed"


async def test_an_alberta_inquiry_extension_needs_notice_and_a_completion_date(running):
    env, client, slug = running
    await to_recommendations(client, slug, [{"id": "R1", "text": "Stop."}])
    await investigations.act(client, slug, action("answer-recommendations", by="respondent", answers={"R1": "refused"}))
    await settle(client, slug)
    await investigations.act(client, slug, action("open-inquiry", by="oipc-ab"))
    await settle(client, slug)
    [inquiry] = [d for d in (await investigations.state(client, slug)).state.open_deadlines if d.kind == "inquiry"]
    base = dict(by="oipc-ab", deadline=inquiry.deadline_id, added=30, reason="complex")
    with pytest.raises(Rejected, match="anticipated completion date"):
        await investigations.act(client, slug, action("extend-deadline", **base, notified=["respondent"]))
    with pytest.raises(Rejected, match="notice to the parties"):
        await investigations.act(
            client, slug, action("extend-deadline", **base, notified=["opc"], anticipated_completion="2030-01-01")
        )
    result = await investigations.act(
        client,
        slug,
        action(
            "extend-deadline", **base, notified=["respondent"], anticipated_completion=str(inquiry.due + timedelta(60))
        ),
    )
    assert result.recorded == ["DeadlineExtended"]


def investigations_procedure():
    from domain.procedure import load_procedure

    return load_procedure("ca-joint")
