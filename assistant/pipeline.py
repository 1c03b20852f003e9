"""The public Python API: ``Assistant.ask`` (an LCEL runnable underneath) and ``Assistant.search``."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.runnables import Runnable, RunnableLambda

from .answerability import Decision, Model, decide
from .citations import finalize
from .compare import area_question, compare_perspectives, is_comparison
from .compose import Draft, Scored, answer_metadata, compose, descriptor, score_sentences
from .context import Context, around
from .embed import embed
from .errors import AssistantError, InvalidQuestion
from .generate import Generator, answer_stream
from .index import Index, load_index
from .query import Query, analyse
from .retrieve import Engine, Filters, HybridRetriever, Retrieved, describe_filters
from .settings import Settings
from .sources import list_sources
from .text import clean_question, validate_question
from .types import Answer, Citation, Passage, SourceDoc

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

History = list[dict[str, str]]


class Assistant:
    """Question answering over the report with author-and-source citations.

    ``Assistant()`` runs on the embedded defaults; the index is opened (or built) on first use.
    ``Settings.backend`` chooses who writes answers; ``chat_model`` brings any LangChain chat
    model instead (its answers are enforced like those of the built-in backends).
    """

    def __init__(
        self, settings: Settings | None = None, *, chat_model: BaseChatModel | None = None, **overrides: Any
    ) -> None:
        self.settings = settings or Settings(**overrides)
        self._chat_model = chat_model
        self._generator: Generator | None = None
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._corpus = ""
        self._descriptors: dict[str, np.ndarray] = {}
        self._chain: Runnable[dict[str, Any], Answer] | None = None
        self._report_docs: dict[str, SourceDoc] | None = None

    # --- loading ------------------------------------------------------------------------
    def load(self, progress: bool = False) -> Assistant:
        """Open the index now (building it if needed) instead of on the first question."""
        self._ensure(progress)
        self._llm()  # a missing 'llm' extra is reported now, not at the first question
        return self

    def _ensure(self, progress: bool = False) -> Engine:
        if self._engine is not None:
            return self._engine
        with self._lock:
            if self._engine is None:
                index = load_index(self.settings, progress=progress)
                self._corpus = self.settings.corpus_path.read_text(encoding="utf-8")
                docs = list(index.docs.values())
                texts = [descriptor(d) for d in docs]
                vectors = index.derived("descriptors", lambda: embed(self.settings.embedding_model, texts))
                self._descriptors = {d.doc_id: v for d, v in zip(docs, vectors, strict=True)}
                self._engine = Engine(index, self.settings)
        return self._engine

    def _llm(self) -> Generator | None:
        """The answer writer of a language-model backend; None for extractive answers."""
        wanted = self.settings.backend != "extractive" or self._chat_model is not None
        if self._generator is None and wanted:
            self._generator = Generator(self.settings, self._chat_model)
        return self._generator

    @property
    def index(self) -> Index:
        return self._ensure().index

    @property
    def corpus(self) -> str:
        self._ensure()
        return self._corpus

    # --- LangChain ----------------------------------------------------------------------
    def retriever(self, k: int = 8, filters: dict[str, Any] | None = None) -> HybridRetriever:
        """The hybrid retriever as a LangChain ``BaseRetriever``."""
        engine = self._ensure()
        engine.filters(filters)  # refused here, as ask() would refuse it
        return HybridRetriever(engine=engine, k=k, filters=filters)

    @property
    def chain(self) -> Runnable[dict[str, Any], Answer]:
        """The answer pipeline as an LCEL runnable: ``{"question", "history"?, "filters"?} -> Answer``."""
        if self._chain is None:
            self._chain = (
                RunnableLambda(self._prepare, name="analyse_question")
                | RunnableLambda(self._retrieve, name="hybrid_retrieve")
                | RunnableLambda(self._answer, name="compose_cited_answer")
            )
        return self._chain

    # --- public API -----------------------------------------------------------------------
    def ask(
        self,
        question: str,
        history: History | None = None,
        filters: dict[str, Any] | Filters | None = None,
    ) -> Answer:
        """Answer ``question`` with inline ``[n]`` markers that resolve to ``Answer.citations``.

        A question that asks how the perspectives compare ("How do Russian and Chinese writers
        differ on ...") gets the comparison form of ``compare()``, unless filters other than the
        area narrow the sources.
        """
        if isinstance(question, str) and is_comparison(question):
            chosen = Filters.parse(filters)
            if chosen == Filters(area=chosen.area):  # nothing narrower than an area
                return self.compare(question, area=chosen.area, history=history)
        return self.chain.invoke({"question": question, "history": history, "filters": filters})

    def stream(
        self,
        question: str,
        history: History | None = None,
        filters: dict[str, Any] | Filters | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text in pieces, then the final ``Answer`` (with its citations).

        Errors are raised before the first piece, so a caller never shows half an answer. With a
        language model the pieces are its tokens as it writes (with its ``[eN]`` keys); the final
        ``Answer`` is what survived enforcement, or the extractive answer with a notice.
        """
        if self._llm() is None or (isinstance(question, str) and is_comparison(question)):
            answer = self.ask(question, history=history, filters=filters)
        else:
            state = self._retrieve(
                self._prepare({"question": question, "history": history, "filters": filters})
            )
            written = False
            for answer in self._answer_stream(state):
                if isinstance(answer, str):
                    written = True
                    yield answer
            assert isinstance(answer, Answer)
            if written:  # the model's pieces were shown; a fallback replaces them as a whole
                yield answer
                return
        yield from re.findall(r"\S+\s*", answer.text)
        yield answer

    def search(
        self,
        query: str,
        k: int = 8,
        filters: dict[str, Any] | Filters | None = None,
        history: History | None = None,
    ) -> list[Passage]:
        """Ranked passages with scores and citation metadata; ``history`` resolves follow-ups."""
        text = self.validate(query)
        if not isinstance(k, int) or k < 1:
            raise InvalidQuestion("k must be a positive whole number.")
        engine = self._ensure()
        q = analyse(text, self._clean_history(history), engine.catalog)
        return engine.retrieve(q, engine.filters(filters), min(k, 100)).passages

    def answerability(
        self,
        question: str,
        history: History | None = None,
        filters: dict[str, Any] | Filters | None = None,
        model: Model | None = None,
    ) -> Decision | None:
        """The answerability model's verdict on a question (probability, features, what is missing);
        None when no passage comes close at all. ``model`` replaces the shipped one (for fitting)."""
        query, found, scored = self.evidence(question, history, filters)
        if not scored:
            return None
        engine = self._ensure()
        return decide(query, found, scored, engine.index, engine.facts, self.settings.evidence_chunks, model)

    def evidence(
        self,
        question: str,
        history: History | None = None,
        filters: dict[str, Any] | Filters | None = None,
    ) -> tuple[Query, Retrieved, list[Scored]]:
        """The analysed question, its retrieved passages and its scored sentences, as ``ask`` sees them."""
        state = self._retrieve(self._prepare({"question": question, "history": history, "filters": filters}))
        engine = self._ensure()
        query, found = state["query"], state["found"]
        scored = score_sentences(
            query, found, engine.index, engine.lexical, self.settings, engine.facts, self._topic_vector(query)
        )
        return query, found, scored

    def _topic_vector(self, query: Query) -> np.ndarray | None:
        """The question without the sources it names, embedded when it differs from the question."""
        if query.topic == query.text:
            return None
        return embed(self.settings.embedding_model, [query.topic])[0]

    def compare(
        self, question: str | None = None, area: str | None = None, history: History | None = None
    ) -> Answer:
        """Russian sources, Chinese sources and Western analysis side by side: one ``Section`` per
        perspective, each cited only to that perspective's documents, numbered across the answer.

        With only an ``area``, compares what each perspective says about that area.
        """
        chosen = Filters.parse({"area": area}).area
        if question is None or (isinstance(question, str) and not question.strip()):
            if not chosen:
                raise InvalidQuestion("Give a question to compare, or an area.")
            question = area_question(chosen)
        text = self.validate(question)
        engine = self._ensure()
        return compare_perspectives(engine, self._corpus, text, chosen, self._clean_history(history))

    def sources(self, **filters: str | None) -> list[SourceDoc]:
        """The report's chapters and appendix sources, in report order, with their metadata.

        Filters: ``area``, ``language``, ``kind`` (``summary`` and ``bio`` list those instead),
        ``author``, ``perspective``, ``doc_id``. Needs only the report, not the index.
        """
        chosen = Filters.parse(filters)
        if self._engine is not None:
            docs = self._engine.index.docs
        else:
            if self._report_docs is None:
                from .parse import parse_report

                self._report_docs = parse_report(self.settings.corpus_path).docs
            docs = self._report_docs
        return list_sources(docs.values(), chosen.check(docs))

    def context(self, citation: Citation, before: int = 1, after: int = 1) -> Context:
        """A citation's passage in its surroundings: its paragraph with the quote marked, the
        paragraphs before and after, and more to read on. Needs only the report, not the index."""
        if not self._corpus:
            self._corpus = self.settings.corpus_path.read_text(encoding="utf-8")
        found = around(self._corpus, citation, before, after)
        if found is None:
            raise AssistantError(f"Citation [{citation.number}] has no place in the report to show.")
        return found

    def validate(self, question: object) -> str:
        return validate_question(question, self.settings.max_question_chars)

    def _clean_history(self, history: object) -> History:
        if not history:
            return []
        if not isinstance(history, list):
            raise InvalidQuestion("history must be a list of {'role', 'content'} messages.")
        limit = self.settings.max_question_chars * 4
        return [
            {"role": str(t.get("role")), "content": clean_question(t["content"])[:limit]}
            for t in history
            if isinstance(t, dict) and isinstance(t.get("content"), str)
        ]

    # --- chain steps ------------------------------------------------------------------------
    def _prepare(self, inputs: dict[str, Any]) -> dict[str, Any]:
        question = self.validate(inputs.get("question"))
        history = self._clean_history(inputs.get("history"))
        engine = self._ensure()
        filters = engine.filters(inputs.get("filters"))
        standalone = self._standalone(question, history)
        if standalone:
            query = analyse(standalone, [], engine.catalog)
        else:
            query = analyse(question, history, engine.catalog)
        return {"query": query, "filters": filters, "question": question}

    def _standalone(self, question: str, history: History) -> str | None:
        """With a language model, a follow-up rewritten by the model to stand alone (else None: the
        embedded follow-up handling of ``query.analyse`` applies)."""
        generator = self._llm()
        if generator is None or not history:
            return None
        return generator.standalone(question, history)

    def _retrieve(self, state: dict[str, Any]) -> dict[str, Any]:
        engine = self._ensure()
        k = max(self.settings.evidence_chunks, 10)
        state["found"] = engine.retrieve(state["query"], state["filters"], k)
        return state

    def _answer(self, state: dict[str, Any]) -> Answer:
        *_, answer = self._answer_stream(state)
        assert isinstance(answer, Answer)
        return answer

    def _answer_stream(self, state: dict[str, Any]) -> Iterator[str | Answer]:
        """The extractive answer; or with a language model, its tokens and then the enforced answer.

        Abstentions and answers about the report's own metadata stay extractive: the abstention
        checks and the bibliography are exact, and the extractive answer is the fallback anyway.
        """
        answer = self._extractive(state)
        generator = self._llm()
        if generator is None or answer.abstained or state.get("metadata") or state.get("beyond_filters"):
            yield answer
            return
        engine = self._ensure()
        passages = state["found"].passages
        yield from answer_stream(
            generator, state["query"].question, passages, answer, engine.index, self._corpus
        )

    def _extractive(self, state: dict[str, Any]) -> Answer:
        engine = self._ensure()
        query, found = state["query"], state["found"]
        draft = None
        if not state["filters"].active():
            draft = answer_metadata(query, found, engine.index, self._descriptors)
            state["metadata"] = draft is not None
        if draft is None:
            draft = compose(
                query,
                found,
                engine.index,
                engine.lexical,
                self.settings,
                engine.facts,
                self._topic_vector(query),
            )
        notice = ""
        if draft.abstained and state["filters"].active():
            wider = self._beyond_filters(query, state["filters"])
            if wider is not None:
                draft, notice = wider
                state["beyond_filters"] = True
        return finalize(
            state.get("question", query.question),
            draft.text,
            draft.evidence,
            engine.index,
            self._corpus,
            abstained=draft.abstained,
            related=draft.related,
            notice=notice,
        )

    def _beyond_filters(self, query: Query, filters: Filters) -> tuple[Draft, str] | None:
        """When the filters exclude what answers the question but the rest of the report has it:
        an answer that says so, from the whole report, and a notice naming the filters."""
        engine = self._ensure()
        k = max(self.settings.evidence_chunks, 10)
        found = engine.retrieve(query, Filters(), k)
        draft = compose(
            query, found, engine.index, engine.lexical, self.settings, engine.facts, self._topic_vector(query)
        )
        if draft.abstained:
            return None
        where = describe_filters(filters, engine.index.docs)
        draft.text = f"Nothing in {where} addresses this question; the rest of the report does: {draft.text}"
        notice = (
            f"The filters ({where}) leave out every passage that answers this; these sources lie beyond them."
        )
        return draft, notice
