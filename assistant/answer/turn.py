"""One turn's answer: the only place an answer is composed.

``ask``, ``stream``, the LCEL chain, the perspective comparison (one draft per perspective) and
the benchmark's baseline all come through here: ``draft_answer`` chooses and words the evidence,
``answer_stream`` adds what filters left out, finalizes the citations, and hands a language-model
backend its passages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.answer.broad import compose_broad
from assistant.answer.extractive import compose
from assistant.answer.generate import answer_stream as generated_stream
from assistant.answer.metadata import answer_metadata
from assistant.citations import finalize
from assistant.embed import embed
from assistant.retrieve import Filters, Retrieved, describe_filters
from assistant.types import Answer, Draft

if TYPE_CHECKING:
    import numpy as np

    from assistant.answer.generate import Generator
    from assistant.knowledge import KnowledgeBase
    from assistant.understand.query import Query


@dataclass
class Turn:
    """A question on its way to an answer: analysed, filtered, then retrieved."""

    question: str
    """The question as asked (after validation)."""
    query: Query
    filters: Filters
    found: Retrieved | None = None
    metadata: bool = False
    """Whether the answer is about the report's own metadata (exact; never given to a model)."""
    beyond_filters: bool = False
    """Whether the filters left out the answer and it comes from the rest of the report."""


def retrieve(kb: KnowledgeBase, turn: Turn) -> Turn:
    turn.found = kb.retrieve(turn.query, turn.filters)
    return turn


def topic_vector(kb: KnowledgeBase, query: Query) -> np.ndarray | None:
    """The question without the sources it names, embedded when it differs from the question."""
    if query.topic == query.text:
        return None
    return embed(kb.settings.embedding_model, [query.topic])[0]


def draft_answer(
    kb: KnowledgeBase,
    query: Query,
    found: Retrieved,
    *,
    metadata: bool = True,
    judge: bool = True,
    topic: np.ndarray | None = None,
    filters: Filters | None = None,
    budget: int | None = None,
) -> tuple[Draft, bool]:
    """The answer's text and evidence keys: a metadata answer when ``metadata`` allows and the
    question is about the report itself; with ``filters`` (a whole turn, not a comparison's part),
    the structured answer to a broad question; else the extractive composer (``judge``: whether
    the answerability model may abstain). Returns the draft and whether it is a metadata answer."""
    if query.dangling:
        reason = (
            "This question refers back to something, but nothing was asked before it in this "
            "conversation. Name the source, author or topic you mean."
        )
        return Draft(text=reason, abstained=True), False  # no reading: nothing is known to relate to
    if metadata:
        meta = answer_metadata(query, found, kb.index, kb.descriptors)
        if meta is not None:
            return meta, True
    vector = topic if topic is not None else topic_vector(kb, query)

    def composer(passages: Retrieved) -> Draft:
        return compose(
            query, passages, kb.index, kb.lexical, kb.settings, kb.facts, vector, judge=judge, budget=budget
        )

    if filters is not None:
        broad = compose_broad(kb, query, found, filters, composer)
        if broad is not None:
            return broad, False
    return composer(found), False


def answer(kb: KnowledgeBase, turn: Turn) -> Answer:
    """The extractive answer of a retrieved turn, its citations enforced."""
    *_, final = answer_stream(kb, turn, None)
    assert isinstance(final, Answer)
    return final


def answer_stream(kb: KnowledgeBase, turn: Turn, generator: Generator | None) -> Iterator[str | Answer]:
    """The extractive answer; or with a language model, its tokens and then the enforced answer.

    Abstentions and answers about the report's own metadata stay extractive: the abstention
    checks and the bibliography are exact, and the extractive answer is the fallback anyway.
    """
    if turn.found is None:
        retrieve(kb, turn)
    assert turn.found is not None
    drafted, turn.metadata = draft_answer(
        kb, turn.query, turn.found, metadata=not turn.filters.active(), filters=turn.filters
    )
    notice = ""
    if drafted.abstained and turn.filters.active():
        wider = _beyond_filters(kb, turn)
        if wider is not None:
            drafted, notice = wider
            turn.beyond_filters = True
    extractive = finalize(
        turn.question,
        drafted.text,
        drafted.evidence,
        kb.index,
        kb.corpus,
        abstained=drafted.abstained,
        related=drafted.related,
        notice=notice,
    )
    if generator is None or extractive.abstained or turn.metadata or turn.beyond_filters:
        yield extractive
        return
    yield from generated_stream(
        generator, turn.query.question, turn.found.passages, extractive, kb.index, kb.corpus
    )


def _beyond_filters(kb: KnowledgeBase, turn: Turn) -> tuple[Draft, str] | None:
    """When the filters exclude what answers the question but the rest of the report has it:
    an answer that says so, from the whole report, and a notice naming the filters."""
    found = kb.retrieve(turn.query, Filters())
    wider, _ = draft_answer(kb, turn.query, found, metadata=False, filters=Filters())
    if wider.abstained:
        return None
    where = describe_filters(turn.filters, kb.index.docs)
    wider.text = f"Nothing in {where} addresses this question; the rest of the report does: {wider.text}"
    notice = (
        f"The filters ({where}) leave out every passage that answers this; these sources lie beyond them."
    )
    return wider, notice
