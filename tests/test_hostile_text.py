"""What a party writes stays text: in the terminal (`enforce show`, `timeline`, `actions`), in the notices and in
the Markdown and HTML report. Hostile strings (Rich markup, terminal escapes, Markdown structure, raw HTML,
control characters) go into every kind of text field; what comes out shows them and obeys none of them.

The report is also rendered for every shipped case file and for generated cases that hold an information
request, evidence and messages (each simulated once for the module on the time-skipping server)."""

from __future__ import annotations

import html as htmllib
import io
import json
import os
import re
import subprocess
import uuid
from datetime import datetime

import pytest
from rich.console import Console

from activities.markdown import escape, to_html, visible
from activities.render import render
from domain.case import Issue, Recipient
from enforce import investigations, simulate, watching
from enforce.paperwork import render_report, report_context
from tests.casefiles import ROOT, acme_notice, procedure, simulate_text, write_case
from tests.live import action, enforce

HOSTILE = [
    "[/]",
    "[bold red]x",
    "[link=http://evil]click[/link]",
    "[/bold] closing",
    ":pile_of_poo: emoji code",
    "\x1b[2J wiped",
    "\x1b]8;;http://evil\x1b\\ hyperlink",
    "bell \x07 rings",
    "carriage\rreturn over",
    "nul \x00 byte",
    "# ORDER: the findings are withdrawn",
    "[x](http://evil)",
    "![](http://evil/p.png)",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "&lt;b&gt; &amp; entities",
    "a | b | c",
    "`code` and ```fence```",
    "<http://evil.example/autolink>",
    "> a quote",
    "1. not a list",
    "- not an item",
    "Heading\n=======",
    "*em* and __strong__",
    "back\\slash\\",
    "\u202eright-to-left override",
]
LIVE_TAGS = re.compile(r"<(h[1-6]|a|img|script|iframe|style|blockquote|pre|code|ol|ul|em|strong)[\s>]", re.I)


def tags(html: str) -> list[str]:
    return sorted(m[1].lower() for m in LIVE_TAGS.finditer(html))


def shown(text: str) -> str:
    """How the text reads once displayed: control characters as escapes, one line."""
    return " ".join(visible(text).split())


def flat(out: str) -> str:
    """Terminal output without table borders and line breaks, for finding a cell's text in it."""
    return " ".join(re.sub(r"[│┃┏┓┗┛┡┩━─┳┻╇╈┼┬┴╭╮╰╯]", " ", out).split())


def toml(value) -> str:
    return json.dumps(value, ensure_ascii=True)


# ---------------------------------------------------------------- the escaping itself


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_escaped_markdown_renders_as_exactly_the_text_and_nothing_else(text):
    for context in ("{}", "# Title: {}", "- item {}", "| cell | {} |\n|---|---|\n| {} | x |", "1. {}"):
        page = to_html(context.replace("{}", escape(text)))
        assert tags(page) == tags(to_html(context.replace("{}", "plain"))), (context, page)
    page = to_html(escape(text))
    assert "\x1b" not in page and "\x00" not in page and "\x07" not in page
    body = re.sub(r"</?p>", "", page).strip()
    assert " ".join(htmllib.unescape(body).split()) == shown(text)


# ---------------------------------------------------------------- notices


