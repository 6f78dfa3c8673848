"""Record the histories the replay tests run against: `python scripts/record_histories.py`.

Run it when a workflow change is deliberate and guarded by `workflow.patched`: keep the old histories (they
are what running cases look like) and add new ones beside them, named by date.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from enforce import simulate  # noqa: E402
from enforce.cases import load_case  # noqa: E402
from workflows.messages import track_id, workflow_id  # noqa: E402

OUT = ROOT / "tests" / "histories"


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = date.today().isoformat()
    for casefile in ("clearview.toml", "rcmp.toml"):
        case, procedure = load_case(ROOT / "cases" / casefile)
        ids = [workflow_id(case.slug)] + [track_id(case.slug, a) for a in case.authorities]

        async def keep(client, ids=ids) -> None:
            for wid in ids:
                history = await client.get_workflow_handle(wid).fetch_history()
                path = OUT / f"{stamp}-{wid}.json"
                path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
                print(f"wrote {path.relative_to(ROOT)}")

        await simulate.run(case, procedure, before_shutdown=keep)


if __name__ == "__main__":
    asyncio.run(main())
