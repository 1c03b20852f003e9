"""The public Python API: ``Assistant.ask`` (an LCEL runnable underneath) and ``Assistant.search``."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from langchain_core.runnables import Runnable, RunnableLambda

from .citations import finalize
from .compose import answer_metadata, compose, descriptor
from .embed import embed
from .errors import InvalidQuestion
from .index import Index, load_index
from .query import analyse
from .retrieve import Engine, Filters, HybridRetriever
from .settings import Settings
from .text import clean_question
from .types import Answer, Passage

History = list[dict[str, str]]


class Assistant:
    """Question answering over the report with author-and-source citations.

    ``Assistant()`` runs on the embedded defaults; the index is opened (or built) on first use.
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = settings or Settings(**overrides)
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._corpus = ""
        self._descriptors: dict[str, np.ndarray] = {}
        self._chain: Runnable[dict[str, Any], Answer] | None = None

    # --- loading ------------------------------------------------------------------------
    def load(self, progress: bool = False) -> Assistant:
        """Open the index now (building it if needed) instead of on the first question."""
        self._ensure(progress)
        return self

    def _ensure(self, progress: bool = False) -> Engine:
        if self._engine is not None:
            return self._engine
        with self._lock:
            if self._engine is None:
                index = load_index(self.settings, progress=progress)
                self._corpus = self.settings.corpus_path.read_text(encoding="utf-8")
                docs = list(index.docs.values())
                vectors = embed(self.settings.embedding_model, [descriptor(d) for d in docs])
                self._descriptors = {d.doc_id: v for d, v in zip(docs, vectors, strict=True)}
                self._engine = Engine(index, self.settings)
        return self._engine

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
        Filters.parse(filters)
        return HybridRetriever(engine=self._ensure(), k=k, filters=filters)

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
        """Answer ``question`` with inline ``[n]`` markers that resolve to ``Answer.citations``."""
        return self.chain.invoke({"question": question, "history": history, "filters": filters})

    def stream(
        self,
        question: str,
        history: History | None = None,
        filters: dict[str, Any] | Filters | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text in pieces, then the final ``Answer`` (with its citations).

        Errors are raised before the first piece, so a caller never shows half an answer.
        """
        answer = self.ask(question, history=history, filters=filters)
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
        return engine.retrieve(q, Filters.parse(filters), min(k, 100)).passages

    def validate(self, question: object) -> str:
        if not isinstance(question, str):
            raise InvalidQuestion("The question must be text.")
        text = clean_question(question)
        if not text:
            raise InvalidQuestion("Please type a question; this one is empty.")
        limit = self.settings.max_question_chars
        if len(text) > limit:
            raise InvalidQuestion(
                f"The question is too long ({len(text):,} characters); please keep it under {limit:,}."
            )
        if not any(ch.isalnum() for ch in text):
            raise InvalidQuestion("The question has no words in it; please rephrase.")
        return text

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
        filters = Filters.parse(inputs.get("filters"))
        engine = self._ensure()
        query = analyse(question, history, engine.catalog)
        return {"query": query, "filters": filters}

    def _retrieve(self, state: dict[str, Any]) -> dict[str, Any]:
        engine = self._ensure()
        k = max(self.settings.evidence_chunks, 10)
        state["found"] = engine.retrieve(state["query"], state["filters"], k)
        return state

    def _answer(self, state: dict[str, Any]) -> Answer:
        engine = self._ensure()
        query, found = state["query"], state["found"]
        draft = None
        if not state["filters"].active():
            draft = answer_metadata(query, found, engine.index, self._descriptors)
        if draft is None:
            topic_vector = None
            if query.topic != query.text:
                topic_vector = embed(self.settings.embedding_model, [query.topic])[0]
            draft = compose(query, found, engine.index, engine.lexical, self.settings, topic_vector)
        return finalize(
            query.question,
            draft.text,
            draft.evidence,
            engine.index,
            self._corpus,
            abstained=draft.abstained,
            related=draft.related,
        )
