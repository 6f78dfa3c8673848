"""Record the histories the replay tests run against: `python scripts/record_histories.py [tag]`.

Run it when a workflow change is deliberate and guarded by `workflow.patched`: keep the old histories (they
are what running cases look like) and add new ones beside them, named by date (and by `tag` when given, so
that two changes recorded on one day do not overwrite each other's histories).

The histories are recorded through the project's data converter, encrypted, into tests/histories/encrypted/
with the TEST key set kept there (TEST-ONLY-codec-keys.json, made on the first recording, never a real key).
The plaintext histories in tests/histories/ were recorded before the codec; they stay, and still replay.
The batches between records are signed with the TEST record key set kept there too (TEST-ONLY-record-keys.json),
which the replay tests install: from the event store on, an accepted batch shows in history as a store append.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from enforce import simulate  # noqa: E402
from enforce.cases import load_case  # noqa: E402
from workflows.messages import track_id, workflow_id  # noqa: E402

ENCRYPTED = ROOT / "tests" / "histories" / "encrypted"
TEST_KEYS = ENCRYPTED / "TEST-ONLY-codec-keys.json"
# The record keys that sign the batches between records: a replay must verify them as the run did (an accepted
# batch records events; a refused one nothing), so the replay tests install this TEST set too.
TEST_RECORD_KEYS = ENCRYPTED / "TEST-ONLY-record-keys.json"


async def main(tag: str = "") -> None:
    from enforce import codec

    out = ENCRYPTED
    out.mkdir(parents=True, exist_ok=True)
    if not TEST_KEYS.exists():
        codec.KeySet.generate("test-only-replay").write(TEST_KEYS)
    os.environ.pop("ENFORCE_CODEC_KEY", None)
    os.environ["ENFORCE_CODEC_KEYS"] = str(TEST_KEYS)
    os.environ["ENFORCE_RECORD_KEYS"] = str(TEST_RECORD_KEYS)
    stamp = date.today().isoformat() + (f".{tag}" if tag else "")  # the replay test reads the id after the third "-"
    for casefile in ("clearview.toml", "rcmp.toml"):
        case, procedure = load_case(ROOT / "cases" / casefile)
        ids = [workflow_id(case.slug)] + [track_id(case.slug, a) for a in case.authorities]

        async def keep(client, ids=ids) -> None:
            for wid in ids:
                history = await client.get_workflow_handle(wid).fetch_history()
                path = out / f"{stamp}-{wid}.json"
                path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
                print(f"wrote {path.relative_to(ROOT)}")

        await simulate.run(case, procedure, before_shutdown=keep)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else ""))
