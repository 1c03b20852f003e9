"""Hybrid retrieval: dense (Chroma) and lexical (BM25) rankings fused by reciprocal rank fusion,
with metadata filters, exposed as a LangChain ``BaseRetriever``."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from rank_bm25 import BM25Okapi

from assistant.adapter import adapt, load_adapter
from assistant.answer.answerability import ReportFacts
from assistant.embed import embed
from assistant.errors import IndexUnavailable, InvalidFilter
from assistant.report import AREAS, PERSPECTIVES
from assistant.settings import Settings
from assistant.store.index import Index
from assistant.text import canonical_name, fold, terms
from assistant.types import Passage, SourceDoc, citation_fields
from assistant.understand.query import Catalog, Query

KINDS = ("summary", "chapter", "appendix", "bio")
LANGUAGES = ("Russian", "Chinese", "English")


class Filters(BaseModel):
    """Optional restrictions; every field that is set must hold for a passage to be returned.

    The one place filters are validated, for ``ask``, ``stream``, ``search``, the LangChain
    retriever, the CLI and the UI: unknown names and values are an ``InvalidFilter`` with the
    closest match, nothing is guessed from a fragment, values are bounded in size. ``check``
    then validates the values only the report knows (authors, document ids).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    area: str | None = None
    language: str | None = None
    kind: str | None = None
    author: str | None = None
    perspective: str | None = None
    doc_id: str | None = None

    @field_validator("area", "language", "kind", "author", "perspective", "doc_id", mode="before")
    @classmethod
    def _value(cls, raw: object, info: ValidationInfo) -> str | None:
        key = str(info.field_name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if not isinstance(raw, str):
            raise ValueError(f"Filter {key!r} must be text, not {type(raw).__name__}.")
        if len(raw) > MAX_FILTER_CHARS:
            raise ValueError(f"Filter {key!r} is too long ({len(raw):,} characters).")
        return _canonical(key, raw.strip())

    @classmethod
    def parse(cls, value: Filters | Mapping[str, Any] | None) -> Filters:
        if value is None:
            return cls()
        if isinstance(value, Filters):
            return value
        if not isinstance(value, Mapping):
            raise InvalidFilter("Filters must be a mapping such as {'area': 'space and cyber'}.")
        odd = [k for k in value if not isinstance(k, str)]
        if odd:
            raise InvalidFilter(f"Filter names must be text, not {type(odd[0]).__name__}: {odd[0]!r}.")
        try:
            return cls.model_validate(dict(value))
        except ValidationError as exc:
            raise InvalidFilter(_message(exc, sorted(cls.model_fields))) from None

    def check(self, docs: Mapping[str, SourceDoc]) -> Filters:
        """These filters, when the report has what they name; else ``InvalidFilter`` with the
        closest authors or document ids (an unknown one would only ever abstain)."""
        if self.doc_id and self.doc_id not in docs:
            close = difflib.get_close_matches(self.doc_id, sorted(docs), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise InvalidFilter(
                f"No document has the id {self.doc_id[:40]!r}{hint} (assistant sources lists them)."
            )
        if self.author:
            bare = Filters(author=self.author)
            if not any(bare.allows(d) for d in docs.values()):
                names = {n: n for d in docs.values() for n in d.authors}
                names |= {n.split()[-1]: n for n in list(names)}  # surnames too: 'Kasin' is Kashin
                close = list(
                    dict.fromkeys(
                        names[m]
                        for m in difflib.get_close_matches(self.author, sorted(names), n=3, cutoff=0.6)
                    )
                )
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                raise InvalidFilter(f"No author in the report is called {self.author[:40]!r}{hint}")
        return self

    def allows(self, doc: SourceDoc) -> bool:
        if self.area and doc.area != self.area:
            return False
        if self.language and doc.language != self.language:
            return False
        if self.kind and doc.kind != self.kind:
            return False
        if self.perspective and doc.perspective != self.perspective:
            return False
        if self.doc_id and doc.doc_id != self.doc_id:
            return False
        if self.author:  # whole words of a name: "Han" is Han Aiyong, not Shan Xiaoying
            wanted = re.escape(canonical_name(self.author))
            if not any(re.search(rf"(?<!\w){wanted}(?!\w)", canonical_name(n)) for n in doc.authors):
                return False
        return True

    def active(self) -> bool:
        return any(getattr(self, name) for name in type(self).model_fields)


def describe_filters(filters: Filters, docs: Mapping[str, SourceDoc]) -> str:
    """What the filters let through, for people: 'the space and cyber area and Chinese sources'."""
    kinds = {
        "summary": "the executive summary",
        "chapter": "the chapters",
        "appendix": "the appendix sources",
        "bio": "the contributors' bios",
    }
    parts = []
    if filters.doc_id:
        doc = docs.get(filters.doc_id)
        parts.append(f"“{doc.title}”" if doc else filters.doc_id)
    if filters.area:
        parts.append(f"the {filters.area} area")
    if filters.perspective:
        parts.append(
            f"the {filters.perspective}" if filters.perspective.endswith("sources") else filters.perspective
        )
    if filters.language:
        parts.append(f"{filters.language}-language sources")
    if filters.kind:
        parts.append(kinds.get(filters.kind, filters.kind))
    if filters.author:
        parts.append(f"the writings of {filters.author}")
    return " and ".join(parts) or "the whole report"


def _message(exc: ValidationError, known: list[str]) -> str:
    """The first problem pydantic found, as one line for the user."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"Unknown filter {name[:40]!r}{hint}; use one of: {', '.join(known)}."
    cause = error.get("ctx", {}).get("error")
    return str(cause) if cause else f"Filter {name!r}: {error['msg']}."


MAX_FILTER_CHARS = 200


def _canonical(key: str, raw: str) -> str:
    """The filter value as the index spells it. An area may be named by whole words of it
    ('space', 'exercises'); nothing is guessed from a fragment ('c' is no area)."""
    low = fold(raw)
    options: tuple[str, ...] = ()
    if key == "area":
        options = AREAS
        wanted = set(re.findall(r"[a-z]+", low)) - {"and"}
        matches = [a for a in AREAS if low == a or (wanted and wanted <= set(a.split()))]
        if len(matches) == 1:
            return matches[0]
    elif key == "language":
        options = LANGUAGES
        for lang in LANGUAGES:
            if low == lang.lower():
                return lang
    elif key == "kind":
        options = KINDS
        if low in KINDS:
            return low
    elif key == "perspective":
        options = PERSPECTIVES
        for p in PERSPECTIVES:
            if low == p.lower() or low == p.split()[0].lower():
                return p
    else:
        return raw
    close = difflib.get_close_matches(low, [o.lower() for o in options], n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"Unknown {key} {raw[:40]!r}{hint}; choose one of: {', '.join(options)}.")


class Lexical:
    """BM25 over each chunk's header and text, built once per index."""

    def __init__(self, index: Index) -> None:
        corpus = [terms(c.embed_text) for c in index.chunks]
        self.bm25 = BM25Okapi(corpus)
        self.vocabulary = set(self.bm25.idf)
        self._text = (
            " " + " ".join(" ".join(terms(c.embed_text, keep_stopwords=True)) for c in index.chunks) + " "
        )

    def scores(self, query: str) -> np.ndarray:
        tokens = [t for t in terms(query) if t in self.vocabulary]
        if not tokens:
            return np.zeros(len(self.bm25.doc_len))
        return np.asarray(self.bm25.get_scores(tokens))

    def mentions(self, phrase: str) -> bool:
        """Whether the report contains the phrase (as terms), allowing a longer ending on the last
        word ('Blagoveshchensk' matches 'Blagoveshchenskii') and one-letter slips in long names."""
        if f" {phrase}" in self._text:
            return True
        if " " in phrase or len(phrase) < 6:
            return False
        import difflib

        return bool(difflib.get_close_matches(phrase, self.vocabulary, n=1, cutoff=0.85))

    def mentions_near(self, first: str, second: str) -> bool:
        """Whether two words occur next to each other, or with one word between ("Yuri V. Morozov")."""
        second = second[: max(4, len(second) - 1)]  # "Central Asian" matches "Central Asia"
        pattern = rf" {re.escape(first)} (?:\S+ )?{re.escape(second)}\S* "
        return re.search(pattern, self._text) is not None

    def spells_out(self, acronym: str) -> bool:
        """Whether two neighbouring words of the report begin with the acronym's two parts
        ('ASAT': 'anti-satellite'; 'PLAN': 'PLA Navy')."""
        low = acronym.lower()
        return any(
            re.search(rf" {re.escape(low[:i])}\w* {re.escape(low[i:])}\w* ", self._text)
            for i in range(1, len(low))
        )

    def mentions_dated(self, name: list[str], year: str) -> bool:
        """Whether the name's terms occur followed by the year, directly or after a day of the month
        ("Joint Sea 2016", "December 5, 2021")."""
        pattern = " " + " ".join(map(re.escape, name)) + rf" (?:\d{{1,2}} )?{re.escape(year)} "
        return re.search(pattern, self._text) is not None

    def idf(self, term: str) -> float:
        return float(self.bm25.idf.get(term, 0.0))


@dataclass
class Retrieved:
    """Fused passages plus what the composer reuses (query vector, per-chunk scores)."""

    passages: list[Passage]
    query_vector: np.ndarray
    """The question's plain embedding (what the answerability model reads)."""
    dense: dict[int, float]


def query_adapter(settings: Settings) -> np.ndarray | None:
    """The fitted question map when the settings use it (``assistant.adapter``), else None."""
    if not settings.query_adapter:
        return None
    return load_adapter(settings.query_adapter_file, settings.embedding_model)


class Engine:
    """The retrieval logic, shared by the LangChain retriever, ``search()`` and ``ask()``."""

    def __init__(self, index: Index, settings: Settings) -> None:
        self.index = index
        self.settings = settings
        # both take seconds to compute and depend only on the build and the code: cached beside it
        self.lexical = index.derived("lexical", lambda: Lexical(index))
        self.catalog = index.derived("catalog", lambda: Catalog(index.docs, index.chunks))
        # spaCy's analysis of every report sentence (about 15 s): once per build, never per question
        self.facts = index.derived("facts", lambda: ReportFacts.build(index))
        self.adapter = query_adapter(settings)

    def filters(self, value: Filters | Mapping[str, Any] | None) -> Filters:
        """``value`` validated: by ``Filters.parse``, then against this index's documents."""
        return Filters.parse(value).check(self.index.docs)

    def allowed(self, filters: Filters) -> np.ndarray:
        mask = np.array([filters.allows(self.index.docs[c.doc_id]) for c in self.index.chunks])
        return mask

    def retrieve(self, query: Query, filters: Filters, k: int, mode: str | None = None) -> Retrieved:
        mode = mode or self.settings.retrieval
        index = self.index
        qvec = embed(self.settings.embedding_model, [query.text])[0]
        # the chunk-level dense ranking reads the question moved toward answers; the sentence-level and
        # named-document rankings keep the plain vector, which keeps a named author's own text first
        moved = adapt(qvec, self.adapter)
        mask = self.allowed(filters) if filters.active() else np.ones(len(index.chunks), dtype=bool)
        rankings: list[tuple[list[int], float]] = []
        dense_scores: dict[int, float] = {}
        weights = self.settings
        if mode in ("hybrid", "dense"):
            dense_ids = self._dense(moved, mask)
            dense_scores = dict(dense_ids)
            rankings.append(([i for i, _ in dense_ids], weights.dense_weight))
        if mode in ("hybrid", "bm25"):
            lex = self.lexical.scores(query.text)
            lex = np.where(mask, lex, -1.0)
            order = np.argsort(-lex)[: self.settings.lexical_k]
            rankings.append(([int(i) for i in order if lex[i] > 0], weights.lexical_weight))
        if mode == "hybrid" and weights.sentence_weight > 0:
            rankings.append((self._best_sentences(qvec, mask), weights.sentence_weight))
        if mode == "hybrid":
            local = index.chunk_vectors @ qvec
            named = self._named_ranking(query, mask, local)
            if named:
                rankings.append((named, 2.0))
            for doc_weights, weight in (
                ({d: 1.0 for d in query.focus_docs}, 1.0),
                (self._perspective_docs(query.perspective), 2.0),
                ({d.doc_id: 1.0 for d in index.docs.values() if query.kind and d.kind == query.kind}, 1.0),
            ):
                if not doc_weights:
                    continue
                members = [i for i, c in enumerate(index.chunks) if c.doc_id in doc_weights and mask[i]]
                members.sort(key=lambda i: -(doc_weights[index.chunks[i].doc_id] + float(local[i])))
                rankings.append((members[: self.settings.dense_k], weight))
            for i in range(len(index.chunks)):
                dense_scores.setdefault(i, float(local[i]))
        fused: dict[int, float] = {}
        for ranking, weight in rankings:
            for rank, i in enumerate(ranking):
                fused[i] = fused.get(i, 0.0) + weight / (self.settings.rrf_k + rank + 1)
        if mode == "dense":
            fused = {i: s for i, s in dense_scores.items() if mask[i]}
        elif mode == "bm25" and rankings:
            fused = {i: 1.0 / (rank + 1) for rank, i in enumerate(rankings[0][0])}
        best = sorted(fused.items(), key=lambda kv: -kv[1])[:k]
        passages = [
            Passage(chunk=index.chunks[i], doc=index.docs[index.chunks[i].doc_id], score=score, rank=r + 1)
            for r, (i, score) in enumerate(best)
        ]
        return Retrieved(passages=passages, query_vector=qvec, dense=dense_scores)

    def _best_sentences(self, qvec: np.ndarray, mask: np.ndarray) -> list[int]:
        """Chunks ranked by their single best-matching sentence (finer than whole-chunk vectors)."""
        index = self.index
        sims = index.sentence_vectors @ qvec
        best = np.full(len(index.chunks), -1.0)
        np.maximum.at(best, index.sentence_owner, sims)
        best = np.where(mask, best, -1.0)
        order = np.argsort(-best)[: self.settings.dense_k]
        return [int(i) for i in order if best[i] > -1.0]

    def _named_ranking(self, query: Query, mask: np.ndarray, local: np.ndarray) -> list[int]:
        """Passages of the documents a question names, and passages that mention its authors."""
        if not query.named_docs and not query.mentioned:
            return []
        # the topic's own words choose among them: "How do He and Ye characterize the Artemis
        # Accords?" wants the passage (theirs or a chapter's about them) that has "Artemis Accords"
        topical = self.lexical.scores(query.topic) if query.topic != query.text else np.zeros(len(local))
        if topical.max() > 0:
            topical = topical / topical.max()
        weights: dict[int, float] = {}
        for i, chunk in enumerate(self.index.chunks):
            w = query.named_docs.get(chunk.doc_id, 0.0)
            if i in query.mentioned:
                w = max(w, 1.0)  # a chapter discussing the author is as much about them
            if w > 0 and mask[i]:
                weights[i] = w + float(local[i]) + 0.5 * float(topical[i])
        return sorted(weights, key=lambda i: -weights[i])[: self.settings.dense_k]

    def _dense(self, qvec: np.ndarray, mask: np.ndarray) -> list[tuple[int, float]]:
        where = None
        if not mask.all():
            doc_ids = sorted({c.doc_id for c, ok in zip(self.index.chunks, mask, strict=True) if ok})
            if not doc_ids:
                return []
            where = {"doc_id": {"$in": doc_ids}}
        n = min(self.settings.dense_k, int(mask.sum()))
        try:
            result = self.index.collection.query(
                query_embeddings=[qvec.tolist()], n_results=n, where=where, include=["distances"]
            )
        except IndexUnavailable:  # a Chroma server's own one-line message
            raise
        except Exception as exc:
            raise IndexUnavailable(f"The vector store did not answer: {' '.join(str(exc).split())}") from exc
        out = []
        for chunk_id, distance in zip(result["ids"][0], result["distances"][0], strict=True):
            out.append((self.index.chunk_index(chunk_id), 1.0 - float(distance)))
        return out

    def _perspective_docs(self, perspective: str) -> dict[str, float]:
        """A perspective's own documents first, then the chapters that analyse it."""
        if not perspective:
            return {}
        out = {}
        for doc in self.index.docs.values():
            if doc.perspective == perspective and doc.kind != "bio":
                out[doc.doc_id] = 1.0
            elif doc.kind == "chapter" and doc.focus == perspective:
                out[doc.doc_id] = 0.5
        return out


def to_document(passage: Passage) -> Document:
    meta = {
        "chunk_id": passage.chunk.chunk_id,
        "score": passage.score,
        "rank": passage.rank,
        **citation_fields(passage.doc, passage.chunk.section),
    }
    return Document(page_content=passage.chunk.text, metadata=meta, id=passage.chunk.chunk_id)


class HybridRetriever(BaseRetriever):
    """LangChain retriever over the report: ``Document``s carry full citation metadata."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: Any
    k: int = 8
    filters: dict[str, Any] | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        from assistant.text import validate_question
        from assistant.understand.query import analyse

        text = validate_question(query, self.engine.settings.max_question_chars)  # the rule of ask()
        q = analyse(text, None, self.engine.catalog)
        found = self.engine.retrieve(q, self.engine.filters(self.filters), self.k)
        return [to_document(p) for p in found.passages]
