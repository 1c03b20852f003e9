"""The public Python API: ``Assistant.ask`` (an LCEL runnable underneath) and ``Assistant.search``."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableLambda

from assistant.answer.answerability import Decision, Model, decide
from assistant.answer.compare import area_question, compare_perspectives, is_comparison
from assistant.answer.extractive import score_sentences
from assistant.answer.generate import Generator
from assistant.answer.turn import Turn, answer_stream, topic_vector
from assistant.answer.turn import retrieve as turn_retrieve
from assistant.context import Context, around
from assistant.conversation import Conversation
from assistant.errors import AssistantError, InvalidQuestion
from assistant.knowledge import KnowledgeBase, open_knowledge
from assistant.retrieve import Filters, HybridRetriever, Retrieved
from assistant.settings import Settings
from assistant.sources import list_sources
from assistant.store.index import Index
from assistant.text import clean_question, validate_question
from assistant.types import Answer, Citation, Passage, Scored, SourceDoc
from assistant.understand.query import Query, analyse

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

History = list[dict[str, Any]]
"""Messages ``{"role", "content"}``; an answer may also carry ``"sources"``, the ids of the
documents it cited."""


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
        self._knowledge: KnowledgeBase | None = None
        self._corpus = ""
        self._chain: Runnable[dict[str, Any], Answer] | None = None
        self._report_docs: dict[str, SourceDoc] | None = None

    # --- loading ------------------------------------------------------------------------
    def load(self, progress: bool = False) -> Assistant:
        """Open the index now (building it if needed) instead of on the first question."""
        self._ensure(progress)
        self._llm()  # a missing 'llm' extra is reported now, not at the first question
        return self

    def _ensure(self, progress: bool = False) -> KnowledgeBase:
        if self._knowledge is not None:
            return self._knowledge
        with self._lock:
            if self._knowledge is None:
                self._knowledge = open_knowledge(self.settings, progress=progress)
        return self._knowledge

    @property
    def knowledge(self) -> KnowledgeBase:
        """The index, lexical index, catalog, sentence analyses and report text answers come from."""
        return self._ensure()

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
        return self._ensure().corpus

    # --- LangChain ----------------------------------------------------------------------
    def retriever(self, k: int = 8, filters: dict[str, Any] | None = None) -> HybridRetriever:
        """The hybrid retriever as a LangChain ``BaseRetriever``."""
        kb = self._ensure()
        kb.filters(filters)  # refused here, as ask() would refuse it
        return HybridRetriever(engine=kb.engine, k=k, filters=filters)

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
    def conversation(self, filters: dict[str, Any] | Filters | None = None) -> Conversation:
        """A conversation: ``.ask()`` answers each question in the context of the turns before it
        (their questions, answers and cited documents); ``.turns`` holds them; ``.clear()``."""
        return Conversation(self, filters)

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
            inputs = {"question": question, "history": history, "filters": filters}
            turn = self._retrieve(self._prepare(inputs))
            written = False
            for answer in answer_stream(self._ensure(), turn, self._llm()):
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
        kb = self._ensure()
        turn = self._retrieve(self._prepare({"question": question, "history": history, "filters": filters}))
        assert turn.found is not None
        query, found = turn.query, turn.found
        scored = score_sentences(
            query, found, kb.index, kb.lexical, self.settings, kb.facts, topic_vector(kb, query)
        )
        return query, found, scored

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
        return compare_perspectives(self._ensure(), text, chosen, self._clean_history(history))

    def sources(self, **filters: str | None) -> list[SourceDoc]:
        """The report's chapters and appendix sources, in report order, with their metadata.

        Filters: ``area``, ``language``, ``kind`` (``summary`` and ``bio`` list those instead),
        ``author``, ``perspective``, ``doc_id``. Needs only the report, not the index.
        """
        chosen = Filters.parse(filters)
        if self._knowledge is not None:
            docs = self._knowledge.index.docs
        else:
            if self._report_docs is None:
                from assistant.corpus.parse import parse_report

                self._report_docs = parse_report(self.settings.corpus_path).docs
            docs = self._report_docs
        return list_sources(docs.values(), chosen.check(docs))

    def context(self, citation: Citation, before: int = 1, after: int = 1) -> Context:
        """A citation's passage in its surroundings: its paragraph with the quote marked, the
        paragraphs before and after, and more to read on. Needs only the report, not the index."""
        if self._knowledge is not None:
            self._corpus = self._knowledge.corpus
        elif not self._corpus:
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
        cleaned: History = []
        for t in history:
            if not (isinstance(t, dict) and isinstance(t.get("content"), str)):
                continue
            message: dict[str, Any] = {
                "role": str(t.get("role")),
                "content": clean_question(t["content"])[:limit],
            }
            sources = t.get("sources")
            if isinstance(sources, list):  # the documents an answer cited (``Conversation`` records them)
                message["sources"] = [str(d) for d in sources[:50] if isinstance(d, str)]
            cleaned.append(message)
        return cleaned

    # --- chain steps ------------------------------------------------------------------------
    def _prepare(self, inputs: dict[str, Any]) -> Turn:
        question = self.validate(inputs.get("question"))
        history = self._clean_history(inputs.get("history"))
        kb = self._ensure()
        filters = kb.filters(inputs.get("filters"))
        standalone = self._standalone(question, history)
        query = analyse(standalone or question, [] if standalone else history, kb.catalog)
        return Turn(question=question, query=query, filters=filters)

    def _standalone(self, question: str, history: History) -> str | None:
        """With a language model, a follow-up rewritten by the model to stand alone (else None: the
        embedded follow-up handling of ``query.analyse`` applies)."""
        generator = self._llm()
        if generator is None or not history:
            return None
        return generator.standalone(question, history)

    def _retrieve(self, turn: Turn) -> Turn:
        return turn_retrieve(self._ensure(), turn)

    def _answer(self, turn: Turn) -> Answer:
        *_, answer = answer_stream(self._ensure(), turn, self._llm())
        assert isinstance(answer, Answer)
        return answer
