"""Rendering: pure functions from the shared types to chat message content (HTML-safe)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant.errors import AssistantError
from assistant.types import Answer, Citation, Passage, Section

if TYPE_CHECKING:
    from assistant.context import Context
    from assistant.pipeline import Assistant


Contexts = Callable[[Citation], "Context | None"] | None
"""How a rendering finds a citation's place in the report (``Assistant.context``), if it does."""


RELATED_EXCERPT_CHARS = 320


# --- rendering: pure functions from the shared types to chat message content -----------------
def escape_user_text(text: str) -> str:
    """The user's text, shown literally: no HTML, no Markdown emphasis, links or code."""
    return re.sub(r"([\\`*_\[\]~|])", r"\\\1", html.escape(text))


def perspective_label(c: Citation) -> str:
    """'Russian source', 'Chinese source', 'Western analysis chapter', ..."""
    if c.kind == "appendix":
        return c.perspective.removesuffix("s") if c.perspective else f"{c.language} source"
    return {
        "chapter": "Western analysis chapter",
        "summary": "Executive summary (Western analysis)",
        "bio": "Contributor biography",
    }.get(c.kind, c.perspective)


def label_html(label: str) -> str:
    # Citation.label marks titles with *...*; render those as italics, everything else as text.
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", html.escape(label))


def link(url: str, text: str) -> str:
    if not re.match(r"https?://", url):
        return html.escape(url)
    return (
        f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">'
        f"{html.escape(text)}</a>"
    )


def html_block(text: str) -> str:
    # Rendered HTML stays on one line: a blank line would end the HTML block in Markdown.
    return html.escape(text).replace("\n", "<br>")


def render_citation(c: Citation, context: Context | None = None) -> str:
    """One quoted passage under its document: its number, section and the quote, and with a
    ``context``, the passage in its paragraph among its neighbours."""
    where = f" Section: {html.escape(c.section)}" if c.section else ""
    reports = f'<div class="ta-reports">Reporting: {label_html(c.reports)}</div>' if c.reports else ""
    return (
        f'<div class="ta-citation ta-n-{c.number}"><div class="ta-passage-head">'
        f"<strong>[{c.number}]</strong>{where}</div>{reports}"
        f'<blockquote class="ta-quote">“{html_block(c.quote)}”</blockquote>'
        f"{render_context(context) if context else ''}</div>"
    )


def render_context(ctx: Context) -> str:
    """The quote highlighted in its paragraph, with the section heading, the paragraphs around it
    and more to read on; the report's markup (links, emphasis, images) left out."""
    from assistant.text import plain

    def para(text: str, extra: str = "") -> str:
        if text.lstrip().startswith("!["):  # an image line of the report's Markdown
            return ""
        return f'<p class="ta-para{extra}">{html_block(plain(text))}</p>'

    a, b = ctx.mark
    text = ctx.paragraph
    here = (
        f'<p class="ta-para ta-here">{html_block(plain(text[:a]))} '
        f"<mark>{html_block(plain(text[a:b]))}</mark> {html_block(plain(text[b:]))}</p>"
    )
    section = f'<div class="ta-context-section">{html.escape(ctx.section)}</div>' if ctx.section else ""
    read_on = (
        '<details class="ta-read-on"><summary>Read on</summary>'
        + "".join(para(t) for t in ctx.read_on)
        + "</details>"
        if ctx.read_on
        else ""
    )
    return (
        '<details class="ta-context"><summary>In context</summary>'
        f"{section}{''.join(para(t) for t in ctx.before)}{here}{''.join(para(t) for t in ctx.after)}"
        f"{read_on}</details>"
    )


def group_citations(citations: list[Citation]) -> list[list[Citation]]:
    """The citations by document, each document once, in the order it is first cited."""
    groups: dict[str, list[Citation]] = {}
    for c in citations:
        groups.setdefault(c.doc_id or c.label, []).append(c)
    return list(groups.values())


def render_source(passages: list[Citation], context: Contexts = None) -> str:
    """One cited document, once: who wrote it and where, its perspective and link, and the
    passages quoted from it, each by its number."""
    c = passages[0]
    details = []
    if c.original_title:
        details.append(f"Original title: {html.escape(c.original_title)}")
    if c.kind == "appendix" and c.language:
        details.append(f"Original language: {html.escape(c.language)}")
    if c.url:
        details.append(link(c.url, "Read the original ↗"))
    rows = "".join(f'<div class="ta-detail">{d}</div>' for d in details)
    numbers = ", ".join(str(p.number) for p in passages)
    return (
        f'<details class="ta-source" data-doc="{html.escape(c.doc_id, quote=True)}">'
        f"<summary><strong>[{numbers}]</strong> {label_html(c.label)}"
        f'<span class="ta-tag">{html.escape(perspective_label(c))}</span></summary>'
        f"{rows}{''.join(render_citation(p, context(p) if context else None) for p in passages)}</details>"
    )


