"""The chat UI for staff: a Gradio front end over ``Assistant.stream``.

Gradio is an optional extra (``pip install 'transatlantic-assistant[ui]'``) and is imported only
inside the functions that build or serve the UI, so ``import assistant`` stays light.
"""

from __future__ import annotations

import html
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError
from assistant.frontends.feedback import Feedback, FeedbackStore, Verdict
from assistant.frontends.ui import saved as saved_store
from assistant.frontends.ui.conversation import (
    ERROR_FALLBACK,
    ChatMessage,
    History,
    Turn,
    answer_for_program,
    author_choices,
    describe_filters,
    render_sources_table,
    respond,
    short_label,
    source_choices,
)
from assistant.report import AREAS, PERSPECTIVES

if TYPE_CHECKING:
    import gradio as gr

    from assistant.pipeline import Assistant


log = logging.getLogger(__name__)


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


MODES: tuple[tuple[str, str], ...] = (("Answer", "answer"), ("Compare perspectives", "compare"))


def import_gradio() -> Any:
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
    gr = import_gradio()
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
        from assistant.frontends.export import bibtex, cited_documents, conversation_markdown, ris

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
        choices = [(short_label(d), d.doc_id) for d in docs]
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
