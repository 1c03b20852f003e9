"""The knowledge base: everything answering reads, opened once by one factory.

The index (chunks, vectors, the Chroma collection), the lexical index, the catalog of what
questions can name, spaCy's analysis of every report sentence, the report's text (for verifying
quotations) and the embedded document descriptors (for questions about the report's metadata).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.answer.metadata import descriptor
from assistant.embed import embed
from assistant.retrieve import Engine, Filters, Retrieved
from assistant.settings import Settings
from assistant.store import load_index

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np

    from assistant.answer.answerability import ReportFacts
    from assistant.retrieve import Lexical
    from assistant.store.index import Index
    from assistant.understand.query import Catalog, Query


@dataclass(frozen=True)
class KnowledgeBase:
    """What every answer is drawn from and checked against; see ``open_knowledge``."""

    settings: Settings
    engine: Engine
    corpus: str
    """The report's text: quotations are verified against it."""
    descriptors: dict[str, np.ndarray]
    """A short embedded description of each document, for metadata questions."""

    @property
    def index(self) -> Index:
        return self.engine.index

    @property
    def lexical(self) -> Lexical:
        return self.engine.lexical

    @property
    def catalog(self) -> Catalog:
        return self.engine.catalog

    @property
    def facts(self) -> ReportFacts:
        return self.engine.facts

    def filters(self, value: Filters | Mapping[str, Any] | None) -> Filters:
        """``value`` validated against this report's documents."""
        return self.engine.filters(value)

    def retrieve(self, query: Query, filters: Filters, k: int | None = None) -> Retrieved:
        """Hybrid retrieval of the passages for ``query`` (``k`` defaults to what answering reads)."""
        return self.engine.retrieve(query, filters, k or max(self.settings.evidence_chunks, 10))


def open_knowledge(settings: Settings, *, progress: bool = False) -> KnowledgeBase:
    """Open the index (building it if needed) and everything derived from it, cached per build."""
    index = load_index(settings, progress=progress)
    corpus = settings.corpus_path.read_text(encoding="utf-8")
    docs = list(index.docs.values())
    texts = [descriptor(d) for d in docs]
    vectors = index.derived("descriptors", lambda: embed(settings.embedding_model, texts))
    return KnowledgeBase(
        settings=settings,
        engine=Engine(index, settings),
        corpus=corpus,
        descriptors={d.doc_id: v for d, v in zip(docs, vectors, strict=True)},
    )
