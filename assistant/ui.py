"""The chat UI for staff: a Gradio front end over ``Assistant.stream``.

Gradio is an optional extra (``pip install 'transatlantic-assistant[ui]'``) and is imported only
inside the functions that build or serve the UI, so ``import assistant`` stays light.
"""

from __future__ import annotations

import html
import logging
import re
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .errors import AssistantError
from .settings import Settings
from .types import AREAS, PERSPECTIVES, Answer, Citation, Passage

if TYPE_CHECKING:
    import gradio as gr

    from .pipeline import Assistant

log = logging.getLogger(__name__)

ChatMessage = dict[str, Any]
"""A Gradio ``messages`` entry: ``{"role", "content", ...}``; content may be rendered HTML."""
History = list[dict[str, str]]
"""The plain conversation handed to ``Assistant.stream``: questions and answer texts only."""

TITLE = "Broader Transatlantic Security — cited answers"
EXAMPLES: tuple[str, ...] = (
    "What did Russia agree to sell China in 2015?",
    "What do Gabuev and Kashin say about the S-400 sale?",
    "Who wrote the chapter on Chinese views of joint exercises with Russia?",
    "What is the International Lunar Research Station?",
    "How do Chinese authors describe color revolutions?",
)
RELATED_EXCERPT_CHARS = 320
ERROR_FALLBACK = "Something went wrong while answering; the server log has the details. Please try again."

CSS = """
.ta-sources, .ta-related { margin-top: .75em; padding-top: .5em; font-size: .92em;
  border-top: 1px solid var(--border-color-primary); }
.ta-sources-title { font-weight: 600; margin-bottom: .25em; }
.ta-citation, .ta-reading { margin: .2em 0; }
.ta-citation > summary, .ta-reading > summary { cursor: pointer; }
.ta-tag { display: inline-block; margin-left: .35em; padding: 0 .5em; border-radius: 999px;
  font-size: .82em; background: var(--color-accent-soft); white-space: nowrap; }
.ta-detail { margin: .2em 0 0 1.2em; }
.ta-quote { margin: .3em 0 .6em 1.2em; padding-left: .7em; border-left: 3px solid var(--color-accent); }
.ta-error { color: var(--error-text-color, #b91c1c); }
"""


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


