"""Perspective comparison, the source browser, and how the benchmark scores comparisons."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.answer.compare import NOT_ADDRESSED, comparison_topic, is_comparison, perspective_docs
from assistant.citations import check
from assistant.corpus.parse import parse_report
from assistant.evaluation.dataset import Item, validate
from assistant.evaluation.report import headline_table
from assistant.evaluation.score import Results, score_item
from assistant.frontends.ui.conversation import render_sources_table, respond
from assistant.frontends.ui.render import render_answer
from assistant.report import AREAS, PERSPECTIVES
from assistant.retrieve import Filters
from assistant.sources import format_table, list_sources
from assistant.types import Answer, Citation, Section, SourceDoc, in_perspective
from tests.conftest import REPORT
from tests.corpus.test_parse import CHAPTERS, SOURCES
from tests.ui_browser import ask, choose, free_port, launch_browser, open_app, wait_until_up

pytestmark = pytest.mark.filterwarnings("ignore:::gradio.queueing")  # gradio vs pandas 3, not ours

COMPARISONS = [
    "How do Russian and Chinese writers differ on joint exercises?",
    "Compare Russian and Chinese views of the S-400 sale",
    "What do Russian, Chinese and Western analysts say about hybrid warfare?",
    "How do Chinese and Russian military writers differ in what they emphasize?",
    "Do Russian and Chinese authors agree on who leads in space?",
    "Russian vs. Chinese perspectives on color revolutions",
    "What worries the Russian side about arms sales, and what bothers the Chinese side?",
    "Who is more positive about the partnership, Russian or Chinese analysts?",
    "How do Western analysts and Chinese sources differ on gray zone tactics?",
    "Is the Russian rationale for arms sales the same as the Chinese one?",
    "Compare the perspectives on the lunar research station",
    "Show the three perspectives on cyber sovereignty side by side",
]
NOT_COMPARISONS = [
    "What did Russia agree to sell China in 2015?",
    "How do Russia and China cooperate in space?",
    "What do Russian sources say about joint exercises?",
    "And what do the Chinese authors say about arms sales?",
    "Who wrote the chapter on Chinese views of joint exercises with Russia?",
    "How does the Russian S-400 differ from the Chinese HQ-9?",
    "Do Russian and Chinese forces train together in the Arctic?",
    "How do the Chinese writers surveyed contrast U.S. and Russian hybrid warfare?",
    "Is there a Russian or Chinese author who describes China and Russia as allies?",
    "Where can I find the translations of the Russian and Chinese source texts?",
    "What is the original Russian title of Armed Friendship?",
    "Compare the S-400 and the Su-35",
]
AREA_QUESTIONS = {
    "arms sales and technology transfer": "How do Russian and Chinese writers see arms sales between Russia and China?",
    "military exercises": "How do Russian and Chinese writers differ on joint military exercises?",
    "space and cyber": "Compare Russian and Chinese views of space cooperation",
    "hybrid warfare": "What do Russian, Chinese and Western analysts say about hybrid warfare?",
}


@pytest.fixture(scope="module")
def docs() -> dict[str, SourceDoc]:
    return parse_report(REPORT).docs


# --- which questions are comparisons ------------------------------------------------------------
@pytest.mark.parametrize("question", COMPARISONS)
def test_comparison_questions_are_detected(question: str) -> None:
    assert is_comparison(question)


@pytest.mark.parametrize("question", NOT_COMPARISONS)
def test_other_questions_are_not(question: str) -> None:
    assert not is_comparison(question)


def test_the_topic_drops_perspectives_and_contrast_words() -> None:
    assert comparison_topic("How do Russian and Chinese writers differ on joint exercises?") == (
        "How do on joint exercises?"
    )
    assert comparison_topic("Compare Russian and Chinese views of the S-400 sale") == "of the S-400 sale"
    assert comparison_topic("Russian and Chinese writers?") == "Russian and Chinese writers?"  # no topic left


# --- each perspective's documents ----------------------------------------------------------------
def test_each_perspective_has_only_its_own_documents(docs: dict[str, SourceDoc]) -> None:
    russian = perspective_docs(docs.values(), "Russian sources")
    chinese = perspective_docs(docs.values(), "Chinese sources")
    western = perspective_docs(docs.values(), "Western analysis")
    assert len(russian) == 13 and len(chinese) == 7 and len(western) == 9
    assert all(docs[d].kind == "appendix" and docs[d].language == "Russian" for d in russian)
    assert all(docs[d].kind == "appendix" and docs[d].language == "Chinese" for d in chinese)
    assert western == {f"ch{i}" for i in range(1, 9)} | {"summary"}  # never bios, overview or appendix note
    spaced = perspective_docs(docs.values(), "Western analysis", "space and cyber")
    assert spaced == {"ch5", "ch6"}  # with an area: that area's chapters only
    assert not in_perspective(docs["bio-bonny-lin"], "Western analysis")


# --- the source browser ----------------------------------------------------------------------------
def test_sources_lists_every_chapter_and_appendix_source_with_its_metadata(
    docs: dict[str, SourceDoc],
) -> None:
    from assistant import Assistant

    bot = Assistant()  # the browser needs only the report, not the index
    listed = bot.sources()
    assert bot._knowledge is None
    chapters = [d for d in listed if d.kind == "chapter"]
    appendix = [d for d in listed if d.kind == "appendix"]
    assert len(listed) == 28 and len(chapters) == 8 and len(appendix) == 20
    assert [(d.title, d.authors_display, d.area) for d in chapters] == CHAPTERS
    got = [(d.authors_display, d.title, d.publication, d.date, d.language, d.area) for d in appendix]
    assert got == SOURCES
    assert all(d.perspective == "Western analysis" for d in chapters)
    assert all(d.perspective == f"{d.language} sources" and d.url.startswith("https://") for d in appendix)
    assert all(d.original_title for d in appendix)


def test_sources_filters(docs: dict[str, SourceDoc]) -> None:
    def pick(**filters: str) -> list[str]:
        return [d.title for d in list_sources(docs.values(), Filters.parse(filters))]

    assert len(pick(language="chinese")) == 7 and len(pick(language="Russian")) == 13
    assert len(pick(area="space")) == 6 and len(pick(area="space", kind="chapter")) == 2
    assert pick(author="Bartosh") == [
        t for _, t, *_ in SOURCES if t.startswith(("China and", "Deterrence", "The Role"))
    ]
    assert pick(kind="bio")[0] == "Max Bergmann"  # an explicit kind lists the summary or the bios
    assert pick(language="English") == [t for t, _, _ in CHAPTERS]


def test_sources_table_is_readable(docs: dict[str, SourceDoc]) -> None:
    listed = list_sources(docs.values(), Filters())
    table = format_table(listed)
    lines = table.splitlines()
    assert lines[0].split() == ["PERSPECTIVE", "AREA", "DATE", "AUTHORS", "TITLE", "PUBLICATION", "ID"]
    assert len(lines) == 1 + 28 + 2 and lines[-1].startswith("8 chapters, 20 appendix sources.")
    assert any("Armed Friendship: How Russia and China Trade Arms" in line for line in lines)
    cut = format_table(listed, width=100)
    assert "Moscow: Institute of Far Eastern Studies of the Russian Academy of Sciences" not in cut
    assert format_table([]) == "No sources match these filters."


# --- rendering ---------------------------------------------------------------------------------------
def _citation(number: int, perspective: str, **overrides: Any) -> Citation:
    fields: dict[str, Any] = {
        "number": number,
        "chunk_id": f"c{number}",
        "kind": "appendix" if perspective != "Western analysis" else "chapter",
        "authors": "An Author",
        "title": "A Title",
        "original_title": "",
        "publication": "",
        "date": "",
        "url": "",
        "language": perspective.split()[0] if perspective != "Western analysis" else "English",
        "area": "",
        "section": "",
        "quote": "A quote.",
        "doc_id": f"d{number}",
        "perspective": perspective,
        "label": "An Author, *A Title*",
    }
    return Citation(**{**fields, **overrides})


def _comparison(evil: str = "") -> Answer:
    sections = [
        Section("Russian sources", f"Russian view{evil}. [1]", [1]),
        Section("Chinese sources", NOT_ADDRESSED["Chinese sources"], [], abstained=True),
        Section("Western analysis", "Western view. [2]", [2]),
    ]
    text = "\n".join(f"{s.label}: {s.text}" for s in sections)
    citations = [
        _citation(1, "Russian sources", label=f"R{evil}, *T*"),
        _citation(2, "Western analysis"),
    ]
    return Answer(question="q", text=text, citations=citations, sections=sections)


def test_a_comparison_renders_as_three_columns_with_their_own_sources() -> None:
    out = render_answer(_comparison())
    assert out.startswith('<div class="ta-compare"><div class="ta-perspective">')
    assert out.count('class="ta-perspective"') == 3 and "\n" not in out
    russian, chinese, western = out.split('<div class="ta-perspective">')[1:]
    assert "Russian sources</div>" in russian and "[1]</strong>" in russian and "[2]</strong>" not in russian
    assert (
        "ta-abstained" in chinese
        and "do not appear to address this" in chinese
        and "ta-citation" not in chinese
    )
    assert "[2]</strong>" in western and "Western analysis chapter" in western
    assert json.loads(json.dumps(_comparison().to_dict()))["sections"][1] == {
        "label": "Chinese sources",
        "text": NOT_ADDRESSED["Chinese sources"],
        "citations": [],
        "abstained": True,
    }


def test_everything_in_a_comparison_and_the_source_table_is_escaped() -> None:
    out = render_answer(_comparison(evil="<script>alert(1)</script>"))
    assert "<script>" not in out and "&lt;script&gt;" in out
    doc = SourceDoc(
        doc_id='x"><b>',
        kind="appendix",
        title="<img src=x onerror=alert(1)>",
        original_title="<i>o</i>",
        authors=("<u>A</u>",),
        url="javascript:alert(1)",
        language="Russian",
    )
    table = render_sources_table([doc])
    assert "<img" not in table and "<i>" not in table and "<u>" not in table and "href" not in table
    assert "&lt;img src=x onerror=alert(1)&gt;" in table and 'data-doc="x&quot;&gt;&lt;b&gt;"' in table


# --- scoring comparisons --------------------------------------------------------------------------------
def _item(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "c001",
        "split": "dev",
        "question": "How do Russian and Chinese writers see space cooperation?",
        "type": "comparison",
        "answerable": True,
        "history": [],
        "gold_sources": [{"authors": "Marc Julienne", "title": "China-Russia Cooperation in Space"}],
        "key_facts": [],
        "reference_answer": "…",
        "evidence": "Outer space has already become a military platform.",
        "document_hint": "",
        "gold_by_perspective": {
            "Russian sources": [
                {
                    "authors": "Vasily Kashin",
                    "title": "Russia and China Answer to the Creation of Space Forces by the USA – Expert",
                }
            ],
            "Chinese sources": [
                {
                    "authors": "He Qisong and Ye Nishan",
                    "title": "Analysis of Space Cooperation between China and Russia",
                }
            ],
            "Western analysis": [{"authors": "Marc Julienne", "title": "China-Russia Cooperation in Space"}],
        },
    }
    return {**data, **overrides}


def test_the_validator_checks_gold_by_perspective() -> None:
    report = parse_report(REPORT)
    corpus = REPORT.read_text(encoding="utf-8")

    def problems(**overrides: Any) -> list[str]:
        return validate([Item.from_dict(_item(**overrides), line=1)], report, corpus)

    assert problems() == []
    assert problems(type="fact") == ["c001: gold_by_perspective is for comparison items only"]
    assert problems(gold_by_perspective=[]) == [
        "c001: field 'gold_by_perspective' must be an object, not list"
    ]
    assert problems(gold_by_perspective={"Soviet sources": [{"authors": "", "title": "X"}]}) == [
        "c001: gold_by_perspective['Soviet sources']: 'Soviet sources' is not one of "
        "Russian sources, Chinese sources, Western analysis"
    ]
    swapped = {
        "Russian sources": [{"authors": "Marc Julienne", "title": "China-Russia Cooperation in Space"}]
    }
    assert problems(gold_by_perspective=swapped) == [
        "c001: gold_by_perspective['Russian sources']: Marc Julienne, *China-Russia Cooperation in Space* "
        "is not one of its documents"
    ]
    bio = {"Western analysis": [{"authors": "Bonny Lin", "title": "Bonny Lin"}]}
    assert problems(gold_by_perspective=bio)[0].endswith("*Bonny Lin* is not one of its documents")
    missing = {"Chinese sources": [{"authors": "", "title": "Nowhere"}]}
    assert problems(gold_by_perspective=missing) == [
        "c001: gold_by_perspective['Chinese sources']: gold source not in the report: *Nowhere*"
    ]
    item = Item.from_dict(_item())
    assert item.to_dict()["gold_by_perspective"] == _item()["gold_by_perspective"]
    without = {k: v for k, v in _item().items() if k != "gold_by_perspective"}
    assert "gold_by_perspective" not in Item.from_dict(without).to_dict()  # other items keep their schema


def test_source_hit_is_scored_per_perspective() -> None:
    item = Item.from_dict(_item())
    kashin = _citation(
        1,
        "Russian sources",
        authors="Vasily Kashin",
        title=item.gold_by_perspective["Russian sources"][0].title,
    )
    julienne = _citation(
        2, "Western analysis", authors="Marc Julienne", title="China-Russia Cooperation in Space"
    )
    wrong = _citation(3, "Chinese sources", title="Not the gold one")
    sections = [
        Section("Russian sources", "r [1]", [1]),
        Section("Chinese sources", "c [3]", [3]),
        Section("Western analysis", "w [2]", [2]),
    ]
    answer = Answer("q", "…", [kashin, wrong, julienne], sections=sections)
    record = score_item(item, answer, [], "", 5.0)
    assert record.perspective_hit == {
        "Russian sources": True,
        "Chinese sources": False,
        "Western analysis": True,
    }
    assert "no source hit for: Chinese sources" in record.failures and record.source_hit is True
    # a Russian citation placed under another label does not count for the Russian sources
    moved = [Section("Russian sources", "", []), Section("Chinese sources", "[1]", [1]), sections[2]]
    assert score_item(item, Answer("q", "…", [kashin], sections=moved), [], "", 1.0).perspective_hit == {
        "Russian sources": False,
        "Chinese sources": False,
        "Western analysis": False,
    }
    # an ordinary answer is scored by its citations' perspectives
    plain = score_item(item, Answer("q", "…", [kashin]), [], "", 1.0)
    assert plain.perspective_hit == {
        "Russian sources": True,
        "Chinese sources": False,
        "Western analysis": False,
    }
    results = Results(config="x", records=[record, plain])
    assert results.metrics["source_hit_russian_sources"] == 1.0
    assert results.metrics["source_hit_chinese_sources"] == 0.0
    assert results.metrics["source_hit_western_analysis"] == 0.5
    table = headline_table({"x": results})
    assert "| Source hit: Western analysis | 2 | 50.0% |" in table
    other = score_item(Item.from_dict(_item(type="fact", gold_by_perspective={})), answer, [], "", 1.0)
    assert other.perspective_hit is None
    assert "Source hit: Russian" not in headline_table({"x": Results(config="x", records=[other])})


def test_the_shipped_set_has_comparison_items_in_both_splits() -> None:
    from assistant.evaluation.dataset import DEFAULT_SET, load_questions

    items = [i for i in load_questions(DEFAULT_SET) if i.gold_by_perspective]
    assert len(items) >= 12 and {i.split for i in items} == {"dev", "test"}
    assert all(i.type == "comparison" and set(i.gold_by_perspective) <= set(PERSPECTIVES) for i in items)
    assert sum(set(i.gold_by_perspective) == set(PERSPECTIVES) for i in items) >= 12
    assert all(len(i.gold_by_perspective) >= 2 for i in items)  # a comparison has two sides at least


# --- on the real index ---------------------------------------------------------------------------------
def _assert_sections_hold(answer: Answer, docs: dict[str, SourceDoc], corpus: str) -> None:
    assert [s.label for s in answer.sections] == list(PERSPECTIVES)
    assert answer.text.split("\n") == [f"{s.label}: {s.text}" for s in answer.sections]
    assert check(answer, corpus) == []
    by_number = {c.number: c for c in answer.citations}
    assert sorted(n for s in answer.sections for n in s.citations) == sorted(by_number)
    for section in answer.sections:
        if section.abstained:
            assert section.text == NOT_ADDRESSED[section.label] and not section.citations
        for n in section.citations:
            doc = docs[by_number[n].doc_id]
            if section.label == "Western analysis":
                assert doc.kind == "chapter" or doc.doc_id == "summary", (section.label, doc.title)
            else:
                assert doc.kind == "appendix" and doc.perspective == section.label, (section.label, doc.title)


@pytest.mark.slow
@pytest.mark.parametrize("area", AREAS)
def test_acceptance_each_area_compares_three_perspectives(bot, corpus_text: str, area: str) -> None:  # type: ignore[no-untyped-def]
    docs = bot.index.docs
    for answer in (bot.ask(AREA_QUESTIONS[area]), bot.compare(area=area)):
        _assert_sections_hold(answer, docs, corpus_text)
        assert not any(s.abstained for s in answer.sections), answer.text
        assert answer.text.startswith("Russian sources: ") and "\nChinese sources: " in answer.text
        assert "\nWestern analysis: " in answer.text
    # restricted to an area, every citation comes from that area
    assert {c.area for c in answer.citations} == {area}


@pytest.mark.slow
def test_ask_routes_only_comparisons(bot, corpus_text: str) -> None:  # type: ignore[no-untyped-def]
    assert bot.ask("What did Russia agree to sell China in 2015?").sections == []
    routed = bot.ask(
        "How do Russian and Chinese writers differ on joint exercises?", filters={"area": "exercises"}
    )
    _assert_sections_hold(routed, bot.index.docs, corpus_text)
    assert {c.area for c in routed.citations} == {"military exercises"}
    # a narrower filter keeps the ordinary answer
    narrowed = bot.ask(
        "How do Russian and Chinese writers differ on joint exercises?", filters={"language": "Chinese"}
    )
    assert narrowed.sections == [] and all(c.language == "Chinese" for c in narrowed.citations)
    pieces = list(bot.stream("Compare Russian and Chinese views of space cooperation"))
    assert isinstance(pieces[-1], Answer) and len(pieces[-1].sections) == 3


@pytest.mark.slow
def test_a_perspective_with_nothing_on_the_question_says_so(bot, corpus_text: str) -> None:  # type: ignore[no-untyped-def]
    answer = bot.compare("How do Russian and Chinese writers differ on Sun Tzu?")
    _assert_sections_hold(answer, bot.index.docs, corpus_text)
    russian, chinese, _ = answer.sections
    assert not russian.abstained and "Sun Tzu" in russian.text
    assert chinese.abstained
    assert "Chinese sources: The Chinese sources in the report do not appear to address this." in answer.text
    assert not answer.abstained and answer.related == []
    nothing = bot.compare("How do Russian and Chinese writers differ on the Zorgon treaty?")
    assert nothing.abstained and nothing.citations == [] and all(s.abstained for s in nothing.sections)
    assert nothing.related and check(nothing, corpus_text) == []


@pytest.mark.slow
def test_compare_rejects_bad_input(bot) -> None:  # type: ignore[no-untyped-def]
    from assistant import InvalidFilter, InvalidQuestion

    with pytest.raises(InvalidQuestion, match="Give a question to compare, or an area"):
        bot.compare()
    with pytest.raises(InvalidFilter, match="Unknown area 'moon'"):
        bot.compare("anything", area="moon")
    with pytest.raises(InvalidQuestion, match="too long"):
        bot.compare("x" * 3000)


@pytest.mark.slow
def test_a_source_chosen_in_the_browser_restricts_answers(bot) -> None:  # type: ignore[no-untyped-def]
    (doc,) = bot.sources(author="Jian Feng")
    answer = bot.ask("What does it say about battalion tactical groups?", filters={"doc_id": doc.doc_id})
    assert answer.citations and {c.doc_id for c in answer.citations} == {doc.doc_id}


def _cli(args: list[str], index_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ASSISTANT_INDEX_DIR": str(index_dir)},
    )


@pytest.mark.slow
def test_cli_compare_and_sources(bot, index_dir: Path) -> None:  # type: ignore[no-untyped-def]
    out = _cli(
        ["compare", "--json", "How do Russian and Chinese writers differ on joint exercises?"], index_dir
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [s["label"] for s in data["sections"]] == list(PERSPECTIVES)
    assert data == bot.compare("How do Russian and Chinese writers differ on joint exercises?").to_dict()
    out = _cli(["compare", "--area", "space"], index_dir)
    assert (
        out.returncode == 0
        and out.stdout.startswith("Russian sources: ")
        and "\nSources:\n[1] " in out.stdout
    )
    out = _cli(["compare"], index_dir)
    assert out.returncode == 2 and out.stderr.strip() == "error: Give a question to compare, or an area."

    out = _cli(["sources", "--json"], index_dir)
    records = json.loads(out.stdout)
    assert len(records) == 28
    appendix = [r for r in records if r["kind"] == "appendix"]
    assert [(", ".join(r["authors"][:-1]) + " and " + r["authors"][-1] if len(r["authors"]) > 1 else "".join(r["authors"]), r["title"], r["publication"], r["date"], r["language"], r["area"]) for r in appendix] == SOURCES  # fmt: skip
    gabuev = appendix[0]
    assert gabuev["original_title"] == "Вооруженная дружба: как Россия и Китай торгуют оружием"
    assert gabuev["url"] == "https://carnegieendowment.org/files/CP_Gabuev_Kashin_web.pdf"
    assert gabuev["perspective"] == "Russian sources"
    out = _cli(["sources", "--language", "chinese", "--kind", "appendix"], index_dir)
    assert out.returncode == 0 and out.stdout.strip().endswith(
        "7 appendix sources. With --json: every field, original titles and links included."
    )
    out = _cli(["ask", "--doc", "ch6", "What is the ILRS?"], index_dir)
    assert out.returncode == 0 and "Marc Julienne" in out.stdout
    out = _cli(["sources", "--kind", "essay"], index_dir)
    assert out.returncode == 2 and "Unknown kind 'essay'" in out.stderr


# --- the chat UI -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_respond_in_compare_mode(bot) -> None:  # type: ignore[no-untyped-def]
    *_, (textbox, chat, history, plain) = respond(
        bot, "joint exercises", [], [], area="military exercises", mode="compare"
    )
    assert textbox == "" and chat[-1]["content"].startswith('<div class="ta-compare">')
    assert history[-1]["content"].startswith("Russian sources: ") and plain.startswith("Russian sources: ")
    *_, (_, chat, _, _) = respond(bot, "", [], [], area="space and cyber", mode="compare")
    assert chat[0]["content"].startswith("What do Russian sources, Chinese sources and Western analysts say")
    *_, (_, chat, _, _) = respond(bot, "", [], [], mode="compare")
    assert "Give a question to compare, or an area." in chat[-1]["content"]


@pytest.fixture(scope="module")
def app_url(bot, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from assistant.frontends.ui.server import serve

    port = free_port()
    app = serve(settings.model_copy(update={"ui_port": port}), bot=bot, block=False)
    url = f"http://127.0.0.1:{port}/"
    wait_until_up(url)
    yield url
    app.close()


@pytest.fixture()
def page(app_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_browser(p)
        page = open_app(browser, app_url, width=1500)
        yield page
        browser.close()


@pytest.mark.slow
def test_browser_compare_mode_shows_three_columns(page, bot) -> None:  # type: ignore[no-untyped-def]
    page.locator("#mode").get_by_text("Compare perspectives", exact=True).click()
    message = ask(page, "How do Russian and Chinese writers differ on joint exercises?").message
    columns = message.locator(".ta-compare .ta-perspective")
    assert columns.count() == 3
    assert columns.locator(".ta-perspective-title").all_inner_texts() == list(PERSPECTIVES)
    # all three measured in one call: the page may still be scrolling to the answer's first line
    boxes = columns.evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return {x: r.x, y: r.y}; })"
    )
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"] and abs(boxes[0]["y"] - boxes[2]["y"]) < 2, (
        boxes
    )  # side by side
    expected = ["Russian source", "Chinese source", "Western analysis chapter"]
    for i, tag in enumerate(expected):
        tags = columns.nth(i).locator(".ta-source .ta-tag").all_inner_texts()
        assert tags and set(tags) <= {tag, "Executive summary (Western analysis)"}, (i, tags)
    numbers = message.locator(".ta-citation .ta-passage-head strong").all_text_contents()
    assert numbers == [f"[{n}]" for n in range(1, len(numbers) + 1)]  # numbered across the columns
    # in the ordinary mode a comparison question is recognised and answered the same way
    page.locator("#mode").get_by_text("Answer", exact=True).click()
    routed = ask(page, "Compare Russian and Chinese views of space cooperation").message
    assert routed.locator(".ta-perspective").count() == 3


@pytest.mark.slow
def test_browser_source_browser_chooses_a_source_to_ask_about(page) -> None:  # type: ignore[no-untyped-def]
    page.locator("#sources-panel > button").first.click()
    rows = page.locator("#source-table tbody tr")
    rows.first.wait_for()
    assert rows.count() == 28
    choose(page, "browse-language", "Chinese")
    page.wait_for_function("() => document.querySelectorAll('#source-table tbody tr').length === 7")
    choose(
        page,
        "browse-source",
        "Jian Feng — ‘Battalion Battle Group Tactics’ and Russian-Chinese Military Exercises",
    )
    page.locator("#ask-source").click()
    page.wait_for_function(
        "() => document.querySelector('#filter-source input').value.startsWith('Jian Feng')"
    )
    message = ask(page, "What does it say about battalion tactical groups?").message
    titles = message.locator(".ta-source > summary em").all_inner_texts()
    assert titles and set(titles) == {
        "‘Battalion Battle Group Tactics’ and Russian-Chinese Military Exercises"
    }


def test_a_column_keeps_to_its_word_budget(bot) -> None:  # type: ignore[no-untyped-def]
    from assistant import Assistant

    question = "How do Russian and Chinese writers differ on joint exercises?"
    unlimited = bot.compare(question)
    short = Assistant(bot.settings.model_copy(update={"comparison_words": 70})).compare(question)
    assert len(short.text.split()) < len(unlimited.text.split())
    for section in short.sections:
        if section.abstained:
            continue
        # the best quotation always; more only while the column stays within the budget
        assert len(section.citations) == 1 or len(re.sub(r"\[\d+\]", "", section.text).split()) <= 70
        assert section.text.split("[")[0] in {s.text.split("[")[0] for s in unlimited.sections}  # same lead


def test_no_quotation_runs_on_into_a_list_items_heading(bot) -> None:  # type: ignore[no-untyped-def]
    answer = bot.compare("How do Russian and Chinese writers differ on joint exercises?")
    for c in answer.citations:
        sentences = [s for s in bot.index.chunk(c.chunk_id).sentences if s in c.quote]
        if len(sentences) > 1:  # a quotation widened to the next sentence ends on a point
            assert c.quote.endswith(sentences[-1]) and len(sentences[-1].split()) >= 6, c.quote
