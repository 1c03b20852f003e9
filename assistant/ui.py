"""The chat UI for staff: a Gradio front end over ``Assistant.stream``.

Gradio is an optional extra (``pip install 'transatlantic-assistant[ui]'``) and is imported only
inside the functions that build or serve the UI, so ``import assistant`` stays light.
"""

from __future__ import annotations

import html
import logging
import re
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from . import ui_saved as saved_store
from .errors import AssistantError, InvalidConversation
from .feedback import Feedback, FeedbackStore, Verdict
from .settings import Settings
from .text import canonical_name
from .types import AREAS, PERSPECTIVES, Answer, Citation, Passage, Section, SourceDoc

if TYPE_CHECKING:
    import gradio as gr

    from .context import Context
    from .pipeline import Assistant

log = logging.getLogger(__name__)

Contexts = Callable[[Citation], "Context | None"] | None
"""How a rendering finds a citation's place in the report (``Assistant.context``), if it does."""
ChatMessage = dict[str, Any]
"""A Gradio ``messages`` entry: ``{"role", "content", ...}``; content may be rendered HTML."""
History = list[dict[str, str]]
"""The plain conversation handed to ``Assistant.stream``: questions and answer texts only."""


@dataclass
class Turn:
    """One answered turn of a browser session: where its message sits in the chat, the answer,
    and what it was asked with (for feedback and exports)."""

    index: int
    answer: Answer
    filters: dict[str, str]
    history: History


TITLE = "Broader Transatlantic Security — cited answers"
BROWSER_SECRET = "transatlantic-assistant conversations"
"""Gradio encrypts what it keeps in the browser with this; a fixed one, so that saved
conversations survive a server restart (they are the user's own, in the user's own browser)."""
EXAMPLES: tuple[str, ...] = (
    "What did Russia agree to sell China in 2015?",
    "What do Gabuev and Kashin say about the S-400 sale?",
    "Who wrote the chapter on Chinese views of joint exercises with Russia?",
    "What is the International Lunar Research Station?",
    "How do Chinese authors describe color revolutions?",
    "How do Russian and Chinese writers differ on joint exercises?",
)
RELATED_EXCERPT_CHARS = 320
STREAM_WORDS = 6
"""Words of a streamed answer sent in one update."""
ERROR_FALLBACK = "Something went wrong while answering; the server log has the details. Please try again."