NOTICE_FIELDS = {
    "message": ("subject", "text"),
    "order": ("terms",),
    "preliminary-report": ("summary",),
    "draft-findings": ("summary",),
    "request-for-information": ("item 1", "item 2"),
    "report-of-findings": ("findings", "recommendation R1"),
}


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("kind", list(NOTICE_FIELDS))
def test_a_notice_shows_party_text_and_takes_no_markup_from_it(kind, text):
    base = acme_notice(kind)
    context = {"message": "M1", "order": "P-1", "request": "RFI-1"} | {f: text for f in NOTICE_FIELDS[kind]}
    plain_ctx = context | {f: "plain" for f in NOTICE_FIELDS[kind]}
    hostile = base.model_copy(
        update={
            "context": context,
            "case_title": text,
            "issues": [Issue(id="i", title=text)],
            "to": Recipient(id="respondent", name=text),
        }
    )
    benign = base.model_copy(
        update={
            "context": plain_ctx,
            "case_title": "plain",
            "issues": [Issue(id="i", title="plain")],
            "to": Recipient(id="respondent", name="plain"),
        }
    )
    doc, ref = render(hostile), render(benign)
    assert tags(doc.html) == tags(ref.html), kind
    assert sum(line.startswith("#") for line in doc.markdown.splitlines()) == sum(
        line.startswith("#") for line in ref.markdown.splitlines()
    )
    assert "\x1b" not in doc.html + doc.markdown and "\x00" not in doc.html + doc.markdown
    assert shown(text) in " ".join(htmllib.unescape(re.sub(r"<[^>]+>", "", doc.html)).split())


# ---------------------------------------------------------------- the report, simulated


def hostile_case(slug: str, texts: list[str]) -> str:
    """A two-authority case whose every text field a party or a case file writes carries one of `texts`:
    an information request and its answer, evidence, a message, a voluntary measure, findings with a
    comment, recommendations refused, an order, a judicial review, a court decision, closures."""
    t = lambda i: toml(texts[i % len(texts)])  # noqa: E731
    steps = [
        ("2020-03-02", "opc", "request-information", f"items = [{t(0)}, {t(1)}]"),
        ("2020-03-10", "respondent", "provide-information", f'request_id = "RFI-1"\nsummary = {t(2)}'),
        ("2020-03-11", "opc", "record-evidence", f"description = {t(3)}\npurpose = {t(4)}"),
        ("2020-03-12", "opc", "message", f'to = ["oipc-bc"]\nsubject = {t(5)}\ntext = {t(6)}'),
        ("2020-04-01", "respondent", "record-voluntary-measure", f"description = {t(7)}"),
        ("2020-05-01", "opc", "draft-findings", f'finding = "well-founded"\nsummary = {t(8)}'),
        ("2020-05-02", "oipc-bc", "comment-on-findings", f"comments = {t(9)}"),
        ("2020-05-03", "oipc-bc", "concur", ""),
        (
            "2020-05-04",
            "opc",
            "issue-recommendations",
            f'recommendations = [{{ id = "R1", text = {t(10)} }}, {{ id = "R2", text = {t(11)} }}]',
        ),
        ("2020-05-05", "respondent", "answer-recommendations", 'answers = { R1 = "refused", R2 = "refused" }'),
        ("2020-06-01", "oipc-bc", "open-inquiry", ""),
        ("2020-07-01", "oipc-bc", "issue-order", f'order = "P20-01"\nterms = {t(12)}'),
        ("2020-07-10", "respondent", "file-judicial-review", f'authority = "oipc-bc"\ncourt = {t(13)}'),
        ("2020-09-01", "oipc-bc", "record-court-decision", f'outcome = "upheld"\ncourt = {t(14)}\ncitation = {t(15)}'),
        ("2020-10-01", "opc", "close-track", f"outcome = {t(16)}"),
        ("2020-10-02", "oipc-bc", "close-track", f"outcome = {t(17)}"),
    ]
    text = f"""slug = "{slug}"
title = {t(18)}
procedure = "ca-joint"
opened = 2020-02-21
lead = "opc"
authorities = ["opc", "oipc-bc"]

[respondent]
name = {t(19)}
kind = "organisation"

[files]
opc = {t(20)}

[[issues]]
id = "one"
title = {t(21)}

[[issues]]
id = "two"
title = {t(22)}
"""
    for on, by, name, fields in steps:
        text += f'\n[[steps]]\non = {on}\nby = "{by}"\naction = "{name}"\n{fields}\n'
    return text


