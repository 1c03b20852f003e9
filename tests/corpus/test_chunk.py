"""Chunks: inside one document and section, within the model window, covering every block once."""

from __future__ import annotations

import pytest

from assistant.corpus.chunk import build_chunks, header_for, split_sentences
from assistant.corpus.parse import parse_report
from assistant.embed import count_tokens
from tests.conftest import REPORT

MODEL = "all-MiniLM-L6-v2"


def _count(text: str) -> int:
    return count_tokens(MODEL, text)


@pytest.fixture(scope="module")
def parsed():  # type: ignore[no-untyped-def]
    report = parse_report(REPORT)
    return report, build_chunks(report, 256, 200, _count)


def test_chunks_fit_the_model_window(parsed) -> None:  # type: ignore[no-untyped-def]
    _, chunks = parsed
    # +2 for [CLS] and [SEP]: what the model actually sees
    assert max(_count(c.embed_text) + 2 for c in chunks) <= 256


def test_chunks_stay_in_one_document_and_section(parsed) -> None:  # type: ignore[no-untyped-def]
    report, chunks = parsed
    for chunk in chunks:
        blocks = [b for b in report.blocks if b.doc_id == chunk.doc_id and b.section == chunk.section]
        assert blocks, chunk.chunk_id
        for piece in chunk.text.split("\n\n"):
            assert any(piece in b.text for b in blocks), chunk.chunk_id
        assert chunk.header == header_for(report.docs[chunk.doc_id], chunk.section)


def test_every_block_lands_in_exactly_one_chunk(parsed) -> None:  # type: ignore[no-untyped-def]
    report, chunks = parsed
    for block in report.blocks:
        own = [c for c in chunks if c.doc_id == block.doc_id and c.section == block.section]
        whole = [c for c in own if block.text in c.text.split("\n\n")]
        if whole:
            assert len(whole) == 1, block.text[:60]
            continue
        # a block longer than the window is split at sentence boundaries into consecutive chunks
        parts = [p for c in own for p in c.text.split("\n\n") if p in block.text]
        assert " ".join(parts) == block.text, block.text[:60]


def test_sentences_are_verbatim_and_cover_the_text(parsed, corpus_text: str) -> None:  # type: ignore[no-untyped-def]
    _, chunks = parsed
    for chunk in chunks:
        for sentence in chunk.sentences:
            assert sentence in chunk.text
            assert sentence in corpus_text
        assert sum(len(s) for s in chunk.sentences) >= len(chunk.text.replace("\n\n", "")) - 3 * len(
            chunk.sentences
        )


def test_chunk_ids_are_unique_and_stable(parsed) -> None:  # type: ignore[no-untyped-def]
    _, chunks = parsed
    ids = [c.chunk_id for c in chunks]
    assert len(ids) == len(set(ids))
    again = build_chunks(parse_report(REPORT), 256, 200, _count)
    assert [c.chunk_id for c in again] == ids
    assert [c.text for c in again] == [c.text for c in chunks]


def test_headers_name_author_and_publication(parsed) -> None:  # type: ignore[no-untyped-def]
    _, chunks = parsed
    gabuev = next(c for c in chunks if c.doc_id.startswith("src-alexander-gabuev"))
    assert "Alexander Gabuev and Vasily Kashin" in gabuev.header
    assert "Carnegie Moscow Center" in gabuev.header
    assert "Russian source" in gabuev.header


def test_split_sentences_keeps_abbreviations_and_initials() -> None:
    text = (
        "The U.S. Space Force was founded in 2019. N. Eismont of the Institute notes that space is hard. "
        "Yuri V. Morozov disagrees! Is it so? “Yes,” he said. The end"
    )
    assert split_sentences(text) == [
        "The U.S. Space Force was founded in 2019.",
        "N. Eismont of the Institute notes that space is hard.",
        "Yuri V. Morozov disagrees!",
        "Is it so?",
        "“Yes,” he said.",
        "The end",
    ]
