"""Citation enforcement with a small fake index: ids in, numbers out, unknown ids dropped."""

from __future__ import annotations

from types import SimpleNamespace

from assistant.citations import check, finalize
from assistant.types import Answer, Chunk, Evidence, SourceDoc

CORPUS = "Alpha sentence one. Beta sentence two. Gamma sentence three."


def _index() -> SimpleNamespace:
    doc = SourceDoc(doc_id="d1", kind="chapter", title="A Chapter", authors=("Ann Author", "Bo Writer"))
    chunks = {
        f"d1/00{i}": Chunk(f"d1/00{i}", "d1", "Intro", text, (text,), "h", i)
        for i, text in enumerate(["Alpha sentence one.", "Beta sentence two.", "Gamma sentence three."])
    }

    def chunk(chunk_id: str) -> Chunk:
        return chunks[chunk_id]

    return SimpleNamespace(docs={"d1": doc}, chunk=chunk, chunks=list(chunks.values()))


def test_a_chapter_quoting_an_appendix_author_cites_both() -> None:
    corpus = "According to Bartosh, hybrid war is global. Hybrid war is global, Bartosh writes."
    chapter = SourceDoc(doc_id="ch1", kind="chapter", title="A Chapter", authors=("Katri Pynnoniemi",))
    source = SourceDoc(
        doc_id="ap1", kind="appendix", title="Bear and Panda", authors=("Alexandr Bartosh",),
        publication="Nezavisimaya Gazeta", date="2019", language="Russian",
    )  # fmt: skip
    first, second = corpus.split(". ")
    chunks = [
        Chunk("ch1/000", "ch1", "S", first + ".", (first + ".",), "h", 0),
        Chunk("ap1/000", "ap1", "S", second, (second,), "h", 1),
    ]
    index = SimpleNamespace(
        docs={"ch1": chapter, "ap1": source}, chunks=chunks, chunk={c.chunk_id: c for c in chunks}.__getitem__
    )
    evidence = {"a": Evidence("ch1/000", first + "."), "b": Evidence("ap1/000", second)}
    answer = finalize("q", "One [a]. Two [b].", evidence, index, corpus)  # type: ignore[arg-type]
    reported, own = answer.citations
    assert reported.authors == "Katri Pynnoniemi" and reported.reports_doc_id == "ap1"
    assert reported.reports.startswith("Alexandr Bartosh, *Bear and Panda*")
    assert own.reports == "" and own.reports_doc_id == ""  # a source speaks for itself


def test_keys_become_numbers_in_order_of_first_use() -> None:
    evidence = {"x": Evidence("d1/001", "Beta sentence two."), "y": Evidence("d1/000", "Alpha sentence one.")}
    answer = finalize("q", "Beta [x]. Alpha [y]. Beta again [x].", evidence, _index(), CORPUS)  # type: ignore[arg-type]
    assert answer.text == "Beta [1]. Alpha [2]. Beta again [1]."
    assert [(c.number, c.chunk_id) for c in answer.citations] == [(1, "d1/001"), (2, "d1/000")]
    assert answer.citations[0].authors == "Ann Author and Bo Writer"
    assert answer.citations[0].section == "Intro"
    assert check(answer, CORPUS) == []


def test_unknown_keys_and_unverifiable_quotes_are_dropped() -> None:
    evidence = {
        "ok": Evidence("d1/002", "Gamma sentence three."),
        "invented": Evidence("d1/000", "A sentence the report never says."),
        "ghost": Evidence("nope/000", "Alpha sentence one."),
    }
    text = "One [ok]. Two [invented]. Three [ghost]. Four [never-given]."
    answer = finalize("q", text, evidence, _index(), CORPUS)  # type: ignore[arg-type]
    assert answer.text == "One [1]. Two. Three. Four."
    assert len(answer.citations) == 1
    assert check(answer, CORPUS) == []


def test_check_finds_broken_answers() -> None:
    answer = Answer(question="q", text="Claim [2].", citations=[])
    assert "marker [2] has no citation" in check(answer, CORPUS)
    good = finalize("q", "A [k].", {"k": Evidence("d1/000", "Alpha sentence one.")}, _index(), CORPUS)  # type: ignore[arg-type]
    good.citations[0].quote = "tampered"
    assert any("not verbatim" in p for p in check(good, CORPUS))


def test_every_citation_knows_its_place_in_the_corpus(bot, corpus_text: str) -> None:  # type: ignore[no-untyped-def]
    from assistant.context import paragraphs

    spans = paragraphs(corpus_text).spans
    for question in (
        "What did Russia agree to sell China in 2015?",
        "What is the International Lunar Research Station?",
        "How do Chinese authors describe color revolutions?",
    ):
        for c in bot.ask(question).citations:
            assert corpus_text[c.start : c.end] == c.quote
            start, end = spans[c.paragraph]
            assert start <= c.start and c.end <= end  # the quote lies inside its paragraph
            context = bot.context(c)
            a, b = context.mark
            assert context.paragraph[a:b] == c.quote