BENIGN = [f"plain text number {i}" for i in range(len(HOSTILE))]
# Evidence and messages (fields 3 to 6) stay between the authorities: not in the report.
REPORTED = [i for i in range(23) if i not in (3, 4, 5, 6)]
VARIANTS = {"benign": BENIGN} | {f"hostile-{k}": HOSTILE[k:] + HOSTILE[:k] for k in (0, 7, 13, 19)}
SHIPPED = sorted(p.name for p in (ROOT / "cases").glob("*.toml"))


@pytest.fixture(scope="module")
async def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, simulate.SimulationResult]:
    """Every shipped case file and every generated variant, simulated once for this module."""
    results = {}
    for name in SHIPPED:
        original = (ROOT / "cases" / name).read_text()
        slug = re.search(r'^slug = "([^"]+)"', original, re.M)[1]
        text = original.replace(f'slug = "{slug}"', f'slug = "{slug}-{uuid.uuid4().hex[:6]}"', 1)
        results[name] = await simulate_text(text, tmp_path_factory.mktemp("shipped"))
    for name, texts in VARIANTS.items():
        results[name] = await simulate_text(
            hostile_case(f"{name}-{uuid.uuid4().hex[:6]}", texts), tmp_path_factory.mktemp(name)
        )
    return results


def _text_of(page: str) -> str:
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", SHIPPED + list(VARIANTS))
async def test_the_report_renders_for_every_case(simulated, name):
    result = simulated[name]
    md = render_report(result.state, result.events, procedure(), "md")
    page = render_report(result.state, result.events, procedure(), "html")
    assert md.startswith("# Report of findings: ") and page.startswith("<!DOCTYPE html>")
    assert "\x1b" not in md + page and "\x00" not in md + page
    if result.state.requests:
        background = md[md.index("## Background") : md.index("## Issues")]
        assert "Request for information RFI-1" in background
    # No key of the template's context is shadowed by a dict method (`r.items` was `dict.items`).
    stack = [report_context(result.state, result.events, procedure())]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            assert not set(value) & set(dir(dict)), sorted(set(value) & set(dir(dict)))
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", [n for n in VARIANTS if n != "benign"])
async def test_the_report_takes_its_structure_only_from_the_template(simulated, name):
    result, benign = simulated[name], simulated["benign"]
    md = render_report(result.state, result.events, procedure(), "md")
    page = render_report(result.state, result.events, procedure(), "html")
    ref = render_report(benign.state, benign.events, procedure(), "html")
    ref_md = render_report(benign.state, benign.events, procedure(), "md")
    assert tags(page) == tags(ref)
    assert not re.search(r"<(a|img|script)\b", page, re.I)
    heading = lambda text: [line.split(" ")[0] for line in text.splitlines() if line.startswith("#")]  # noqa: E731
    assert heading(md) == heading(ref_md)
    # Every table row has the benign report's number of cells.
    rows = lambda text: [line.count(" | ") for line in text.splitlines() if line.startswith("| ")]  # noqa: E731
    assert rows(md) == rows(ref_md)
    # What the parties wrote is there to read.
    body = _text_of(page)
    for i in REPORTED:
        assert shown(VARIANTS[name][i]) in body, (i, VARIANTS[name][i])


# ---------------------------------------------------------------- the terminal, on a live case


@pytest.fixture(scope="module")
def text_env(cli_env: dict[str, str]) -> dict[str, str]:
    """The session's `enforce` environment (a worker on the project's queue), on a terminal wide enough."""
    return {**cli_env, "COLUMNS": "400"}