def render_citation(c: Citation) -> str:
    details = []
    if c.section:
        details.append(f"Section: {html.escape(c.section)}")
    if c.original_title:
        details.append(f"Original title: {html.escape(c.original_title)}")
    if c.kind == "appendix" and c.language:
        details.append(f"Original language: {html.escape(c.language)}")
    if c.url:
        details.append(_link(c.url, "Read the original ↗"))
    rows = "".join(f'<div class="ta-detail">{d}</div>' for d in details)
    return (
        '<details class="ta-citation">'
        f"<summary><strong>[{c.number}]</strong> {_label_html(c.label)}"
        f'<span class="ta-tag">{html.escape(perspective_label(c))}</span></summary>'
        f'{rows}<blockquote class="ta-quote">“{_block(c.quote)}”</blockquote></details>'
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


def render_answer(answer: Answer) -> str:
    """The assistant message: the answer with its ``[n]`` markers, then its sources.

    The sources live inside the message, so scrolling back (or reloading the conversation)
    keeps each answer's references next to it.
    """
    parts = [html.escape(answer.text)]
    if answer.notice:
        parts.append(f"<em>Note: {html.escape(answer.notice)}</em>")
    if answer.citations:
        items = "".join(render_citation(c) for c in answer.citations)
        parts.append(f'<div class="ta-sources"><div class="ta-sources-title">Sources</div>{items}</div>')
    if answer.related:
        items = "".join(render_related(p) for p in answer.related)
        parts.append(
            '<div class="ta-related"><div class="ta-sources-title">Related reading (not cited)</div>'
            f"{items}</div>"
        )
    return "\n\n".join(parts)


def render_error(message: str) -> str:
    return f'<span class="ta-error">⚠️ {html.escape(" ".join(message.split()))}</span>'


# --- conversation --------------------------------------------------------------------------
def author_choices(bot: Assistant) -> list[str]:
    """Every author named in the report's chapters and sources, by surname."""
    names = {name for doc in bot.index.docs.values() if doc.kind != "bio" for name in doc.authors}
    return sorted(names, key=lambda n: (n.split()[-1].lower(), n))


def _filters(area: str | None, perspective: str | None, author: str | None) -> dict[str, str] | None:
    chosen = {"area": area, "perspective": perspective, "author": author}
    return {k: v for k, v in chosen.items() if v} or None


def respond(
    bot: Assistant,
    question: str | None,
    chat: list[ChatMessage] | None,
    history: History | None,
    area: str | None = None,
    perspective: str | None = None,
    author: str | None = None,
) -> Iterator[tuple[str, list[ChatMessage], History, str]]:
    """One turn: yields ``(textbox, chat, plain history, plain-text answer)`` as the answer streams.

    Every yield is a fresh list, so a consumer may keep earlier states.
    """
    question = question or ""
    history = list(history or [])
    chat = list(chat or [])
    if question.strip():
        chat.append({"role": "user", "content": escape_user_text(question)})

    def reply(content: str) -> list[ChatMessage]:
        return [*chat, {"role": "assistant", "content": content}]

    yield "", reply(""), history, ""
    text = ""
    try:
        for piece in bot.stream(question, history=history, filters=_filters(area, perspective, author)):
            if isinstance(piece, Answer):
                history += [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": piece.text},
                ]
                yield "", reply(render_answer(piece)), history, piece.format_plain()
                return
            text += piece
            yield "", reply(html.escape(text)), history, ""
    except AssistantError as exc:
        message = str(exc)
    except Exception:
        log.exception("answering %r failed", question)
        message = ERROR_FALLBACK
    # the question goes back in the box to fix, and stays out of the history, so it cannot
    # derail the next follow-up
    yield question, reply(render_error(message)), history, ""


# --- the app -------------------------------------------------------------------------------
def _gradio() -> Any:
    try:
        import gradio
    except ImportError as exc:
        raise ImportError(
            "The chat UI needs Gradio: pip install 'transatlantic-assistant[ui]' (or make setup)."
        ) from exc
    return gradio


def build_app(bot: Assistant) -> gr.Blocks:
    """The chat UI as a ``gradio.Blocks``; every question goes through ``bot.stream``."""
    gr = _gradio()
    authors = author_choices(bot)

    def answer(
        question: str, chat: list[ChatMessage], history: History, area: str, perspective: str, author: str
    ) -> Iterator[tuple[str, list[ChatMessage], History, str]]:
        yield from respond(bot, question, chat, history, area, perspective, author)

    def clear() -> tuple[list[ChatMessage], History, str, str]:
        return [], [], "", ""

    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        history = gr.State([])
        gr.Markdown(
            f"## {TITLE}\n"
            "Questions about the CSIS report *Broader Transatlantic Security* (2022). Answers quote "
            "the report and number each claim; open a source below an answer to read the passage, "
            "with the author, publication and date.",
            elem_id="intro",
        )
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    show_label=False,
                    elem_id="chat",
                    height="64vh",
                    min_height=420,
                    buttons=[],  # no share link; copying is the plain-text box, with its references
                    latex_delimiters=[],
                    feedback_options=None,
                    placeholder="Ask a question about the report, or pick an example below.",
                )
                question = gr.Textbox(
                    label="Question",
                    show_label=False,
                    placeholder="Ask about the report, e.g. What did Russia agree to sell China in 2015?",
                    elem_id="question",
                    submit_btn=True,
                    max_lines=6,
                    autofocus=True,
                )
                gr.Examples(list(EXAMPLES), inputs=question, label="Examples")
            with gr.Column(scale=1, min_width=260):
                gr.Markdown("### Filters")
                area = gr.Dropdown(
                    [("Any area", ""), *((a[0].upper() + a[1:], a) for a in AREAS)],
                    value="",
                    label="Area",
                    elem_id="filter-area",
                )
                perspective = gr.Dropdown(
                    [("Any perspective", ""), *((p, p) for p in PERSPECTIVES)],
                    value="",
                    label="Perspective",
                    elem_id="filter-perspective",
                )
                author = gr.Dropdown(
                    [("Any author", ""), *((a, a) for a in authors)],
                    value="",
                    label="Author",
                    elem_id="filter-author",
                )
                clear_button = gr.Button("Clear conversation", elem_id="clear")
                with gr.Accordion("Copy the last answer", open=False, elem_id="copy-panel"):
                    plain = gr.Textbox(
                        label="Last answer with its references, as plain text",
                        elem_id="plain-answer",
                        lines=8,
                        max_lines=20,
                        interactive=False,
                        buttons=["copy"],
                    )

        asking = question.submit(
            answer,
            inputs=[question, chatbot, history, area, perspective, author],
            outputs=[question, chatbot, history, plain],
            api_name="chat",
        )
        # clearing stops an answer still streaming; the chatbot's own trash icon clears the plain
        # history too, or the next follow-up would resolve against a conversation no longer shown
        for event in (clear_button.click, chatbot.clear):
            event(
                clear,
                outputs=[chatbot, history, question, plain],
                cancels=[asking],
                api_visibility="private",
            )
    return app


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
    app = build_app(bot)
    app.queue(default_concurrency_limit=1)  # one answer at a time on a small CPU box
    try:
        app.launch(
            server_name=settings.ui_host,
            server_port=settings.ui_port,
            share=False,
            auth=auth,
            auth_message="Sign in with the account your administrator gave you.",
            prevent_thread_lock=True,
            show_error=False,
            quiet=True,
            css=CSS,
            theme=theme,
            mcp_server=False,
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
