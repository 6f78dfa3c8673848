"""Rendering a notice: a Jinja2 template to Markdown (the document of record), and that Markdown to HTML.

Templates are looked up from the most specific to the most general (see `template_for`). A template may set
its language at the top (`{% set lang = "fr" %}`, as the CAI's French templates do): the HTML says so.

Escaping: every value a template inserts into the Markdown (the document of record) is escaped for Markdown
by `activities.markdown` (the same as the report's), so what a party or a case file wrote (`# ORDER`, a link,
an image, `<script>`) stays text; headings and links come only from templates. The HTML is made from that
Markdown with raw HTML disabled, and the layout escapes what it inserts itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import jinja2
from markupsafe import Markup

from activities import markdown as md
from domain.notices import NoticeRequest

TEMPLATES = Path(__file__).parent / "templates"
# A procedure's own notice kinds live with it: `domain/procedures/<procedure>/<kind>.md.j2`, found under the
# same names (`<procedure>/<kind>.md.j2`) as those kept here, and extending the same `_base.md.j2`.
PROCEDURE_TEMPLATES = Path(__file__).parent.parent / "domain" / "procedures"
LAYOUT = "_layout.html.j2"

MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
}


class RenderError(Exception):
    """A notice that cannot be rendered: no template for its kind, or a template that fails."""


def longdate(d: date, lang: str = "en") -> str:
    """`14 December 2021`, `1er décembre 2021`."""
    month = MONTHS.get(lang, MONTHS["en"])[d.month - 1]
    if lang == "fr":
        return f"{'1er' if d.day == 1 else d.day} {month} {d.year}"
    return f"{d.day} {month} {d.year}"


def article(section: str) -> str:
    """A section as Quebec statutes cite it: `s.83` -> `art. 83`."""
    return "art. " + section.removeprefix("s.") if section.startswith("s.") else section


_markdown_env = md.environment(TEMPLATES)
_markdown_env.loader = jinja2.FileSystemLoader([TEMPLATES, PROCEDURE_TEMPLATES])
_markdown_env.filters["longdate"] = longdate
_markdown_env.filters["article"] = article
# The HTML layout: HTML-escaped, as Jinja escapes HTML.
_html_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=True,
)


def template_names(req: NoticeRequest) -> list[str]:
    """Per sending authority (only a notice with one sender), then per procedure, then the default."""
    names = [f"{req.procedure}/{req.senders[0].id}/{req.kind}.md.j2"] if len(req.senders) == 1 else []
    return names + [f"{req.procedure}/{req.kind}.md.j2", f"{req.kind}.md.j2"]


def template_for(req: NoticeRequest) -> jinja2.Template:
    try:
        return _markdown_env.select_template(template_names(req))
    except jinja2.TemplatesNotFound:
        raise RenderError(f"no template for notice kind {req.kind!r}") from None


@dataclass(frozen=True)
class Rendered:
    markdown: str
    html: str
    # Of the Markdown, the document of record; the HTML names it in its footer.
    sha256: str
    html_sha256: str
    title: str
    lang: str
    template: str


def _title(markdown: str, fallback: str) -> str:
    for line in markdown.splitlines():
        if line.startswith("# "):
            return md.unescape(line.removeprefix("# ").strip())
    return fallback


def render(req: NoticeRequest) -> Rendered:
    """The notice as Markdown and HTML. Deterministic: the same request gives the same bytes, so a retry files
    the same document with the same hash."""
    template = template_for(req)
    context = req.model_dump() | {"dated": req.dated, "due": req.due, "section": req.section}
    try:
        # A module, not a plain render: the template's top-level `set`s (its `lang`) come back with the text.
        module = template.make_module(context)
        markdown = str(module)
    except jinja2.TemplateError as e:
        raise RenderError(f"template {template.name} for {req.kind} failed: {e}") from None
    lang = str(getattr(module, "lang", "en"))
    title = _title(markdown, req.kind.replace("-", " ").capitalize())
    sha256 = hashlib.sha256(markdown.encode()).hexdigest()
    html = _html_env.get_template(LAYOUT).render(
        lang=lang,
        title=title,
        case_title=md.visible(req.case_title),
        notice_id=req.notice_id,
        body=Markup(md.to_html(markdown)),
        sha256=sha256,
    )
    return Rendered(
        markdown=markdown,
        html=html,
        sha256=sha256,
        html_sha256=hashlib.sha256(html.encode()).hexdigest(),
        title=title,
        lang=lang,
        template=template.name or "",
    )


def template_problems(procedure_id: str, kinds: dict[str, str]) -> list[tuple[str, str]]:
    """(field, problem) for each notice kind a procedure names (`kinds`: field -> kind) that has no template,
    or whose template does not compile: found when a case opens, not when its first notice is due."""
    problems = []
    for field, kind in kinds.items():
        try:
            _markdown_env.select_template([f"{procedure_id}/{kind}.md.j2", f"{kind}.md.j2"])
        except jinja2.TemplatesNotFound:
            problems.append((field, f"no template for notice kind {kind!r}"))
        except jinja2.TemplateSyntaxError as e:
            problems.append((field, f"the template for {kind!r} does not compile: {e.message} (line {e.lineno})"))
    return problems
