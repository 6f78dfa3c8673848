"""Opening an investigation: the record, the notice of investigation, and a delivery that fails."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as enforce_worker
from domain.state import Stage
from enforce import codec, investigations
from tests.casefiles import clearview
from tests.live import settle

pytestmark = pytest.mark.timeout(60)


async def wait_for_notice(env: WorkflowEnvironment, slug: str):
    """Query until the notice of investigation has an outcome (served or failed)."""
    for _ in range(100):
        view = await investigations.state(env.client, slug)
        if view.state.notices:
            return view
        # Virtual time on the test server: lets the retry policy's backoff run out in moments.
        await env.sleep(30)
    raise AssertionError("the notice of investigation never got an outcome")


async def test_open_records_the_case_and_serves_the_notice(skipping_env, task_queue, slug, tmp_path, data_dir):
    case, procedure = clearview(slug, tmp_path)
    async with Worker(
        skipping_env.client,
        task_queue=task_queue,
        workflows=enforce_worker.WORKFLOWS,
        activities=enforce_worker.ACTIVITIES,
    ):
        await investigations.start(skipping_env.client, case, procedure, task_queue=task_queue, indexed=False)
        await wait_for_notice(skipping_env, slug)
        await settle(skipping_env.client, slug)
        view = await investigations.state(skipping_env.client, slug)
        events = (await investigations.events(skipping_env.client, slug)).events

    assert events[0].type == "InvestigationOpened"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    opened = events[0]
    [served] = [e for e in events if e.type == "NoticeServed"]
    # The OPC's track starts its own clock (PIPEDA s.13(1)) and reports it to the joint record.
    [report] = [e for e in events if e.type == "DeadlineSet"]
    assert (report.authority, report.kind, report.due.isoformat()) == ("opc", "report", "2021-02-22")
    # The case runs on its own dates, whatever the server's clock says.
    assert opened.on.date().isoformat() == "2020-02-21"
    assert view.state.stage == Stage.INVESTIGATING
    assert view.state.authorities == ["opc", "cai-qc", "oipc-bc", "oipc-ab"]
    assert view.state.files["oipc-bc"] == "P20-81997"

    assert served.to.id == "respondent" and served.channel == "outbox"
    assert served.senders == ["opc", "cai-qc", "oipc-bc", "oipc-ab"]
    assert "PIPEDA s.11(4)" in served.section and "BC PIPA s.36(1)(a)" in served.section
    delivered = data_dir / "outbox" / "respondent" / f"{served.notice_id}.md"
    body = codec.read_file(delivered)
    assert hashlib.sha256(body).hexdigest() == served.sha256
    assert codec.read_file(Path(served.document)) == body
    text = body.decode()
    assert "Clearview AI, Inc." in text and "PIPEDA-039525" in text and "2020-02-21" in text
    assert "appropriate purpose" in text


async def test_a_notice_that_cannot_be_delivered_is_recorded_not_ignored(
    skipping_env, task_queue, slug, tmp_path, monkeypatch
):
    case, procedure = clearview(slug, tmp_path)
    # An outbox that is a file, not a folder: every delivery attempt fails until the retry policy gives up.
    blocked = tmp_path / "outbox-is-a-file"
    blocked.write_text("")
    monkeypatch.setenv("ENFORCE_OUTBOX_DIR", str(blocked))
    async with Worker(
        skipping_env.client,
        task_queue=task_queue,
        workflows=enforce_worker.WORKFLOWS,
        activities=enforce_worker.ACTIVITIES,
    ):
        await investigations.start(skipping_env.client, case, procedure, task_queue=task_queue, indexed=False)
        view = await wait_for_notice(skipping_env, slug)
        handle = skipping_env.client.get_workflow_handle(f"investigation-{slug}")
        desc = await handle.describe()

    [notice] = view.state.notices
    assert notice.status == "failed"
    assert notice.notice_id in [n.notice_id for n in view.state.undelivered]
    assert notice.reason
    # The case goes on running, and shows the failure rather than pretending the notice was served.
    assert desc.status is not None and desc.status.name == "RUNNING"