CSS = """
.ta-sources, .ta-related { margin-top: .75em; padding-top: .5em; font-size: .92em;
  border-top: 1px solid var(--border-color-primary); }
.ta-sources-title { font-weight: 600; margin-bottom: .25em; }
.ta-source, .ta-reading { margin: .2em 0; }
.ta-source > summary, .ta-reading > summary { cursor: pointer; }
.ta-citation { margin: .3em 0 0 1.2em; }
.ta-passage-head { font-size: .92em; }
.ta-ref { color: var(--color-accent); cursor: pointer; text-decoration: underline dotted; }
.ta-ref:focus-visible { outline: 2px solid var(--color-accent); border-radius: 3px; }
.ta-citation.ta-shown > .ta-passage-head { background: var(--color-accent-soft); border-radius: 4px; }
.ta-hidden { display: none; }
.ta-context > summary, .ta-read-on > summary { cursor: pointer; font-size: .9em; }
.ta-context-section { font-weight: 600; font-size: .9em; margin-top: .3em; }
.ta-para { margin: .35em 0; font-size: .92em; }
.ta-here mark { background: #fde68a; color: inherit; padding: 0 .1em; }
.ta-copy-bar { margin-top: .4em; font-size: .85em; }
.ta-copy { cursor: pointer; margin-right: 1em; text-decoration: underline dotted; }
.ta-copy.ta-copied::after { content: " ✓"; }
.ta-tag { display: inline-block; margin-left: .35em; padding: 0 .5em; border-radius: 999px;
  font-size: .82em; background: var(--color-accent-soft); white-space: nowrap; }
.ta-detail { margin: .2em 0 0 1.2em; }
.ta-quote { margin: .3em 0 .6em 0; padding-left: .7em; border-left: 3px solid var(--color-accent); }
.ta-error { color: var(--error-text-color, #b91c1c); }
.ta-compare { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 1.2em; }
@media (max-width: 900px) { .ta-compare { grid-template-columns: minmax(0, 1fr); } }
#chat { overflow-wrap: anywhere; }
/* a phone: the mode and filters, in their collapsible panel, above the chat */
@media (max-width: 700px) { #layout { flex-direction: column-reverse; } }
.ta-perspective-title { font-weight: 600; margin-bottom: .3em; }
.ta-abstained { font-style: italic; color: var(--body-text-color-subdued); }
.ta-source-table { width: 100%; border-collapse: collapse; font-size: .9em; }
.ta-source-table th, .ta-source-table td { text-align: left; vertical-align: top; padding: .3em .5em;
  border-bottom: 1px solid var(--border-color-primary); }
.ta-original { font-size: .9em; color: var(--body-text-color-subdued); }
.ta-source-table a { white-space: nowrap; }
"""
JS = """() => {
  // a [n] marker opens its passage under the same answer: by click, Enter or Space
  const show = (marker) => {
    const message = marker.closest('[data-testid="bot"]') || document;
    // the sanitiser keeps classes, not data attributes: the number travels as a class, ta-n-<n>
    const number = [...marker.classList].find((c) => c.startsWith('ta-n-'));
    const passage = number && message.querySelector(`.ta-citation.${number}`);
    if (!passage) return;
    passage.closest('details').open = true;
    const context = passage.querySelector('details.ta-context');
    if (context) context.open = true;
    message.querySelectorAll('.ta-citation.ta-shown').forEach((p) => p.classList.remove('ta-shown'));
    passage.classList.add('ta-shown');
    passage.scrollIntoView({block: 'nearest'});
  };
  // "Copy as text" / "Copy as Markdown" under an answer copy that answer's hidden text
  const copy = async (button) => {
    const form = button.classList.contains('ta-copy-markdown') ? 'markdown' : 'plain';
    const source = button.closest('.ta-copy-bar').querySelector(`.ta-copy-${form}-source`);
    await navigator.clipboard.writeText(source.textContent);
    button.classList.add('ta-copied');
  };
  const act = (e) => {
    const marker = e.target.closest && e.target.closest('.ta-ref');
    const button = e.target.closest && e.target.closest('.ta-copy');
    if (marker) { e.preventDefault(); show(marker); }
    if (button) { e.preventDefault(); copy(button); }
  };
  // a finished answer scrolls so that its first line is in view, not its source list
  const done = '.ta-sources, .ta-related, .ta-error, .ta-compare';
  let answered = 0;
  new MutationObserver(() => {
    const bots = document.querySelectorAll('#chat [data-testid="bot"]');
    const last = bots[bots.length - 1];
    if (!last || bots.length === answered || !last.querySelector(done)) return;
    answered = bots.length;
    const scroller = (el) => {
      for (let box = el.parentElement; box; box = box.parentElement) {
        const style = getComputedStyle(box).overflowY;
        if ((style === 'auto' || style === 'scroll') && box.scrollHeight > box.clientHeight) return box;
      }
      return null;
    };
    const toTop = () => {
      const box = scroller(last);
      if (box) box.scrollTop += last.getBoundingClientRect().top - box.getBoundingClientRect().top;
    };
    // after the chat's own scroll to the bottom, which follows each update
    [50, 250, 600].forEach((ms) => setTimeout(toTop, ms));
  }).observe(document.body, {subtree: true, childList: true});
  // on a phone the filters panel starts closed, so the chat is in view
  if (window.innerWidth < 700) {
    const open = () => {
      const header = document.querySelector('#filters-panel button');
      if (header) header.click(); else setTimeout(open, 100);
    };
    open();
  }
  document.addEventListener('click', act);
  document.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') act(e); });
}"""
MODES: tuple[tuple[str, str], ...] = (("Answer", "answer"), ("Compare perspectives", "compare"))


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


def _label_html(label: str) -> str:
    # Citation.label marks titles with *...*; render those as italics, everything else as text.
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", html.escape(label))


def _link(url: str, text: str) -> str:
    if not re.match(r"https?://", url):
        return html.escape(url)
    return (
        f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">'
        f"{html.escape(text)}</a>"
    )


def _block(text: str) -> str:
    # Rendered HTML stays on one line: a blank line would end the HTML block in Markdown.
    return html.escape(text).replace("\n", "<br>")


def render_citation(c: Citation, context: Context | None = None) -> str:
    """One quoted passage under its document: its number, section and the quote, and with a
    ``context``, the passage in its paragraph among its neighbours."""
    where = f" Section: {html.escape(c.section)}" if c.section else ""
    return (
        f'<div class="ta-citation ta-n-{c.number}"><div class="ta-passage-head">'
        f"<strong>[{c.number}]</strong>{where}</div>"
        f'<blockquote class="ta-quote">“{_block(c.quote)}”</blockquote>'
        f"{render_context(context) if context else ''}</div>"
    )


