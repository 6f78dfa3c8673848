"""The real Temporal Web UI in a real browser: what a case officer sees of an investigation.

A dev server with its UI (the session's `dev_env` has none), a worker in this process, the Clearview case;
then Debian's Chromium, driven by Playwright, finds the case in the workflow list filtered by
`InvestigationStage`, opens it and reads the page. Screenshots go to `.data/screenshots/` for a person to see.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as enforce_worker
from enforce import codec, investigations
from tests.casefiles import ROOT, clearview
from tests.conftest import executable
from tests.live import settle, to_recommendations
from workflows import search_attributes as sa
from workflows.messages import track_id, workflow_id

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = ROOT / ".data" / "screenshots"
NAME = "Clearview AI, Inc."
RECOMMENDATION = "Cease offering facial recognition services in Canada"
DUE = re.compile(r"\(due \d{4}-\d\d-\d\d\)")  # a deadline timer's summary
UI_POLL_S = 20.0

# What the pages must show, checked as text in the browser.
# On the case's Timeline tab (the page a click on the case opens): the summaries of its activities and timers.
CASE_TIMELINE_TEXTS = [
    "Serve notice of investigation on Clearview AI, Inc.",  # the notice activity's summary
]
# On each authority's track (a child workflow, opened from the case's Relationships tab), on its Timeline:
# authority -> the summaries of its timers (the deadline clocks it keeps) and activities.
TRACK_TIMELINE_TEXTS = {
    "opc": ["PIPEDA s.13(1): report within a year of the initiation (due 2021-02-22)"],  # a timer's summary
}
# On the User Metadata tab, each Markdown block the UI renders in its own iframe: iframe id -> texts.
METADATA_TEXTS: dict[str, list[str | re.Pattern[str]]] = {
    "user-metadata-summary": ["Joint investigation of Clearview AI, Inc.: OPC (lead), CAI, OIPC BC, OIPC AB"],
    "user-metadata-details": ["procedure ca-joint", "P20-81997"],
    # workflows.details.current_details: the stage and whose move it is, then a row per authority.
    "user-metadata-current-details": [
        re.compile(r"stage:\s*investigating", re.IGNORECASE),
        re.compile(r"whose move:\s*opc", re.IGNORECASE),
        "PIPEDA-039525",
    ],
}


@dataclass
class UI:
    env: WorkflowEnvironment
    url: str
    task_queue: str
    # The codec server's bearer token: the browser sends it, as a proxy in front of the UI would.
    token: str

    @property
    def client(self) -> Client:
        return self.env.client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
async def ui() -> AsyncIterator[UI]:
    """A dev server with the Web UI pointed at the project's codec server, the project's search attributes,
    and a worker for it."""
    from aiohttp import web

    from enforce import codec_server

    ui_port, codec_port, token = _free_port(), _free_port(), "ui-test-token"
    runner = web.AppRunner(codec_server.app(codec.load_keys(), token, f"http://127.0.0.1:{ui_port}"))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", codec_port).start()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=executable("temporal"),
        search_attributes=sa.ALL,
        data_converter=codec.data_converter(),
        dev_server_log_level="error",
        ui=True,
        ui_port=ui_port,
        dev_server_extra_args=["--ui-codec-endpoint", f"http://127.0.0.1:{codec_port}"],
    )
    task_queue = f"ui-{ui_port}"
    try:
        async with Worker(
            env.client,
            task_queue=task_queue,
            workflows=enforce_worker.WORKFLOWS,
            activities=enforce_worker.ACTIVITIES,
        ):
            yield UI(env, f"http://127.0.0.1:{ui_port}", task_queue, token)
    finally:
        await env.shutdown()
        await runner.cleanup()


@pytest.fixture
async def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs it (scripts/ensure-chromium.sh), "
            "or run `apt-get install chromium`",
            pytrace=False,
        )
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: `make test` installs the dev dependencies", pytrace=False)
    async with async_playwright() as p:
        # Debian's Chromium, never a browser Playwright would download.
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def _indexed(client: Client, query: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if [w async for w in client.list_workflows(query)]:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"visibility never answered {query!r}")


@pytest.mark.timeout(120)
async def test_the_ui_lists_the_case_by_stage_and_shows_its_story(browser, ui, tmp_path, slug):
    from playwright.async_api import TimeoutError as PlaywrightTimeout
    from playwright.async_api import expect

    case, procedure = clearview(slug, tmp_path)
    await investigations.start(ui.client, case, procedure, task_queue=ui.task_queue)
    wid = workflow_id(slug)
    stage_query = 'InvestigationStage="investigating"'
    # The notice served and the stage upserted: from here on the UI has something to show.
    await _indexed(ui.client, f'WorkflowId = "{wid}" AND {stage_query}')

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("ui-*.png"):  # the last run's only: each run has a case of its own
        old.unlink()
    page = await browser.new_page(
        viewport={"width": 1400, "height": 1000}, extra_http_headers={"Authorization": f"Bearer {ui.token}"}
    )
    page.set_default_timeout(15_000)

    # The workflow list, filtered by the stage search attribute.
    await page.goto(f"{ui.url}/namespaces/default/workflows?query={urllib.parse.quote(stage_query)}")
    link = page.get_by_role("link", name=wid, exact=True)
    deadline = time.monotonic() + UI_POLL_S
    while True:
        try:
            await link.wait_for(timeout=5_000)
            break
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                await page.screenshot(path=SCREENSHOTS / f"ui-{slug}-list.png", full_page=True)
                raise AssertionError(f"{wid} not in the UI's list for {stage_query} after {UI_POLL_S:g} s") from None
            await page.reload()
    await page.screenshot(path=SCREENSHOTS / f"ui-{slug}-list.png")

    # The case's page opens on its Timeline.
    await link.click()
    await page.wait_for_url(f"**/workflows/{wid}/**")
    for text in CASE_TIMELINE_TEXTS:
        await expect(page.get_by_text(text).first).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / f"ui-{slug}-timeline.png", full_page=True)

    # The User Metadata tab: static summary and details, and the current details the workflow keeps fresh.
    await page.get_by_role("tab", name="User Metadata").click()
    for frame, texts in METADATA_TEXTS.items():
        body = page.frame_locator(f"iframe#{frame}").locator("body")
        for text in texts:
            await expect(body).to_contain_text(text)
    await page.screenshot(path=SCREENSHOTS / f"ui-{slug}-metadata.png", full_page=True)

    # Each authority's track, as a person reaches it: the case's Relationships tab, then the child's link.
    for authority, texts in TRACK_TIMELINE_TEXTS.items():
        await page.goto(f"{ui.url}/namespaces/default/workflows/{wid}")
        await page.get_by_role("tab", name="Relationships").click()
        await page.get_by_role("link", name=track_id(slug, authority), exact=True).click()
        await page.wait_for_url(f"**/workflows/{track_id(slug, authority)}/**")
        for text in texts:
            await expect(page.get_by_text(text).first).to_be_visible()
        await page.screenshot(path=SCREENSHOTS / f"ui-{slug}-{authority}-timeline.png", full_page=True)


async def _page_text(page, wid: str) -> str:
    """All the text a person can read of the case: its Timeline, its User Metadata tab and its input and
    result, with every collapsed event of the timeline left as the UI shows it."""
    texts = [await page.locator("body").inner_text()]
    await page.get_by_role("tab", name="User Metadata").click()
    await page.wait_for_timeout(1_000)
    texts.append(await page.locator("body").inner_text())
    for frame in page.frames:
        with contextlib.suppress(Exception):
            texts.append(await frame.locator("body").inner_text(timeout=2_000))
    return "\n".join(texts)


@pytest.mark.timeout(150)
async def test_without_the_token_the_same_page_shows_only_ciphertext(browser, ui, tmp_path, slug):
    """The case taken to its recommendations; the same page read by a browser that does not hold the codec
    server's token (the server refuses it, as it would anyone without the identity provider's say) shows none
    of the case, only ciphertext; with the token, its current details and timer summaries are decoded."""
    from playwright.async_api import expect

    case, procedure = clearview(slug, tmp_path)
    await investigations.start(ui.client, case, procedure, task_queue=ui.task_queue)
    await settle(ui.client, slug)
    await to_recommendations(ui.client, slug, [{"id": "R1", "text": RECOMMENDATION}])
    wid = workflow_id(slug)
    await _indexed(ui.client, f'WorkflowId = "{wid}" AND InvestigationStage = "awaiting-response"')
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    sealed = await browser.new_page(viewport={"width": 1400, "height": 1000})
    sealed.set_default_timeout(15_000)
    await sealed.goto(f"{ui.url}/namespaces/default/workflows/{wid}")
    await expect(sealed.get_by_text(wid).first).to_be_visible()
    # The codec server has answered (401) once the UI shows the stored input as it is: base64 ciphertext.
    await expect(sealed.get_by_text(re.compile(r"[A-Za-z0-9+/]{200,}")).first).to_be_visible(timeout=30_000)
    text = await _page_text(sealed, wid)
    await sealed.screenshot(path=SCREENSHOTS / f"ui-{slug}-sealed.png", full_page=True)
    (SCREENSHOTS / f"ui-{slug}-sealed.txt").write_text(text)
    assert wid in text  # the right page: ids are in clear
    for word in (NAME, RECOMMENDATION, "PIPEDA-039525", "whose move"):
        assert word not in text, f"{word!r} readable without the codec server's token"
    assert not DUE.search(text), "a timer's summary readable without the codec server's token"
    # The UI says it could not decode, and shows the input as it is stored: the codec's ciphertext, in base64.
    assert "Codec Server could not connect" in text
    # (The UI may cut a long one short of its closing quote: what it shows is decoded, whole quads only.)
    blobs = re.findall(r'"([A-Za-z0-9+/]{200,}={0,2})', text)
    assert blobs, "no sealed payload shown"
    assert all(NAME.encode() not in base64.b64decode(b[: len(b) // 4 * 4]) for b in blobs)

    shown = await browser.new_page(
        viewport={"width": 1400, "height": 1000}, extra_http_headers={"Authorization": f"Bearer {ui.token}"}
    )
    shown.set_default_timeout(15_000)
    await shown.goto(f"{ui.url}/namespaces/default/workflows/{wid}")
    # The latest notice's activity summary, and a timer's: the clock on the respondent's answer.
    # Decoded once the codec server has answered every payload of the page: give a loaded machine time.
    await expect(shown.get_by_text(f"Serve report of findings on {NAME}").first).to_be_visible(timeout=30_000)
    await expect(shown.get_by_text(DUE).first).to_be_visible(timeout=30_000)
    await shown.get_by_role("tab", name="User Metadata").click()
    body = shown.frame_locator("iframe#user-metadata-current-details").locator("body")
    await expect(body).to_contain_text(re.compile(r"whose move:\s*respondent", re.IGNORECASE), timeout=30_000)
    await shown.screenshot(path=SCREENSHOTS / f"ui-{slug}-decoded.png", full_page=True)
