"""`enforce dev demo`: the Clearview case on the local stack, taken to the point where clocks are running.

A live case cannot skip time: the demo opens the real case on its own dates (2020-02-21), records the
voluntary withdrawal, and has the OPC circulate its draft findings. The co-authorities' comment window
then runs as a real durable timer, and the OPC's one-year report clock with it.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.actions import parse_action
from enforce import investigations
from enforce.cases import load_case
from enforce.connect import connect
from enforce.simulate import settled

CASEFILE = Path("cases/clearview.toml")
# The scripted steps the demo plays: up to the draft findings circulating (the real case's 2021-02-02).
UNTIL_ACTION = "draft-findings"


async def run(say) -> None:
    case, procedure = load_case(CASEFILE)
    client = await connect()
    try:
        await investigations.start(client, case, procedure)
    except WorkflowAlreadyStartedError:
        say(f"investigation-{case.slug} is already open: left as it is")
        return
    say(f"opened investigation-{case.slug}")
    await settled(client, case.slug, case.authorities)
    for step in case.steps:
        await investigations.act(client, case.slug, parse_action(step.action, {"by": step.by, **step.fields()}))
        await settled(client, case.slug, case.authorities)
        say(f"{step.action} by {step.by} (scripted for {step.on})")
        if step.action == UNTIL_ACTION:
            break