def render_sources(citations: list[Citation], context: Contexts = None) -> str:
    items = "".join(render_source(group, context) for group in group_citations(citations))
    return f'<div class="ta-sources"><div class="ta-sources-title">Sources</div>{items}</div>'


def render_copy(answer: Answer) -> str:
    """Copy this answer as plain text or as Markdown with footnotes (the texts travel hidden in
    the message, so every answer of the conversation can be copied, not only the last)."""
    from assistant.frontends.export import answer_markdown

    return (
        '<div class="ta-copy-bar">'
        '<span class="ta-copy ta-copy-plain" role="button" tabindex="0">Copy as text</span>'
        '<span class="ta-copy ta-copy-markdown" role="button" tabindex="0">Copy as Markdown</span>'
        f'<pre class="ta-hidden ta-copy-plain-source">{one_line(answer.format_plain())}</pre>'
        f'<pre class="ta-hidden ta-copy-markdown-source">{one_line(answer_markdown(answer))}</pre>'
        "</div>"
    )


def one_line(text: str) -> str:
    """Escaped, with line breaks as character references: the HTML stays one Markdown block."""
    return html.escape(text).replace("\n", "&#10;")


def with_markers(escaped: str) -> str:
    """An escaped text whose ``[n]`` markers open their passage (by click or keyboard)."""
    return re.sub(
        r"\[(\d+)\]",
        r'<span class="ta-ref ta-n-\1" role="button" tabindex="0" title="Show source \1">[\1]</span>',
        escaped,
    )


def render_related(p: Passage) -> str:
    excerpt = p.chunk.text
    if len(excerpt) > RELATED_EXCERPT_CHARS:
        excerpt = excerpt[:RELATED_EXCERPT_CHARS].rsplit(" ", 1)[0] + " …"
    where = f" — {html.escape(p.chunk.section)}" if p.chunk.section else ""
    original = f'<div class="ta-detail">{link(p.doc.url, "Read the original ↗")}</div>' if p.doc.url else ""
    return (
        f'<details class="ta-reading"><summary>{label_html(p.doc.label())}{where}</summary>'
        f'{original}<blockquote class="ta-quote">{html_block(excerpt)}</blockquote></details>'
    )


def render_perspective(section: Section, citations: list[Citation], context: Contexts = None) -> str:
    """One column of a comparison: the perspective's label, its text, and the sources it cites."""
    text_class = "ta-perspective-text ta-abstained" if section.abstained else "ta-perspective-text"
    cited = [c for c in citations if c.number in section.citations]
    return (
        f'<div class="ta-perspective"><div class="ta-perspective-title">{html.escape(section.label)}</div>'
        f'<div class="{text_class}">{with_markers(html_block(section.text))}</div>'
        + (render_sources(cited, context) if cited else "")
        + "</div>"
    )


def render_comparison(answer: Answer, context: Contexts = None) -> str:
    """A comparison answer as three columns, one a perspective, each with its own sources."""
    columns = "".join(render_perspective(s, answer.citations, context) for s in answer.sections)
    return f'<div class="ta-compare">{columns}</div>'


def render_answer(answer: Answer, context: Contexts = None) -> str:
    """The assistant message: the answer with its ``[n]`` markers, then its sources, each cited
    document once with its quoted passages under it by number.

    The sources live inside the message, so scrolling back (or reloading the conversation)
    keeps each answer's references next to it. A comparison answer shows its perspectives side
    by side, each with the sources it cites. ``context`` gives each cited passage its place in
    the report (``Assistant.context``), shown under it and opened by its ``[n]`` marker.
    """
    if answer.sections:
        parts = [render_comparison(answer, context)]
        if answer.notice:
            parts.append(f"<em>Note: {html.escape(answer.notice)}</em>")
        if answer.related:
            items = "".join(render_related(p) for p in answer.related)
            parts.append(
                '<div class="ta-related"><div class="ta-sources-title">Related reading (not cited)</div>'
                f"{items}</div>"
            )
        return "\n\n".join(parts)
    parts = [with_markers(html.escape(answer.text))]
    if answer.notice:
        parts.append(f"<em>Note: {html.escape(answer.notice)}</em>")
    if answer.citations:
        parts.append(render_sources(answer.citations, context) + render_copy(answer))
    if answer.related:
        items = "".join(render_related(p) for p in answer.related)
        parts.append(
            '<div class="ta-related"><div class="ta-sources-title">Related reading (not cited)</div>'
            f"{items}</div>"
        )
    if not answer.citations:
        parts.append(render_copy(answer))  # an abstention can be copied too
    return "\n\n".join(parts)


def contexts_of(bot: Assistant) -> Callable[[Citation], Context | None]:
    def find(citation: Citation) -> Context | None:
        try:
            return bot.context(citation)
        except AssistantError:
            return None

    return find


def render_error(message: str) -> str:
    return f'<span class="ta-error">⚠️ {html.escape(" ".join(message.split()))}</span>'
