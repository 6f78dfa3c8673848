"""Party text in Markdown and HTML: the one place where what a party wrote is made to stay text.

Headings, links, images, tables and emphasis come only from templates. Everything a template inserts with
`{{ ... }}` goes through `escape` (the environments' `finalize`), so no template can forget it: every
Markdown-significant character is backslash-escaped, line starts that would open a block (`#`, `>`, `-`,
`+`, `=`, `1.`, indentation) are neutralised, and control characters are shown as `\\xNN`. A value a
template means as Markdown (a code span made by `code`) is a `Markdown` string and is left as it is.

The HTML is made from that Markdown by markdown-it with raw HTML off and linkify off, so even a Markdown
string that escaped escaping could not carry a tag.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a template or HTML is made: a terminal showing text (`visible`) needs neither
    import jinja2
    from markdown_it import MarkdownIt

# Control characters (C0 but tab and newline, DEL, C1) and the Unicode line/paragraph separators and bidi
# overrides, shown as escapes rather than passed on to whatever displays the text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Characters that are significant anywhere in a line (ASCII punctuation CommonMark lets one escape).
_INLINE = re.compile(r"([\\`*_\[\]<>&|#~])")
# What opens a block at the start of a line: a list item, a setext underline, an ordered list item.
_LINE_START = re.compile(r"^([-+=])|^(\d+)([.)])")


def visible(text: str) -> str:
    """The text with each control character replaced by its visible escape (`\\x1b`, `\\x00`, `\\u202e`);
    carriage returns become line ends."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


class Markdown(str):
    """Markdown made on purpose (by a template filter), inserted as it is."""


def _line(line: str) -> str:
    line = _INLINE.sub(r"\\\1", line.lstrip(" \t"))
    return _LINE_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", line)


def escape(value: Any) -> str:
    """Any value as Markdown that renders as exactly its text: no heading, link, image, list, quote, table cell
    break, code, emphasis, HTML or entity comes out of it."""
    if isinstance(value, Markdown):
        return value
    text = visible("" if value is None else str(value))
    return "\n".join(_line(line) for line in text.split("\n"))


def oneline(value: Any) -> str:
    """The value on one line (for a table cell, a heading, a list item): line ends become spaces."""
    return " ".join(str(value).split("\n")) if value is not None else ""


def code(value: Any) -> Markdown:
    """A code span of the value's text, whatever backticks it holds."""
    text = oneline(visible(str(value)))
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Markdown(f"{fence}{pad}{text}{pad}{fence}")


def environment(templates: Path) -> jinja2.Environment:
    """A Jinja environment for Markdown templates: every inserted value escaped (see `escape`)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=escape,
    )
    env.filters["cell"] = oneline
    env.filters["oneline"] = oneline
    env.filters["code"] = code
    return env


def unescape(markdown: str) -> str:
    """The text of one escaped line (a notice's title for a mail subject or an HTML <title>)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


@functools.cache
def _md() -> MarkdownIt:
    """CommonMark with tables; `html: False` escapes raw HTML instead of passing it through; no bare-URL links."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    md.render("x")  # markdown-it compiles its rules on the first render: done here, before any caller shares it
    return md


def to_html(text: str) -> str:
    """An HTML fragment from Markdown; raw HTML in the text is shown, never interpreted."""
    return _md().render(text)