@pytest.fixture(scope="module")
async def live_case(text_env, dev_env, tmp_path_factory) -> dict[str, object]:
    """A case opened from a hostile case file, evidence recorded through `enforce act` (`description=[/]`),
    then evidence, messages and a request with every hostile string; what `show`, `timeline` and `report` print."""
    slug = f"hostile-live-{uuid.uuid4().hex[:6]}"
    # Rotated so that the title is `[/]` and the respondent `[bold red]x`.
    text = hostile_case(slug, HOSTILE[8:] + HOSTILE[:8])
    path = write_case(tmp_path_factory.mktemp("live"), text, f"{slug}.toml")
    opened = await enforce(text_env, "open", str(path))
    assert opened.returncode == 0, opened.stderr
    client = dev_env.client
    await simulate.settled(client, slug, ["opc", "oipc-bc"])
    first = await enforce(
        text_env, "act", slug, "record-evidence", "--as", "opc", "-f", "description=[/]", "-f", "purpose=[bold]p"
    )
    assert first.returncode == 0, first.stderr
    await investigations.act(client, slug, action("request-information", by="opc", items=HOSTILE))
    for s in HOSTILE:
        await investigations.act(client, slug, action("record-evidence", by="opc", description=s, purpose=s))
        await investigations.act(client, slug, action("message", by="opc", to=["oipc-bc"], subject=s, text=s))
    await simulate.settled(client, slug, ["opc", "oipc-bc"])
    outputs = {}
    for name, args in {
        "show": ("show", slug),
        "show-as": ("show", slug, "--as", "opc"),
        "timeline": ("timeline", slug),
        "actions": ("actions",),
        "notices": ("notices", slug),
        "report-md": ("report", slug),
        "report-html": ("report", slug, "--format", "html"),
    }.items():
        outputs[name] = await enforce(text_env, *args)
    # What `enforce watch` draws on a terminal, from the same queries.
    view = await investigations.state(client, slug)
    events = (await investigations.events(client, slug)).events
    screen = Console(file=io.StringIO(), width=400, color_system=None)
    try:
        screen.print(watching._view(slug, view, events, "running", datetime.now()))
        outputs["watch"] = subprocess.CompletedProcess(["watch"], 0, screen.file.getvalue(), "")
    except Exception as e:  # what the user would see: the watch failing
        outputs["watch"] = subprocess.CompletedProcess(["watch"], 1, "", f"{type(e).__name__}: {e}")
    return outputs


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "command", ["show", "show-as", "timeline", "actions", "notices", "report-md", "report-html", "watch"]
)
async def test_every_command_prints_party_text_without_obeying_it(live_case, command):
    result = live_case[command]
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" or "Traceback" not in result.stderr
    for byte in ("\x1b", "\x07", "\x00", "\r", "\u202e"):
        assert byte not in result.stdout, (command, repr(byte))
    if command == "actions":  # optional fields in brackets, not eaten as markup
        assert "request_id, [summary]" in result.stdout and "[sha256], [scope]" in result.stdout
    if command in ("show", "show-as", "watch"):
        assert flat(result.stdout).startswith("case [/]" if command == "watch" else "[/]")  # the case's title
    if command in ("show", "show-as"):
        assert "respondent [bold red]x" in flat(result.stdout)
    if command == "report-html":
        assert not re.search(r"<(a|img|script)\b", result.stdout, re.I)
        assert result.stdout.count("<h1>") == 1


@pytest.mark.timeout(300)
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
async def test_show_displays_each_hostile_string_literally(live_case, text):
    out = flat(live_case["show"].stdout)
    assert shown(text) in out
    assert "[/]" in out and "[bold]p" in out  # the evidence recorded through `enforce act`
    report = _text_of(live_case["report-html"].stdout)
    assert shown(text) in report  # the request's items


@pytest.mark.timeout(300)
async def test_simulate_prints_hostile_outcomes_as_text(tmp_path, data_dir):
    """`enforce simulate` of a generated case whose tracks close with `[/]` and `[bold red]x` as outcomes."""
    texts = HOSTILE[10:] + HOSTILE[:10]
    path = write_case(tmp_path, hostile_case(f"hostile-sim-{uuid.uuid4().hex[:6]}", texts), "sim.toml")
    result = await enforce({**os.environ, "ENFORCE_DATA_DIR": str(data_dir), "COLUMNS": "400"}, "simulate", str(path))
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x00" not in result.stdout
    tracks = flat(result.stdout[result.stdout.index("Tracks") :])
    assert "[/]" in tracks and "[bold red]x" in tracks
    assert flat(result.stdout).endswith("stage: closed")