def render_context(ctx: Context) -> str:
    """The quote highlighted in its paragraph, with the section heading, the paragraphs around it
    and more to read on; the report's markup (links, emphasis, images) left out."""
    from .compose import plain

    def para(text: str, extra: str = "") -> str:
        if text.lstrip().startswith("!["):  # an image line of the report's Markdown
            return ""
        return f'<p class="ta-para{extra}">{_block(plain(text))}</p>'

    a, b = ctx.mark
    text = ctx.paragraph
    here = (
        f'<p class="ta-para ta-here">{_block(plain(text[:a]))} <mark>{_block(plain(text[a:b]))}</mark> '
        f"{_block(plain(text[b:]))}</p>"
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
        details.append(_link(c.url, "Read the original ↗"))
    rows = "".join(f'<div class="ta-detail">{d}</div>' for d in details)
    numbers = ", ".join(str(p.number) for p in passages)
    return (
        f'<details class="ta-source" data-doc="{html.escape(c.doc_id, quote=True)}">'
        f"<summary><strong>[{numbers}]</strong> {_label_html(c.label)}"
        f'<span class="ta-tag">{html.escape(perspective_label(c))}</span></summary>'
        f"{rows}{''.join(render_citation(p, context(p) if context else None) for p in passages)}</details>"
    )


def render_sources(citations: list[Citation], context: Contexts = None) -> str:
    items = "".join(render_source(group, context) for group in group_citations(citations))
    return f'<div class="ta-sources"><div class="ta-sources-title">Sources</div>{items}</div>'


def render_copy(answer: Answer) -> str:
    """Copy this answer as plain text or as Markdown with footnotes (the texts travel hidden in
    the message, so every answer of the conversation can be copied, not only the last)."""
    from .export import answer_markdown

    return (
        '<div class="ta-copy-bar">'
        '<span class="ta-copy ta-copy-plain" role="button" tabindex="0">Copy as text</span>'
        '<span class="ta-copy ta-copy-markdown" role="button" tabindex="0">Copy as Markdown</span>'
        f'<pre class="ta-hidden ta-copy-plain-source">{_one_line(answer.format_plain())}</pre>'
        f'<pre class="ta-hidden ta-copy-markdown-source">{_one_line(answer_markdown(answer))}</pre>'
        "</div>"
    )


def _one_line(text: str) -> str:
    """Escaped, with line breaks as character references: the HTML stays one Markdown block."""
    return html.escape(text).replace("\n", "&#10;")


def _with_markers(escaped: str) -> str:
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
    link = f'<div class="ta-detail">{_link(p.doc.url, "Read the original ↗")}</div>' if p.doc.url else ""
    return (
        f'<details class="ta-reading"><summary>{_label_html(p.doc.label())}{where}</summary>'
        f'{link}<blockquote class="ta-quote">{_block(excerpt)}</blockquote></details>'
    )


def render_perspective(section: Section, citations: list[Citation], context: Contexts = None) -> str:
    """One column of a comparison: the perspective's label, its text, and the sources it cites."""
    text_class = "ta-perspective-text ta-abstained" if section.abstained else "ta-perspective-text"
    cited = [c for c in citations if c.number in section.citations]
    return (
        f'<div class="ta-perspective"><div class="ta-perspective-title">{html.escape(section.label)}</div>'
        f'<div class="{text_class}">{_with_markers(_block(section.text))}</div>'
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
    parts = [_with_markers(html.escape(answer.text))]
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
    return "\n\n".join(parts)


def _contexts(bot: Assistant) -> Callable[[Citation], Context | None]:
    def find(citation: Citation) -> Context | None:
        try:
            return bot.context(citation)
        except AssistantError:
            return None

    return find


def render_error(message: str) -> str:
    return f'<span class="ta-error">⚠️ {html.escape(" ".join(message.split()))}</span>'


# --- conversation --------------------------------------------------------------------------
def author_choices(bot: Assistant) -> list[str]:
    """Every author named in the report's chapters and sources, once across the report's spelling
    variants ('Vasiliy'/'Vasily Kashin': the commoner spelling), sorted by surname."""
    spellings: dict[str, Counter[str]] = {}
    for doc in bot.index.docs.values():
        if doc.kind != "bio":
            for name in doc.authors:
                spellings.setdefault(canonical_name(name), Counter())[name] += 1
    names = [min(c, key=lambda n: (-c[n], n)) for c in spellings.values()]
    return sorted(names, key=lambda n: (canonical_name(n).split()[-1], n))


def describe_filters(
    area: str | None, perspective: str | None, author: str | None, source: str | None, labels: dict[str, str]
) -> str:
    """The banner over the chat while filters restrict the answers ('' when none do)."""
    parts = [
        f"{name}: {html.escape(value)}"
        for name, value in (
            ("Area", area),
            ("Perspective", perspective),
            ("Author", author),
            ("Source", labels.get(source or "", source)),
        )
        if value
    ]
    return "Answers use only: " + " · ".join(parts) if parts else ""


def source_choices(bot: Assistant) -> list[tuple[str, str]]:
    """(label, doc_id) of every chapter and appendix source, for choosing one to ask about."""
    return [(_short_label(d), d.doc_id) for d in bot.sources()]


def _short_label(doc: SourceDoc) -> str:
    who = doc.authors_display or doc.publication
    return f"{who} — {doc.title}" if who else doc.title


def render_sources_table(docs: list[SourceDoc]) -> str:
    """The source browser's table: every field escaped, links only to http(s) addresses."""
    if not docs:
        return '<p class="ta-abstained">No sources match these filters.</p>'
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Perspective", "Area", "Authors", "Title", "Publication", "Date", "Language", "Link")
    )
    rows = []
    for d in docs:
        title = html.escape(f"{d.title}: {d.subtitle}" if d.subtitle else d.title)
        if d.original_title:
            title += f'<div class="ta-original">{html.escape(d.original_title)}</div>'
        perspective = d.perspective + (f" (on {d.focus})" if d.kind == "chapter" and d.focus else "")
        cells = [
            html.escape(perspective),
            html.escape(d.area),
            html.escape(d.authors_display or "(no author)"),
            title,
            html.escape(d.publication or ("CSIS report" if d.kind == "chapter" else "")),
            html.escape(d.date),
            html.escape(d.language),
            _link(d.url, "original ↗") if d.url else "",
        ]
        rows.append(
            f'<tr data-doc="{html.escape(d.doc_id, quote=True)}">'
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    return (
        f'<table class="ta-source-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _filters(
    area: str | None, perspective: str | None, author: str | None, source: str | None = None
) -> dict[str, str] | None:
    chosen = {"area": area, "perspective": perspective, "author": author, "doc_id": source}
    return {k: v for k, v in chosen.items() if v} or None


def _turn(
    bot: Assistant,
    question: str,
    history: History,
    filters: dict[str, str] | None,
    mode: str | None,
) -> Iterator[str | Answer]:
    """The answer's pieces: streamed from ``bot.stream``, or a whole comparison in compare mode."""
    if mode != "compare":
        yield from bot.stream(question, history=history, filters=filters)
        return
    # the comparison chooses the perspectives itself; only the area filter applies
    yield bot.compare(question, area=(filters or {}).get("area"), history=history)


def respond(
    bot: Assistant,
    question: str | None,
    chat: list[ChatMessage] | None,
    history: History | None,
    area: str | None = None,
    perspective: str | None = None,
    author: str | None = None,
    source: str | None = None,
    mode: str | None = None,
    record: list[Turn] | None = None,
) -> Iterator[tuple[str, list[ChatMessage], History, str]]:
    """One turn: yields ``(textbox, chat, plain history, plain-text answer)`` as the answer streams.

    ``record``, when given, gets the finished turn appended (its message's place in the chat and
    the ``Answer``), for feedback and exports.

    ``source`` restricts the answer to one document (a ``doc_id``); ``mode="compare"`` answers
    with the three perspectives side by side (with no question, about the chosen area). Every
    yield is a fresh list, so a consumer may keep earlier states.
    """
    question = question or ""
    history = list(history or [])
    chat = list(chat or [])
    if len(question.strip()) > bot.settings.max_question_chars:  # refused before any work
        try:
            bot.validate(question)
        except AssistantError as exc:
            yield question, [*chat, {"role": "assistant", "content": render_error(str(exc))}], history, ""
            return
    if mode == "compare" and not question.strip() and area in AREAS:
        from .compare import area_question

        question = area_question(area)
    if question.strip():
        chat.append({"role": "user", "content": escape_user_text(question)})

    def reply(content: str) -> list[ChatMessage]:
        return [*chat, {"role": "assistant", "content": content}]

    yield "", reply(""), history, ""
    text = ""
    pending, last = 0, time.monotonic()
    try:
        for piece in _turn(bot, question, history, _filters(area, perspective, author, source), mode):
            if isinstance(piece, Answer):
                if record is not None:
                    chosen = _filters(area, perspective, author, source) or {}
                    record.append(Turn(len(chat), piece, chosen, list(history)))
                history += [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": piece.text},
                ]
                yield "", reply(render_answer(piece, _contexts(bot))), history, piece.format_plain()
                return
            text += piece
            pending += 1
            # a few words an update: every update re-sends the message, so one a word costs the
            # server more than the answer itself; a slow model still shows text every 0.1 s
            if pending >= STREAM_WORDS or time.monotonic() - last >= 0.1:
                pending, last = 0, time.monotonic()
                yield "", reply(html.escape(text)), history, ""
    except AssistantError as exc:
        message = str(exc)
    except Exception:
        log.exception("answering %r failed", question)
        message = ERROR_FALLBACK
    # the question goes back in the box to fix, and stays out of the history, so it cannot
    # derail the next follow-up
    yield question, reply(render_error(message)), history, ""


# --- the stateless API for programs ----------------------------------------------------------
class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = "text"
    text: str


class _Message(BaseModel):
    """One message of a conversation in the messages format (extra keys such as metadata ignored)."""

    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[_Part]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content if part.type == "text")


def conversation_history(conversation: object) -> History:
    """A conversation in the messages format as the plain history ``Assistant.stream`` takes;
    ``InvalidConversation`` naming the first message that is not ``{"role", "content"}``."""
    if conversation is None:
        return []
    if not isinstance(conversation, list):
        raise InvalidConversation(
            "The conversation must be a list of messages such as "
            "[{'role': 'user', 'content': '…'}, {'role': 'assistant', 'content': '…'}]."
        )
    history: History = []
    for n, raw in enumerate(conversation, 1):
        try:
            message = _Message.model_validate(raw)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "the message"
            raise InvalidConversation(
                f"Message {n} of the conversation is malformed ({where}: {error['msg'].lower()}); each "
                "message is {'role': 'user' or 'assistant', 'content': text}."
            ) from None
        if message.role not in ("user", "assistant"):
            raise InvalidConversation(
                f"Message {n} of the conversation has the role {message.role[:20]!r}; "
                "use 'user' or 'assistant'."
            )
        history.append({"role": message.role, "content": message.text()})
    return history


def answer_for_program(
    bot: Assistant,
    question: str,
    conversation: object = None,
    filters: dict[str, Any] | None = None,
    mode: str = "answer",
) -> dict[str, Any]:
    """The ``/ask`` endpoint: ``Answer.to_dict()`` plus ``plain`` (its plain-text form), answered
    from exactly the conversation and filters given; nothing is kept between calls."""
    if mode not in ("answer", "compare"):
        raise InvalidConversation(f"Unknown mode {str(mode)[:20]!r}; use 'answer' or 'compare'.")
    history = conversation_history(conversation)
    if mode == "compare":
        area = (filters or {}).get("area") if isinstance(filters, dict) else None
        answer = bot.compare(question, area=area, history=history)
    else:
        answer = bot.ask(question, history=history, filters=filters)
    return {**answer.to_dict(), "plain": answer.format_plain()}


# --- the app -------------------------------------------------------------------------------
def _gradio() -> Any:
    try:
        import gradio
    except ImportError as exc:
        raise ImportError(
            "The chat UI needs Gradio: pip install 'transatlantic-assistant[ui]' (or make setup)."
        ) from exc
    return gradio


def build_app(bot: Assistant, *, login: bool = False) -> gr.Blocks:
    """The chat UI as a ``gradio.Blocks``; every question goes through ``bot.stream``. With
    ``login``, a sign-out link."""
    gr = _gradio()
    authors = author_choices(bot)
    sources = source_choices(bot)
    areas = [(a[0].upper() + a[1:], a) for a in AREAS]

    def choice(label: str, anything: str, options: list[tuple[str, str]], elem_id: str, **kw: Any) -> Any:
        """A filter: its options after an "anything" choice whose value is ''."""
        return gr.Dropdown([(anything, ""), *options], value="", label=label, elem_id=elem_id, **kw)

    def answer(
        question: str,
        chat: list[ChatMessage],
        history: History,
        turns: list[Turn],
        area: str,
        perspective: str,
        author: str,
        source: str = "",
        mode: str = "answer",
    ) -> Iterator[tuple[str, list[ChatMessage], History, str, list[Turn]]]:
        turns = list(turns or [])
        for state in respond(bot, question, chat, history, area, perspective, author, source, mode, turns):
            yield (*state, turns)

    store: list[FeedbackStore] = []

    def save(feedback: Feedback) -> str:
        if not store:
            store.append(FeedbackStore(bot.settings))
        try:
            store[0].record(feedback)
        except AssistantError as exc:
            log.warning("Feedback not saved: %s", exc)
            return f"⚠️ {html.escape(str(exc))}"
        return "Thank you: your feedback is saved."

    def liked(data: gr.LikeData, turns: list[Turn]) -> None:
        index = data.index[0] if isinstance(data.index, list | tuple) else data.index
        turn = next((t for t in turns or [] if t.index == index), None)
        if turn is None or data.liked is None or data.liked == "":
            return  # the thumb was taken back, or the message is not an answer
        verdict: Verdict = "up" if data.liked is True or data.liked == "Like" else "down"
        gr.Info(save(Feedback.of(verdict, turn.answer, filters=turn.filters, history=turn.history)))

    liked.__annotations__["data"] = gr.LikeData  # so Gradio passes the event's data

    def wrong_choices(turns: list[Turn]) -> Any:
        last = turns[-1].answer if turns else None
        options = (
            [(f"[{c.number}] {c.label.replace('*', '')}", c.number) for c in last.citations] if last else []
        )
        return gr.CheckboxGroup(choices=options, value=[])

    def report(wrong: list[int], comment: str, turns: list[Turn]) -> tuple[str, Any, str]:
        if not turns:
            return "Ask a question first; feedback is about an answer.", gr.CheckboxGroup(), comment
        turn = turns[-1]
        verdict: Verdict = "citation" if wrong else "down"
        message = save(
            Feedback.of(
                verdict,
                turn.answer,
                wrong_citations=wrong or [],
                comment=comment or "",
                filters=turn.filters,
                history=turn.history,
            )
        )
        return message, gr.CheckboxGroup(value=[]), ""

    def exports(turns: list[Turn]) -> Any:
        from .export import bibtex, cited_documents, conversation_markdown, ris

        if not turns:
            return gr.File(value=None)
        answers = [t.answer for t in turns]
        folder = Path(tempfile.mkdtemp(prefix="conversation-"))
        documents = cited_documents(answers)
        files = {
            "conversation.md": conversation_markdown(answers, TITLE),
            "sources.bib": bibtex(documents),
            "sources.ris": ris(documents),
        }
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        return gr.File(value=[str(folder / name) for name in files])

    def browse(area: str, language: str, kind: str, author: str) -> tuple[str, Any]:
        docs = bot.sources(area=area, language=language, kind=kind, author=author)
        choices = [(_short_label(d), d.doc_id) for d in docs]
        return render_sources_table(docs), gr.Dropdown(
            choices=choices, value=choices[0][1] if choices else None
        )

    def ask_about(doc_id: str | None) -> tuple[str, str, Any]:
        # restricting to one document compares nothing; closing the panel brings the chat back
        return doc_id or "", "answer", gr.Accordion(open=False)

    def clear(store: Any) -> tuple[list[ChatMessage], History, str, str, list[Turn], str, Any, Any]:
        """A new conversation; the one before stays saved in the browser."""
        kept = dict(store or saved_store.empty(), current="")
        return [], [], "", "", [], "", kept, gr.Dropdown(choices=saved_store.choices(kept), value=None)

    def remember(
        store: Any,
        conversation_id: str,
        chat: list[ChatMessage],
        plain_history: History,
        done: list[Turn],
        area: str,
        perspective: str,
        author: str,
        source: str,
    ) -> tuple[Any, str, Any]:
        records = [saved_store.answer_record(t.index, t.answer, t.filters, t.history) for t in done or []]
        filters = {"area": area, "perspective": perspective, "author": author, "source": source}
        store, conversation_id = saved_store.keep(
            store, conversation_id, chat, plain_history, records, filters
        )
        return store, conversation_id, gr.Dropdown(choices=saved_store.choices(store), value=conversation_id)

    def reopen(store: Any, conversation_id: str | None = None) -> tuple[Any, ...]:
        """A saved conversation back in the chat, with its filters (the current one on a reload)."""
        found = saved_store.find(store, conversation_id) if conversation_id else saved_store.current(store)
        listed = gr.Dropdown(choices=saved_store.choices(store), value=found["id"] if found else None)
        if found is None:
            return ([], [], [], "", "", "", "", "", store, listed)
        restored = [
            Turn(t["index"], saved_store.answer_from(t["answer"]), t["filters"], t["history"])
            for t in found.get("turns", [])
        ]
        f = found["filters"]
        store = dict(store, current=found["id"])
        return (
            found["chat"],
            found["history"],
            restored,
            f["area"],
            f["perspective"],
            f["author"],
            f["source"],
            found["id"],
            store,
            listed,
        )

    def forget(store: Any, conversation_id: str | None, shown: str) -> tuple[Any, ...]:
        store = saved_store.delete(store, conversation_id or "")
        listed = gr.Dropdown(choices=saved_store.choices(store), value=None)
        if conversation_id and conversation_id == shown:  # the conversation on screen went: start over
            return ([], [], [], "", store, listed)
        return (gr.skip(), gr.skip(), gr.skip(), shown, store, listed)

    source_labels = dict((doc_id, label) for label, doc_id in sources)

    def banner(area: str, perspective: str, author: str, source: str) -> Any:
        text = describe_filters(area, perspective, author, source, source_labels)
        return gr.Row(visible=bool(text)), text

    def no_filters() -> tuple[str, str, str, str]:
        return "", "", "", ""

    def ask(
        question: str,
        conversation: list[dict[str, Any]] | None = None,
        filters: dict[str, str] | None = None,
        mode: str = "answer",
    ) -> dict[str, Any]:
        """Answer a question from exactly the conversation given (no state is kept between calls).

        conversation: the turns so far in the messages format, [{"role": "user", "content": "…"},
        {"role": "assistant", "content": "…"}, …]; follow-ups resolve against it. filters: any of
        area, language, kind, author, perspective, doc_id. mode: "answer" or "compare". Returns the
        answer's text, its numbered citations (authors, title, publication, date, quote, …),
        whether it abstained, and "plain", the whole answer with its sources as plain text.
        """
        try:
            return answer_for_program(bot, question, conversation, filters, mode)
        except AssistantError as exc:
            raise gr.Error(" ".join(str(exc).split()), print_exception=False) from None
        except Exception:
            log.exception("answering %r through the API failed", str(question)[:200])
            raise gr.Error(ERROR_FALLBACK, print_exception=False) from None

    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        history = gr.State([])
        turns = gr.State([])
        conversation = gr.State("")
        saved = gr.BrowserState(
            saved_store.empty(), storage_key="transatlantic-conversations", secret=BROWSER_SECRET
        )
        gr.Markdown(
            f"## {TITLE}\n"
            "Questions about the CSIS report *Broader Transatlantic Security* (2022). Answers quote "
            "the report and number each claim; open a source below an answer to read the passage, "
            "with the author, publication and date.",
            elem_id="intro",
        )
        with gr.Row(elem_id="layout"):
            with gr.Column(scale=3, min_width=300):
                with gr.Row(visible=False, elem_id="filter-banner", equal_height=True) as banner_row:
                    banner_text = gr.Markdown("", elem_id="filter-banner-text")
                    clear_filters = gr.Button("Clear filters", size="sm", scale=0, elem_id="clear-filters")
                chatbot = gr.Chatbot(
                    label="Conversation",
                    show_label=False,
                    elem_id="chat",
                    height="64vh",
                    min_height=420,
                    buttons=[],  # no share link; each answer has its own copy links
                    latex_delimiters=[],
                    feedback_options=("Like", "Dislike"),
                    placeholder="Ask a question about the report, or pick an example below.",
                )
                question = gr.Textbox(
                    label="Question",
                    show_label=False,
                    placeholder="Ask about the report, e.g. What did Russia agree to sell China in 2015?",
                    elem_id="question",
                    submit_btn=True,
                    max_lines=6,
                    max_length=bot.settings.max_question_chars,  # the browser stops typing there
                    autofocus=True,
                )
                examples = gr.Examples(list(EXAMPLES), inputs=question, label="Examples")
            with gr.Column(scale=1, min_width=260):
                with gr.Accordion("Mode and filters", open=True, elem_id="filters-panel"):
                    mode = gr.Radio(
                        [*MODES],
                        value="answer",
                        label="Mode",
                        info="Compare perspectives: Russian sources, Chinese sources and Western analysis "
                        "side by side (of the filters, only the area applies).",
                        elem_id="mode",
                    )
                    area = choice("Area", "Any area", areas, "filter-area")
                    perspective = choice(
                        "Perspective", "Any perspective", [(p, p) for p in PERSPECTIVES], "filter-perspective"
                    )
                    author = choice("Author", "Any author", [(a, a) for a in authors], "filter-author")
                    source = choice(
                        "Source",
                        "Any source",
                        sources,
                        "filter-source",
                        info="Ask about one chapter or translated source (see Browse the sources).",
                    )
                clear_button = gr.Button("New conversation", elem_id="clear")
                with gr.Accordion("Saved conversations", open=False, elem_id="saved-panel"):
                    saved_list = gr.Dropdown([], value=None, label="In this browser", elem_id="saved-list")
                    with gr.Row():
                        open_saved = gr.Button("Open", size="sm", elem_id="saved-open")
                        delete_saved = gr.Button("Delete", size="sm", variant="stop", elem_id="saved-delete")
                if login:
                    gr.Button("Sign out", link="/logout", size="sm", elem_id="logout")
                with gr.Accordion("Feedback on the last answer", open=False, elem_id="feedback-panel"):
                    wrong = gr.CheckboxGroup([], label="Sources that are wrong", elem_id="feedback-wrong")
                    comment = gr.Textbox(
                        label="Comment (optional)",
                        lines=2,
                        max_lines=6,
                        max_length=2000,
                        elem_id="feedback-comment",
                    )
                    send = gr.Button("Send feedback", size="sm", elem_id="feedback-send")
                    thanks = gr.Markdown("", elem_id="feedback-status")
                with gr.Accordion("Export the conversation", open=False, elem_id="export-panel"):
                    export_button = gr.Button("Markdown, BibTeX and RIS", size="sm", elem_id="export")
                    exported = gr.File(
                        label="Files", file_count="multiple", interactive=False, elem_id="exported"
                    )
                with gr.Accordion("Copy the last answer", open=False, elem_id="copy-panel"):
                    plain = gr.Textbox(
                        label="Last answer with its references, as plain text",
                        elem_id="plain-answer",
                        lines=8,
                        max_lines=20,
                        interactive=False,
                        buttons=["copy"],
                    )

        with gr.Accordion("Browse the sources", open=False, elem_id="sources-panel") as panel:
            gr.Markdown(
                "The report's eight chapters by Western analysts and its twenty translated Russian and "
                "Chinese sources. Choose one to ask questions answered from it alone."
            )
            with gr.Row():
                browse_area = choice("Area", "Any area", areas, "browse-area")
                browse_language = choice(
                    "Language",
                    "Any language",
                    [(lang, lang) for lang in ("Russian", "Chinese", "English")],
                    "browse-language",
                )
                browse_kind = choice(
                    "Kind",
                    "Chapters and sources",
                    [("Chapters", "chapter"), ("Appendix sources", "appendix")],
                    "browse-kind",
                )
                browse_author = choice("Author", "Any author", [(a, a) for a in authors], "browse-author")
            table = gr.HTML(render_sources_table(bot.sources()), elem_id="source-table")
            with gr.Row():
                chosen = gr.Dropdown(
                    sources, value=sources[0][1] if sources else None, label="Source", elem_id="browse-source"
                )
                ask_button = gr.Button("Ask about this source", elem_id="ask-source")
        browsing = [browse_area, browse_language, browse_kind, browse_author]
        for control in browsing:
            control.change(browse, inputs=browsing, outputs=[table, chosen], api_visibility="private")
        focus = "() => { document.querySelector('#question textarea')?.focus(); }"
        ask_button.click(
            ask_about, inputs=[chosen], outputs=[source, mode, panel], api_visibility="private"
        ).then(None, js=focus)
        filters = [area, perspective, author, source]
        for control in filters:
            control.change(
                banner, inputs=filters, outputs=[banner_row, banner_text], api_visibility="private"
            )
        clear_filters.click(no_filters, outputs=filters, api_visibility="private").then(None, js=focus)

        turn = {
            "fn": answer,
            "inputs": [question, chatbot, history, turns, area, perspective, author, source, mode],
            "outputs": [question, chatbot, history, plain, turns],
            "api_visibility": "private",  # its conversation is the session's; programs use /ask
        }
        asking = question.submit(**turn)
        chip = examples.load_input_event.then(**turn)  # an example is asked, not only typed in
        private = {"api_visibility": "private"}
        for event in (asking, chip):
            event.then(wrong_choices, inputs=[turns], outputs=[wrong], **private).then(
                remember,
                inputs=[saved, conversation, chatbot, history, turns, area, perspective, author, source],
                outputs=[saved, conversation, saved_list],
                **private,
            )
        restored = [
            chatbot,
            history,
            turns,
            area,
            perspective,
            author,
            source,
            conversation,
            saved,
            saved_list,
        ]
        app.load(reopen, inputs=[saved], outputs=restored, **private)
        open_saved.click(reopen, inputs=[saved, saved_list], outputs=restored, **private)
        delete_saved.click(
            forget,
            inputs=[saved, saved_list, conversation],
            outputs=[chatbot, history, turns, conversation, saved, saved_list],
            **private,
        )
        chatbot.like(liked, inputs=[turns], api_visibility="private")
        send.click(
            report, inputs=[wrong, comment, turns], outputs=[thanks, wrong, comment], api_visibility="private"
        )
        export_button.click(exports, inputs=[turns], outputs=[exported], api_visibility="private")
        gr.api(ask, api_name="ask")
        # clearing stops an answer still streaming; the chatbot's own trash icon clears the plain
        # history too, or the next follow-up would resolve against a conversation no longer shown
        for event in (clear_button.click, chatbot.clear):
            event(
                clear,
                inputs=[saved],
                outputs=[chatbot, history, question, plain, turns, conversation, saved, saved_list],
                cancels=[asking, chip],
                api_visibility="private",
            )
    return app


def _guard(settings: Settings, *, login: bool) -> Any:
    from starlette.middleware import Middleware

    from .ui_guard import Guard, LoginLimiter

    return Middleware(Guard, login=login, max_body=settings.ui_max_request_bytes, limiter=LoginLimiter())


def serve(settings: Settings | None = None, bot: Assistant | None = None, *, block: bool = True) -> gr.Blocks:
    """Start the chat UI on ``settings.ui_host:ui_port``; never a public share link.

    A login is required when both ``ui_user`` and ``ui_password`` are set. With ``block=False`` the
    server runs in a background thread and the caller stops it with ``app.close()``.
    """
    settings = settings or Settings()
    gr = _gradio()
    if bot is None:
        from .pipeline import Assistant

        bot = Assistant(settings).load(progress=True)
    user, password = settings.ui_user, settings.ui_password.get_secret_value()
    auth = (user, password) if user and password else None
    if bool(user) != bool(password):
        log.warning("Login disabled: set both ASSISTANT_UI_USER and ASSISTANT_UI_PASSWORD to require one.")
    if auth is None and settings.ui_host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("The chat UI is reachable from the network on %s without a login.", settings.ui_host)
    # Gradio's own per-endpoint timing summary calls pandas APIs that pandas 3 deprecates
    warnings.filterwarnings("ignore", module=r"gradio\.queueing")
    # Gradio ships a near-empty Source Sans Pro SemiBold, so headings fell back glyph by glyph to
    # another font; registering the full Bold instead gives bold text one face.
    font = gr.themes.LocalFont("Source Sans Pro", weights=(400, 700))
    theme = gr.themes.Default(font=[font, "ui-sans-serif", "system-ui", "sans-serif"])
    app = build_app(bot, login=auth is not None)
    # Assistant.ask is thread-safe (the embedding model takes one question at a time; Chroma and
    # the rest are read-only), so a few answers overlap instead of queueing behind each other
    app.queue(default_concurrency_limit=max(1, settings.ui_concurrency))
    try:
        app.launch(
            server_name=settings.ui_host,
            server_port=settings.ui_port,
            share=False,
            auth=auth,
            auth_message=f"{TITLE}. Sign in with the account your administrator gave you.",
            prevent_thread_lock=True,
            show_error=False,
            quiet=True,
            css=CSS,
            js=JS,
            theme=theme,
            mcp_server=False,
            app_kwargs={"middleware": [_guard(settings, login=auth is not None)]},
        )
    except OSError as exc:
        raise AssistantError(
            f"Cannot serve the chat UI on {settings.ui_host}:{settings.ui_port}: the port is in use or "
            "the address is not available here. Choose another with --host/--port (ASSISTANT_UI_HOST/PORT)."
        ) from exc
    print(f"Chat UI at {app.local_url}{' (login required)' if auth else ''}; Ctrl-C stops it.", flush=True)
    if block:
        app.block_thread()
    return app
