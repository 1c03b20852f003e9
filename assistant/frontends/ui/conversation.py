"""One chat turn in the UI: the question answered (or compared) with filters, streamed into
the conversation; and the stateless ``/ask`` API for programs."""

from __future__ import annotations

import html
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from assistant.conversation import Exchange
from assistant.errors import AssistantError, InvalidConversation
from assistant.frontends.ui.render import contexts_of, escape_user_text, link, render_answer, render_error
from assistant.report import AREAS
from assistant.text import canonical_name
from assistant.types import Answer, SourceDoc

if TYPE_CHECKING:
    from assistant.pipeline import Assistant

log = logging.getLogger(__name__)

ChatMessage = dict[str, Any]
"""A Gradio ``messages`` entry: ``{"role", "content", ...}``; content may be rendered HTML."""


History = list[dict[str, Any]]
"""The plain conversation handed to ``Assistant.stream``: questions and answer texts only."""


@dataclass
class Turn:
    """One answered turn of a browser session: where its message sits in the chat, the answer,
    and what it was asked with (for feedback and exports)."""

    index: int
    answer: Answer
    filters: dict[str, str]
    history: History


STREAM_WORDS = 6
"""Words of a streamed answer sent in one update."""


ERROR_FALLBACK = "Something went wrong while answering; the server log has the details. Please try again."


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
    return [(short_label(d), d.doc_id) for d in bot.sources()]


def short_label(doc: SourceDoc) -> str:
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
            link(d.url, "original ↗") if d.url else "",
        ]
        rows.append(
            f'<tr data-doc="{html.escape(d.doc_id, quote=True)}">'
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    return (
        f'<table class="ta-source-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def chosen_filters(
    area: str | None, perspective: str | None, author: str | None, source: str | None = None
) -> dict[str, str] | None:
    chosen = {"area": area, "perspective": perspective, "author": author, "doc_id": source}
    return {k: v for k, v in chosen.items() if v} or None


def answer_turn(
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
        from assistant.answer.compare import area_question

        question = area_question(area)
    if question.strip():
        chat.append({"role": "user", "content": escape_user_text(question)})

    def reply(content: str) -> list[ChatMessage]:
        return [*chat, {"role": "assistant", "content": content}]

    yield "", reply(""), history, ""
    text = ""
    pending, last = 0, time.monotonic()
    try:
        for piece in answer_turn(
            bot, question, history, chosen_filters(area, perspective, author, source), mode
        ):
            if isinstance(piece, Answer):
                if record is not None:
                    chosen = chosen_filters(area, perspective, author, source) or {}
                    record.append(Turn(len(chat), piece, chosen, list(history)))
                history += Exchange(question, piece).messages()  # the answer with its cited documents
                yield "", reply(render_answer(piece, contexts_of(bot))), history, piece.format_plain()
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
    sources: list[str] | None = None
    """An answer's cited document ids, as ``Conversation.history`` gives them (optional)."""

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
        entry: dict[str, Any] = {"role": message.role, "content": message.text()}
        if message.sources:
            entry["sources"] = message.sources
        history.append(entry)
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
