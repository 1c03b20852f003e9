"""Hybrid retrieval on the real index: fusion, filters, finding passages by author, LangChain."""

from __future__ import annotations

import itertools

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from assistant.errors import InvalidFilter
from assistant.report import AREAS
from assistant.retrieve import Filters

pytestmark = pytest.mark.slow


def test_finds_passages_by_author_and_publication(bot) -> None:  # type: ignore[no-untyped-def]
    top = bot.search("What does Bartosh argue about color revolutions?", k=5)
    assert top[0].doc.authors_display == "Alexandr Bartosh"
    assert sum(p.doc.authors_display == "Alexandr Bartosh" for p in top) >= 3
    courier = bot.search(
        "What did the Military-Industrial Courier article by Vinokurov say about joint patrols?", k=3
    )
    assert courier[0].doc.authors_display == "Vladimir Vinokurov"
    gabuev = bot.search("Gabuev and Kashin on the 2015 S-400 sale", k=3)
    assert gabuev[0].doc.title == "Armed Friendship: How Russia and China Trade Arms"


def test_scores_are_ranked_and_carry_metadata(bot) -> None:  # type: ignore[no-untyped-def]
    hits = bot.search("lunar research station", k=8)
    assert [p.rank for p in hits] == list(range(1, 9))
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    data = hits[0].to_dict()
    for key in ("chunk_id", "authors", "title", "publication", "date", "url", "language", "area", "section"):
        assert key in data


@pytest.mark.parametrize(
    ("filters", "field", "value"),
    [
        ({"area": "space"}, "area", AREAS[2]),
        ({"area": "hybrid warfare"}, "area", AREAS[3]),
        ({"language": "chinese"}, "language", "Chinese"),
        ({"kind": "chapter"}, "kind", "chapter"),
        ({"perspective": "Russian sources"}, "perspective", "Russian sources"),
    ],
)
def test_filters_return_only_matching_passages(bot, filters, field, value) -> None:  # type: ignore[no-untyped-def]
    hits = bot.search("military cooperation between Russia and China", k=20, filters=filters)
    assert hits
    for p in hits:
        got = p.doc.perspective if field == "perspective" else getattr(p.doc, field)
        assert got == value


def test_author_filter(bot) -> None:  # type: ignore[no-untyped-def]
    hits = bot.search("space cooperation", k=10, filters={"author": "kashin"})
    assert hits and all("Kashin" in p.doc.authors_display for p in hits)


def test_bad_filters_are_clear_errors(bot) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidFilter, match="Unknown filter 'colour'"):
        bot.search("x", filters={"colour": "red"})
    with pytest.raises(InvalidFilter, match="choose one of"):
        bot.search("x", filters={"area": "underwater basket weaving"})
    with pytest.raises(InvalidFilter):
        Filters.parse({"area": 3})
    # values only the report knows are checked against it: an unknown one would only abstain
    with pytest.raises(InvalidFilter, match="No author in the report is called 'Nobody Atall'"):
        bot.search("space", k=3, filters={"author": "Nobody Atall"})
    with pytest.raises(InvalidFilter, match=r"did you mean 'Vasili?y Kashin'"):
        bot.ask("What is the S-400?", filters={"author": "Kasin"})
    with pytest.raises(InvalidFilter, match="No document has the id 'ch99'"):
        bot.retriever(filters={"doc_id": "ch99"})
    with pytest.raises(InvalidFilter, match="Filter names must be text"):
        bot.ask("What is the S-400?", filters={1: "x", "foo": "y"})
    with pytest.raises(InvalidFilter, match="Unknown area 'c'"):  # no guessing from a fragment
        bot.ask("What is the S-400?", filters={"area": "c"})


@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_single_retrievers_for_baselines(bot, mode: str) -> None:  # type: ignore[no-untyped-def]
    from assistant.understand.query import analyse

    engine = bot.knowledge.engine
    q = analyse("BeiDou GLONASS satellite navigation", None, engine.catalog)
    found = engine.retrieve(q, Filters(), 5, mode=mode)
    assert len(found.passages) == 5
    assert any("GLONASS" in p.chunk.text for p in found.passages)


def test_langchain_retriever(bot) -> None:  # type: ignore[no-untyped-def]
    retriever = bot.retriever(k=4, filters={"language": "Russian"})
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("joint air patrols over the Sea of Japan")
    assert len(docs) == 4 and all(isinstance(d, Document) for d in docs)
    for d in docs:
        assert d.metadata["language"] == "Russian"
        assert d.metadata["authors"] and d.metadata["title"] and d.metadata["chunk_id"]
        assert d.page_content in bot.corpus or all(
            part in bot.corpus for part in d.page_content.split("\n\n")
        )


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({1: "x"}, "Filter names must be text"),
        ({"are": "space"}, "did you mean 'area'"),
        ({"area": "c"}, "Unknown area 'c'"),  # no guessing from a fragment
        ({"area": "militray exercises"}, "did you mean 'military exercises'"),
        ({"language": "Russ"}, "Unknown language"),
        ({"author": "x" * 1_000_000}, "too long"),
    ],
)
def test_filters_are_validated_without_guessing(filters: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidFilter, match=message):
        Filters.parse(filters)


def test_whole_words_of_an_area_name_it() -> None:
    assert Filters.parse({"area": "exercises"}).area == "military exercises"
    assert Filters.parse({"area": "Space and Cyber"}).area == "space and cyber"
    assert Filters.parse({"perspective": "chinese"}).perspective == "Chinese sources"


def test_the_retriever_refuses_what_ask_refuses(bot) -> None:  # type: ignore[no-untyped-def]
    from assistant import InvalidQuestion

    with pytest.raises(InvalidQuestion):
        bot.retriever().invoke("   ")
    assert bot.retriever(k=2).invoke("S-400 sale")
