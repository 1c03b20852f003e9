"""Two-level attribution: a chapter passage that reports a translated source names both."""

from __future__ import annotations

from typing import Any

from assistant.reported import reported_source
from assistant.types import Answer, Citation


def test_a_chapter_passage_reporting_an_appendix_author_names_both(bot: Any) -> None:
    answer = bot.ask("What does Bartosh say about proxy wars and color revolutions?")
    reporting = [c for c in answer.citations if c.reports]
    assert reporting, answer.format_plain()
    c = reporting[0]
    # who wrote the passage, and whom it reports, with that source's appendix entry
    assert c.authors == "Katri Pynnöniemi" and c.kind == "chapter"
    assert c.reports.startswith("Alexandr Bartosh, *") and bot.index.docs[c.reports_doc_id].kind == "appendix"
    assert "Bartosh" in c.quote
    assert c.attribution == f"{c.reports}, reported in {c.label}"
    assert f"    reporting: {c.reports}" in answer.format_plain()


def test_who_says_leads_with_the_reported_author(bot: Any) -> None:
    answer = bot.ask(
        "Who says that hybrid war is evolving into a multi-dimensional inter-civilizational conflict?"
    )
    assert "Alexandr Bartosh, as reported by Katri Pynnöniemi" in answer.text, answer.text


def test_only_passages_naming_an_appendix_author_report_one(bot: Any) -> None:
    index = bot.index
    reported: dict[str, int] = {}
    for chunk in index.chunks:
        doc = index.docs[chunk.doc_id]
        for sentence in chunk.sentences:
            source = reported_source(index, doc, sentence)
            if source is None:
                continue
            assert doc.kind == "chapter" or doc.doc_id == "summary"
            assert source.kind == "appendix"
            surnames = [
                a.split()[0] if source.language == "Chinese" else a.split()[-1] for a in source.authors
            ]
            assert any(s.lower() in sentence.lower() for s in surnames), (sentence, source.authors)
            reported[source.doc_id] = reported.get(source.doc_id, 0) + 1
    assert len(reported) >= 8  # the chapters report many of the translated sources
    # appendix passages speak for themselves
    appendix = next(d for d in index.docs.values() if d.kind == "appendix")
    assert reported_source(index, appendix, "According to Bartosh, hybrid war is evolving.") is None


def test_plain_and_markdown_forms_carry_the_reported_source() -> None:
    from assistant.frontends.export import answer_markdown

    c = Citation(
        1,
        "ch7-3",
        "chapter",
        "Katri Pynnöniemi",
        "The Global Hybrid War",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "q",
        label="Katri Pynnöniemi, *The Global Hybrid War*",
        reports="Alexandr Bartosh, *Bear and Panda*",
    )
    answer = Answer("q", "text [1]", [c])
    assert "    reporting: Alexandr Bartosh, *Bear and Panda*" in answer.format_plain()
    assert ", reporting Alexandr Bartosh, *Bear and Panda*" in answer_markdown(answer)
    plain = Citation(2, "x", "chapter", "A", "T", "", "", "", "", "", "", "", "q", label="A, *T*")
    assert plain.attribution == "A, *T*" and "reporting" not in Answer("q", "t [2]", [plain]).format_plain()
