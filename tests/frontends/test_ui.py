"""The chat UI: rendering, the conversation step, and the real app driven by a browser and a client."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.frontends.ui.app import TITLE
from assistant.frontends.ui.conversation import respond
from assistant.frontends.ui.render import (
    contexts_of,
    escape_user_text,
    perspective_label,
    render_answer,
    render_error,
)
from assistant.settings import Settings
from assistant.types import Answer, Chunk, Citation, Passage, SourceDoc
from tests.samples import sample_citation
from tests.ui_browser import (
    BOT,
    DONE,
    USER,
    ask,
    assistant_serve,
    choose,
    clear,
    free_port,
    launch_browser,
    open_app,
    toggle_sources,
    wait_until_up,
)

pytestmark = pytest.mark.filterwarnings("ignore:::gradio.queueing")  # gradio vs pandas 3, not ours

S400 = "What do Gabuev and Kashin say about the S-400 sale?"


def _citation(**overrides: Any) -> Citation:
    return sample_citation(**overrides)


# --- rendering --------------------------------------------------------------------------------
def test_importing_the_ui_module_does_not_load_gradio() -> None:
    code = "import sys, assistant.frontends.ui.app; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_user_text_is_shown_literally() -> None:
    assert escape_user_text("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert (
        escape_user_text('"><img src=x onerror=alert(2)>') == "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"
    )
    assert escape_user_text("*bold* [link](x) `code`") == r"\*bold\* \[link\](x) \`code\`"


def test_answer_renders_markers_and_every_source_field() -> None:
    answer = Answer(question="q", text="Russia agreed to sell the S-400. [1]", citations=[_citation()])
    out = render_answer(answer)
    assert out.startswith(
        'Russia agreed to sell the S-400. <span class="ta-ref ta-n-1" role="button" tabindex="0"'
    )
    assert '<details class="ta-source" data-doc="a1">' in out
    assert "<summary><strong>[1]</strong> Alexander Gabuev and Vasily Kashin" in out
    assert "<em>Armed Friendship</em>, Carnegie Moscow Center, November 2, 2017" in out
    assert '<span class="ta-tag">Russian source</span>' in out
    assert "Section: Excerpts" in out and "Original title: Вооруженная дружба" in out
    assert "Original language: Russian" in out
    assert '<a href="https://carnegieendowment.org/files/CP_Gabuev_Kashin_web.pdf" target="_blank"' in out
    assert '<blockquote class="ta-quote">“Russia agreed to sell the S-400.”</blockquote>' in out
    assert "\n" not in out.split("\n\n", 1)[1]  # the HTML block stays one Markdown block


def test_each_cited_document_is_listed_once_with_its_passages() -> None:
    same = {"doc_id": "app-1"}
    citations = [
        _citation(number=1, quote="First passage.", **same),
        _citation(number=2, quote="Other.", doc_id="ch2", label="Paul Schwartz, *Exercises*"),
        _citation(number=3, quote="Second passage.", section="Conclusion", **same),
    ]
    out = render_answer(Answer(question="q", text="A [1] B [2] C [3]", citations=citations))
    assert out.count('class="ta-source"') == 2 and out.count('class="ta-citation ta-n-') == 3
    first = out.split('<details class="ta-source"')[1]
    assert "<summary><strong>[1, 3]</strong> Alexander Gabuev and Vasily Kashin" in first
    assert first.index("First passage.") < first.index("Second passage.") and "Section: Conclusion" in first
    assert out.count("Read the original") == 2  # once a document, not once a passage


def test_filter_banner_names_what_restricts_the_answers() -> None:
    from assistant.frontends.ui.conversation import describe_filters

    labels = {"ch6": "Marc Julienne — China-Russia Cooperation in Space"}
    assert describe_filters("", "", "", "", labels) == ""
    assert describe_filters("space and cyber", None, "", "ch6", labels) == (
        "Answers use only: Area: space and cyber · Source: Marc Julienne — China-Russia Cooperation in Space"
    )


def test_authors_are_listed_once_across_spellings_by_surname(bot) -> None:  # type: ignore[no-untyped-def]
    from assistant.frontends.ui.conversation import author_choices
    from assistant.text import canonical_name

    names = author_choices(bot)
    assert len({canonical_name(n) for n in names}) == len(names)
    assert sum("Kashin" in n for n in names) == 1
    surnames = [canonical_name(n).split()[-1] for n in names]
    assert surnames == sorted(surnames)


def test_everything_rendered_in_html_is_escaped() -> None:
    evil = _citation(
        quote='He said "<script>alert(1)</script>" & left.',
        label="<img src=x onerror=alert(1)>, *Title <b>*",
        section="<i>s</i>",
        url="javascript:alert(1)",
    )
    out = render_answer(Answer(question="q", text="<b>x</b> [1]", citations=[evil], notice="<u>n</u>"))
    assert "<script>" not in out and "<img" not in out and "<b>" not in out and "<u>" not in out
    assert (
        "&lt;script&gt;" in out
        and '&lt;b&gt;x&lt;/b&gt; <span class="ta-ref ta-n-1"' in out
        and "&lt;i&gt;s&lt;/i&gt;" in out
    )
    assert "href" not in out  # only http(s) links become links


def test_perspective_labels() -> None:
    assert perspective_label(_citation()) == "Russian source"
    assert perspective_label(_citation(perspective="Chinese sources", language="Chinese")) == "Chinese source"
    assert perspective_label(_citation(kind="chapter", perspective="Western analysis")) == (
        "Western analysis chapter"
    )


def test_abstention_lists_related_reading_not_citations() -> None:
    doc = SourceDoc(
        doc_id="ch5", kind="chapter", title="Space <Cooperation>", authors=("Robert Samuel Wilson",)
    )
    chunk = Chunk("ch5/001", "ch5", "Evolving Dynamic", "China is pursuing partners. " * 30, (), "", 0)
    answer = Answer(
        question="q",
        text="The report does not appear to address this question.",
        abstained=True,
        related=[Passage(chunk=chunk, doc=doc, score=0.1)],
    )
    out = render_answer(answer)
    assert out.startswith("The report does not appear to address this question.\n\n")
    assert (
        "Related reading (not cited)" in out
        and "Robert Samuel Wilson, <em>Space &lt;Cooperation&gt;</em>" in out
    )
    assert "Evolving Dynamic" in out and "ta-citation" not in out and "[1]" not in out
    assert " …</blockquote>" in out  # long passages are cut at a word


def test_errors_are_one_escaped_line() -> None:
    assert (
        render_error("Bad <input>\nsecond line")
        == '<span class="ta-error">⚠️ Bad &lt;input&gt; second line</span>'
    )


# --- the conversation step, on the real assistant ------------------------------------------------
@pytest.mark.slow
def test_respond_streams_then_keeps_a_plain_history(bot) -> None:  # type: ignore[no-untyped-def]
    steps = list(respond(bot, S400, [], []))
    assert steps[0][1] == [
        {"role": "user", "content": escape_user_text(S400)},
        {"role": "assistant", "content": ""},
    ]
    assert len(steps) > 3  # the text arrives in pieces before the sources
    textbox, chat, history, plain = steps[-1]
    answer = bot.ask(S400)
    assert textbox == "" and chat[-1]["content"] == render_answer(answer, contexts_of(bot))
    assert chat[-1]["content"].count('<details class="ta-context">') == len(answer.citations)
    # the plain history, each answer with the documents it cited (as ``Conversation`` keeps it)
    assert history == [
        {"role": "user", "content": S400},
        {
            "role": "assistant",
            "content": answer.text,
            "sources": list(dict.fromkeys(c.doc_id for c in answer.citations)),
        },
    ]
    assert plain == answer.format_plain()

    *_, (_, chat2, history2, _) = respond(bot, "When was that published?", chat, history)
    assert "Armed Friendship" in chat2[-1]["content"] and "2017" in chat2[-1]["content"]
    assert len(history2) == 4 and "<" not in history2[-1]["content"]


@pytest.mark.slow
def test_respond_turns_errors_into_a_message_and_keeps_the_question(bot) -> None:  # type: ignore[no-untyped-def]
    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "answer"}]
    *_, (textbox, chat, new_history, plain) = respond(bot, "x" * 2500, [], history)
    assert chat[-1]["content"].startswith('<span class="ta-error">⚠️ The question is too long')
    assert textbox == "x" * 2500 and new_history == history and plain == ""
    *_, (_, chat, _, _) = respond(bot, "anything", [], [], area="moon")
    assert "Unknown area &#x27;moon&#x27;" in chat[-1]["content"]
    *_, (_, chat, _, _) = respond(bot, "   ", [], [])
    assert chat == [
        {"role": "assistant", "content": render_error("Please type a question; this one is empty.")}
    ]


def test_a_question_over_the_limit_is_refused_before_any_work(bot) -> None:  # type: ignore[no-untyped-def]
    limit = bot.settings.max_question_chars
    long = "x " * limit
    (state,) = list(respond(bot, long, [], []))
    textbox, chat, history, plain = state
    assert textbox == long and history == [] and plain == ""  # the text stays in the box to fix
    (reply,) = chat  # and is not echoed into the conversation
    assert f"too long ({len(long.strip()):,} characters)" in reply["content"]


def test_length_limits_count_what_was_typed(bot) -> None:  # type: ignore[no-untyped-def]
    from assistant.errors import InvalidQuestion

    bot.validate("ﷺ" * 200)  # 200 characters typed, 3,600 once normalised: accepted
    with pytest.raises(InvalidQuestion, match=r"too long \(2,001 characters\)"):
        bot.validate("ﷺ" * 2001)


def test_conversations_for_programs_are_validated() -> None:
    from assistant.errors import InvalidConversation
    from assistant.frontends.ui.conversation import conversation_history

    assert conversation_history(None) == []
    parts = [{"role": "user", "content": [{"type": "text", "text": "Q"}], "metadata": None}]
    assert conversation_history(parts) == [{"role": "user", "content": "Q"}]
    for bad in (
        {"role": "user"},
        [{"role": "user", "content": 3}],
        [["user", "Q"]],
        [{"role": "system", "content": "x"}],
    ):
        with pytest.raises(InvalidConversation):
            conversation_history(bad)


def test_the_login_limiter_waits_longer_after_each_failure() -> None:
    from assistant.frontends.ui.guard import LoginLimiter

    now = [0.0]
    limiter = LoginLimiter(free=2, max_delay=10.0, clock=lambda: now[0])
    assert [limiter.failed("a")[1] for _ in range(6)] == [0.0, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert limiter.wait("a") == 10.0 and limiter.wait("b") == 0.0  # per client
    now[0] = 10.0
    assert limiter.wait("a") == 0.0
    limiter.succeeded("a")
    assert limiter.failed("a") == (1, 0.0)


# --- the running app, in a browser ---------------------------------------------------------------
@pytest.fixture(scope="module")
def feedback_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feedback") / "feedback.sqlite3"


@pytest.fixture(scope="module")
def app_url(bot, settings: Settings, feedback_db: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from assistant.frontends.ui.server import serve

    port = free_port()
    shared = bot.settings
    bot.settings = shared.model_copy(update={"feedback_path": feedback_db})  # feedback goes here
    app = serve(settings.model_copy(update={"ui_port": port}), bot=bot, block=False)
    url = f"http://127.0.0.1:{port}/"
    wait_until_up(url)
    yield url
    app.close()
    bot.settings = shared


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()


@pytest.fixture()
def page(browser, app_url: str) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    page = open_app(browser, app_url)
    page.dialogs = []  # type: ignore[attr-defined]
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    yield page
    page.close()


@pytest.mark.slow
def test_browser_answer_streams_with_numbered_sources_and_quotes(page, corpus_text: str) -> None:  # type: ignore[no-untyped-def]
    turn = ask(page, S400)
    assert turn.partial_renders > 1  # text was on screen, growing, before the sources arrived
    message = turn.message
    text = message.inner_text()
    assert "S-400" in text and "[1]" in text
    citations = message.locator("details.ta-source")
    assert citations.count() >= 1
    first = citations.first
    assert first.locator("> summary").inner_text().startswith(("[1]", "[1,"))  # the passages' numbers
    assert "Alexander Gabuev and Vasily Kashin" in first.locator("> summary").inner_text()
    assert "Armed Friendship" in first.locator("> summary em").first.inner_text()
    assert not first.locator("blockquote").first.is_visible()  # collapsed until opened
    toggle_sources(message)
    quote = first.locator("blockquote").first.inner_text().strip("“” \n")
    assert first.locator("blockquote").first.is_visible() and len(quote) > 40
    assert quote in corpus_text  # the passage shown is the report's own words
    assert (
        first.get_by_text("Russian source").is_visible()
        and first.get_by_text("Section: Excerpts").first.is_visible()
    )
    assert first.locator("a").get_attribute("href") == (
        "https://carnegieendowment.org/files/CP_Gabuev_Kashin_web.pdf"
    )
    # the plain-text copy of the answer, with its references
    page.get_by_text("Copy the last answer").click()
    plain = page.locator("#plain-answer textarea").input_value()
    assert (
        plain.startswith(text.split("\n")[0]) and "\nSources:\n[1] " in plain and "Armed Friendship" in plain
    )


@pytest.mark.slow
def test_browser_follow_up_resolves_against_the_conversation(page) -> None:  # type: ignore[no-untyped-def]
    first = ask(page, S400).message
    first_source = first.locator("details.ta-source summary em").first.inner_text()
    follow = ask(page, "When was that published?").message
    assert "2017" in follow.inner_text() and "Armed Friendship" in follow.inner_text()
    assert follow.locator("details.ta-source summary em").first.inner_text() == first_source
    assert page.locator(BOT).count() == 2 and page.locator(USER).count() == 2
    # clearing starts over: the same follow-up no longer refers to Armed Friendship
    clear(page)
    fresh = ask(page, "When was that published?").message
    assert "Armed Friendship" not in fresh.inner_text()
    assert "Name the source, author or topic you mean." in fresh.inner_text()


@pytest.mark.slow
def test_browser_filter_restricts_every_source(page) -> None:  # type: ignore[no-untyped-def]
    choose(page, "filter-perspective", "Chinese sources")
    message = ask(page, "What do the sources say about joint exercises?").message
    tags = message.locator(".ta-source .ta-tag").all_inner_texts()
    assert tags and set(tags) == {"Chinese source"}
    banner = page.locator("#filter-banner")
    assert banner.is_visible() and "Perspective: Chinese sources" in banner.inner_text()
    choose(page, "filter-perspective", "Russian sources")
    choose(page, "filter-area", "Military exercises")
    message = ask(page, "What do the sources say about joint exercises?").message
    tags = message.locator(".ta-source .ta-tag").all_inner_texts()
    assert tags and set(tags) == {"Russian source"}
    assert "Area: military exercises" in banner.inner_text()
    page.locator("#clear-filters").click()  # one click lifts every filter
    page.wait_for_function("() => !document.querySelector('#filter-banner')?.checkVisibility()")
    assert page.locator("#filter-perspective input").input_value() == "Any perspective"
    assert page.evaluate("() => document.activeElement === document.querySelector('#question textarea')")


@pytest.mark.slow
def test_browser_citation_markers_open_their_passage(page, corpus_text: str) -> None:  # type: ignore[no-untyped-def]
    message = ask(page, S400).message
    markers = message.locator(".ta-ref")
    assert markers.count() >= 1
    passage = message.locator(".ta-citation.ta-n-1")
    assert not passage.is_visible()  # its document is collapsed
    markers.first.click()
    assert passage.is_visible() and "ta-shown" in (passage.get_attribute("class") or "")
    # opened in context: its paragraph with the quote marked, the section heading, the neighbours
    context = passage.locator("details.ta-context")
    assert context.get_attribute("open") is not None
    marked = context.locator("mark").inner_text()
    assert marked and marked in corpus_text.replace("**", "")
    assert context.locator(".ta-context-section").is_visible() and context.locator(".ta-para").count() >= 2
    context.get_by_text("Read on").click()
    assert context.locator(".ta-read-on .ta-para").first.is_visible()
    for details in message.locator("details.ta-source[open] > summary").all():
        details.click()  # close again, then open by keyboard
    assert not passage.is_visible()
    markers.first.focus()
    page.keyboard.press("Enter")
    assert passage.is_visible()


def _wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return value


@pytest.mark.slow
def test_browser_feedback_is_stored_and_exported(page, feedback_db: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from assistant.frontends.feedback import FeedbackStore

    store = FeedbackStore(url=f"sqlite:///{feedback_db}")
    before = len(list(store.all()))
    ask(page, S400)
    page.locator('#chat button[aria-label="Like"]').last.click()
    liked = _wait_for(lambda: list(store.all())[before:])
    assert liked[0].verdict == "up" and liked[0].question == S400 and liked[0].citations
    # a source marked wrong, with a comment
    page.get_by_text("Feedback on the last answer").click()
    page.locator("#feedback-wrong label").first.click()
    page.locator("#feedback-comment textarea").fill("This source is about something else.")
    page.locator("#feedback-send").click()
    page.locator("#feedback-status").get_by_text("your feedback is saved").wait_for()
    flagged = _wait_for(lambda: [f for f in list(store.all())[before:] if f.verdict == "citation"])
    assert flagged[0].wrong_citations == [1] and flagged[0].comment == "This source is about something else."
    out = tmp_path / "drafts.jsonl"
    exported = subprocess.run(
        [sys.executable, "-m", "assistant", "feedback", "export", "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "ASSISTANT_FEEDBACK_PATH": str(feedback_db)},
        timeout=120,
    )
    assert exported.returncode == 0, exported.stderr
    items = [json.loads(line) for line in out.read_text().splitlines()]
    assert [i["question"] for i in items][-1] == S400
    assert items[-1]["feedback"]["marked_wrong"][0]["number"] == 1


@pytest.mark.slow
def test_browser_copies_answers_and_exports_the_conversation(browser, app_url: str) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(
        viewport={"width": 1400, "height": 1000}, permissions=["clipboard-read", "clipboard-write"]
    )
    try:
        page.goto(app_url)
        page.locator("#question textarea").wait_for()
        first = ask(page, S400).message
        ask(page, "When was that published?")
        first.locator(".ta-copy-markdown").click()  # an earlier answer, not only the last
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied.startswith(first.inner_text().split("[1]")[0].strip()[:40]) and "[^1]:" in copied
        first.locator(".ta-copy-plain").click()
        assert "\nSources:\n[1] " in page.evaluate("() => navigator.clipboard.readText()")
        page.get_by_text("Export the conversation").click()
        page.locator("#export").click()
        page.locator("#exported a").first.wait_for()
        listed = "".join(page.locator("#exported").inner_text().split())
        assert all(name in listed for name in ("conversation.md", "sources.bib", "sources.ris")), listed
        files = {}
        for link in page.locator("#exported a").all():
            href = link.get_attribute("href") or ""
            files[href.rsplit("/", 1)[-1]] = page.request.get(href).text()
        markdown = next(text for name, text in files.items() if name.endswith(".md"))
        assert markdown.startswith(f"# {TITLE}") and f"## {S400}" in markdown and "[^1-1]:" in markdown
        assert "[^2-1]:" in markdown  # the follow-up's footnotes, numbered apart
        assert any(text.startswith("@") for name, text in files.items() if name.endswith(".bib"))
        assert any("TY  - " in text for name, text in files.items() if name.endswith(".ris"))
    finally:
        page.close()


def test_saved_conversations_keep_list_reopen_and_delete() -> None:
    from assistant.frontends.ui import saved as ui_saved

    answer = Answer(question="Q1?", text="A [1]", citations=[_citation()])
    record = ui_saved.answer_record(1, answer, {"area": "space and cyber"}, [])
    store, first = ui_saved.keep(
        None,
        "",
        [{"role": "user", "content": "Q1?"}],
        [{"role": "user", "content": "Q1?"}],
        [record],
        {"area": "space and cyber"},
    )
    store, second = ui_saved.keep(store, "", [], [{"role": "user", "content": "Q2?"}], [], {})
    assert first != second and store["current"] == second
    assert [label.split(" — ")[0] for label, _ in ui_saved.choices(store)] == ["Q2?", "Q1?"]
    again = ui_saved.find(store, first)
    assert again is not None and again["filters"]["area"] == "space and cyber"
    assert ui_saved.answer_from(again["turns"][0]["answer"]).to_dict() == answer.to_dict()
    store = ui_saved.delete(store, second)
    assert store["current"] == "" and [c["id"] for c in store["conversations"]] == [first]
    for _ in range(ui_saved.MAX_SAVED + 5):
        store, _ = ui_saved.keep(store, "", [], [], [], {})
    assert len(store["conversations"]) == ui_saved.MAX_SAVED
    assert ui_saved.choices("garbage from another version") == []


@pytest.mark.slow
def test_browser_conversations_survive_a_reload_and_reopen(page) -> None:  # type: ignore[no-untyped-def]
    choose(page, "filter-area", "Arms sales and technology transfer")
    key = "transatlantic-conversations"
    before = page.evaluate("(key) => localStorage.getItem(key)", key)
    ask(page, S400)
    page.wait_for_function("([key, before]) => localStorage.getItem(key) !== before", arg=[key, before])
    page.reload()
    page.locator("#question textarea").wait_for()
    page.wait_for_function("(bot) => document.querySelectorAll(bot).length === 1", arg=BOT)
    assert "S-400" in page.locator(BOT).last.inner_text()
    assert page.locator("#filter-area input").input_value() == "Arms sales and technology transfer"
    assert "Area: arms sales and technology transfer" in page.locator("#filter-banner").inner_text()
    before = page.evaluate("(key) => localStorage.getItem(key)", key)
    follow = ask(page, "When was that published?").message  # the restored history still resolves
    assert "2017" in follow.inner_text()
    page.wait_for_function("([key, before]) => localStorage.getItem(key) !== before", arg=[key, before])
    clear(page)  # a new conversation; the first stays saved
    ask(page, "What is the International Lunar Research Station?")
    page.get_by_text("Saved conversations").click()
    page.locator("#saved-list input").click()
    options = page.get_by_role("option")
    assert options.count() == 2
    page.get_by_role("option", name=re.compile(re.escape(S400))).click()
    page.locator("#saved-open").click()
    page.wait_for_function("(bot) => document.querySelectorAll(bot).length === 2", arg=BOT)
    assert "S-400" in page.locator(BOT).first.inner_text()
    page.locator("#saved-delete").click()  # the conversation on screen goes, and the chat clears
    page.wait_for_function("(bot) => document.querySelectorAll(bot).length === 0", arg=BOT)
    page.locator("#saved-list input").click()
    assert page.get_by_role("option").count() == 1


@pytest.mark.slow
def test_browser_a_finished_answer_shows_its_first_line(browser, app_url: str) -> None:  # type: ignore[no-untyped-def]
    page = open_app(browser, app_url, width=1000, height=560)  # a short window: answers overflow
    try:
        ask(page, "What do the sources say about joint exercises?")
        message = ask(page, "How do Chinese authors describe color revolutions?").message
        page.wait_for_timeout(1000)
        chat = page.locator("#chat").bounding_box()
        top = message.bounding_box()
        assert chat and top and top["height"] > chat["height"] / 2, (chat, top)  # it is long
        assert chat["y"] - 1 <= top["y"] <= chat["y"] + 40, (chat, top)  # and starts at the top
    finally:
        page.close()


@pytest.mark.slow
def test_browser_works_on_a_390_px_wide_phone(browser, app_url: str) -> None:  # type: ignore[no-untyped-def]
    page = open_app(browser, app_url, width=390, height=844)
    try:
        panel, chat = page.locator("#filters-panel"), page.locator("#chat")
        page.wait_for_function("() => !document.querySelector('#filter-area')?.checkVisibility()")
        assert panel.bounding_box()["y"] < chat.bounding_box()["y"]  # type: ignore[index]  # above the chat
        message = ask(page, S400).message
        toggle_sources(message)
        widths = page.evaluate(
            """() => { const c = document.querySelector('#chat');
                return [c.scrollWidth, c.clientWidth, document.documentElement.scrollWidth]; }"""
        )
        assert widths[0] <= widths[1] + 1 and widths[2] <= 390, widths  # nothing scrolls sideways
        panel.locator("button").first.click()  # the panel opens on demand
        assert page.locator("#filter-area").is_visible()
    finally:
        page.close()


@pytest.mark.slow
def test_browser_example_chips_ask_their_question(page) -> None:  # type: ignore[no-untyped-def]
    from assistant.frontends.ui.app import EXAMPLES

    page.evaluate(_WATCH_FOR_ANSWER, [BOT, DONE])
    page.get_by_text(EXAMPLES[0], exact=True).first.click()
    page.wait_for_function("() => window.__answered === true", timeout=90_000)
    assert page.locator(USER).last.inner_text().strip() == EXAMPLES[0]
    assert "S-400" in page.locator(BOT).last.inner_text()


_WATCH_FOR_ANSWER = """([bot, done]) => {
  window.__answered = false;
  const observer = new MutationObserver(() => {
    const bots = document.querySelectorAll(bot);
    if (bots.length && bots[bots.length - 1].querySelector(done)) { window.__answered = true; observer.disconnect(); }
  });
  observer.observe(document.querySelector('#chat'), {subtree: true, childList: true});
}"""


@pytest.mark.slow
def test_browser_shows_user_markup_as_text(page) -> None:  # type: ignore[no-untyped-def]
    for question in ["<script>alert(1)</script>", '<b>x</b> "><img src=x onerror=alert(2)>']:
        ask(page, question)
        assert page.locator(USER).last.inner_text().strip() == question
    body = page.locator("body").inner_text()
    assert "<script>alert(1)</script>" in body and "<b>x</b>" in body
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.locator("#chat script, #chat img, #chat [data-testid='user'] b").count() == 0


@pytest.mark.slow
def test_browser_errors_and_abstentions_are_friendly(page) -> None:  # type: ignore[no-untyped-def]
    box = page.locator("#question textarea")
    assert box.get_attribute("maxlength") == "2000"  # capped in the browser before any work
    box.fill("x" * 2500)
    assert len(box.input_value()) <= 2000
    box.fill("")
    message = ask(page, "   ").message
    assert "Please type a question" in message.inner_text()
    message = ask(page, "What is the capital of Peru?").message
    assert "does not appear to address" in message.inner_text()
    assert "Related reading (not cited)" in message.inner_text()
    assert message.locator(".ta-reading").count() >= 1 and message.locator(".ta-citation").count() == 0
    assert "Traceback" not in page.locator("body").inner_text()
    assert page.locator(BOT).filter(has=page.locator(DONE)).count() == 2  # both turns finished


# --- the running app, as a program: `assistant serve` with a login, via gradio_client ----------
@pytest.mark.slow
def test_gradio_client_drives_assistant_serve_with_login(bot, index_dir: Path) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from gradio_client import Client

    question = "What did Russia agree to sell China in 2015?"
    with assistant_serve(index_dir, ASSISTANT_UI_USER="staff", ASSISTANT_UI_PASSWORD="s3cret") as app:
        url = app.url
        refused = httpx.get(url + "config", timeout=5)
        assert refused.status_code == 401  # nothing without signing in; the login page names the app
        assert refused.json()["detail"]["auth_message"].startswith(TITLE)
        client = Client(url, auth=("staff", "s3cret"), verbose=False)
        buttons = [c.get("props", {}) for c in client.config["components"] if c.get("type") == "button"]
        assert any(b.get("value") == "Sign out" and b.get("link") == "/logout" for b in buttons)
        # one documented endpoint, stateless: the browser's own chat event is not callable
        assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/ask"]
        first = client.predict(question, [], None, "answer", api_name="/ask")
        expected = bot.ask(question)
        assert {k: v for k, v in first.items() if k != "plain"} == json.loads(json.dumps(expected.to_dict()))
        assert first["plain"] == expected.format_plain()
        # a follow-up resolves against exactly the conversation passed, and nothing else
        conversation = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": first["text"]},
        ]
        follow = client.predict("When was that published?", conversation, None, "answer", api_name="/ask")
        history = [{"role": m["role"], "content": m["content"]} for m in conversation]
        assert follow["plain"] == bot.ask("When was that published?", history=history).format_plain()
        alone = client.predict("When was that published?", [], None, "answer", api_name="/ask")
        assert alone["plain"] == bot.ask("When was that published?").format_plain() != follow["plain"]
        # Gradio's own content parts are accepted too; a malformed chat is a clear error
        parts = [{"role": "user", "content": [{"type": "text", "text": question}]}, conversation[1]]
        same = client.predict("When was that published?", parts, None, "answer", api_name="/ask")
        assert same["plain"] == follow["plain"]
        for bad, message in (
            ([{"role": "user"}], "Message 1 of the conversation is malformed (content: field required)"),
            ("hello", "The conversation must be a list of messages"),
            ([{"role": "bot", "content": "x"}], "Message 1 of the conversation has the role 'bot'"),
        ):
            with pytest.raises(Exception, match=re.escape(message)):
                client.predict("When was that published?", bad, None, "answer", api_name="/ask")
        with pytest.raises(Exception, match="Unknown area 'moon'"):
            client.predict(question, [], {"area": "moon"}, "answer", api_name="/ask")
    output = app.output
    assert f"Chat UI at http://127.0.0.1:{app.port}/ (login required)" in output
    assert "Traceback" not in output and "s3cret" not in output


@pytest.mark.slow
def test_login_is_rate_limited_and_state_changing_routes_need_it(bot, index_dir: Path) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from assistant.frontends.ui.guard import FREE_ATTEMPTS

    env = {
        "ASSISTANT_UI_USER": "staff",
        "ASSISTANT_UI_PASSWORD": "s3cret",
        "ASSISTANT_UI_MAX_REQUEST_BYTES": "100000",
    }
    with assistant_serve(index_dir, **env) as app:
        url = app.url.rstrip("/")
        for path in ("/gradio_api/cancel", "/gradio_api/reset", "/gradio_api/queue/join"):
            body = {"event_id": "x", "session_hash": "y", "fn_index": 0, "data": []}
            assert httpx.post(url + path, json=body, timeout=10).status_code == 401, path
        statuses = [
            httpx.post(url + "/login", data={"username": "staff", "password": f"guess{n}"}, timeout=10)
            for n in range(100)
        ]
        checked = [r for r in statuses if r.status_code == 400]  # the password was compared
        refused = [r for r in statuses if r.status_code == 429]
        assert FREE_ATTEMPTS <= len(checked) <= FREE_ATTEMPTS + 4 and len(checked) + len(refused) == 100
        assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
        right = httpx.post(url + "/login", data={"username": "staff", "password": "s3cret"}, timeout=10)
        assert right.status_code == 429  # not even the right password while the client must wait
        time.sleep(int(right.headers["retry-after"]) + 0.2)
        signed_in = httpx.post(url + "/login", data={"username": "staff", "password": "s3cret"}, timeout=10)
        assert signed_in.status_code == 200
        too_large = httpx.post(
            url + "/gradio_api/queue/join", content=b"x" * 200_000, cookies=signed_in.cookies
        )
        assert too_large.status_code == 413
    assert app.output.count("Failed sign-in from 127.0.0.1") == len(checked)
    assert "s3cret" not in app.output and "Traceback" not in app.output
