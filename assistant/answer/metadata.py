"""Answers about the report's own metadata: who wrote what, where and when, and who the
contributors are."""

from __future__ import annotations

import re

import numpy as np

from assistant.report import REPORT_TITLE
from assistant.retrieve import Retrieved
from assistant.store.index import Index
from assistant.text import plain, terms
from assistant.types import Draft, Evidence, SourceDoc
from assistant.understand.query import Query

_KIND_WORDS = {
    "chapter": re.compile(r"\bchapter|essay|analysis by\b", re.I),
    "appendix": re.compile(
        r"\b(article|source|document|paper|piece|interview|book|journal|report by|monograph|study)\b", re.I
    ),
}


def asks_about_kind(question: str) -> bool:
    """Whether a question asks about a chapter or a translated source ("the chapter on …",
    "Bartosh's article")."""
    return any(pattern.search(question) for pattern in _KIND_WORDS.values())


def target_doc(
    query: Query, found: Retrieved, index: Index, descriptor_vectors: dict[str, np.ndarray]
) -> SourceDoc | None:
    """The document a metadata question is about."""
    docs = index.docs
    wanted_kind = "chapter" if _KIND_WORDS["chapter"].search(query.question) else ""
    if not wanted_kind and _KIND_WORDS["appendix"].search(query.question):
        wanted_kind = "appendix"
    if query.intent == "bio":
        wanted_kind = "bio"
    candidates = [
        d for d in docs.values() if d.kind in ("chapter", "appendix", "bio") or d.doc_id == "summary"
    ]
    if wanted_kind:
        candidates = [d for d in candidates if d.kind == wanted_kind] or candidates
    if query.named_docs:
        named = [d for d in candidates if d.doc_id in query.named_docs]
        if named:
            return max(
                named, key=lambda d: (query.named_docs[d.doc_id], _similarity(d, found, descriptor_vectors))
            )
    if query.followup and query.focus_docs:
        focus = [docs[d] for d in query.focus_docs if d in docs and docs[d] in candidates]
        if focus:
            return focus[0]
    if query.intent == "bio":
        return None
    if "executive summary" in query.question.lower():
        return docs.get("summary")
    support: dict[str, float] = {}
    for p in found.passages[:10]:
        support[p.doc.doc_id] = support.get(p.doc.doc_id, 0.0) + p.score
    top_support = max(support.values(), default=1.0) or 1.0
    best = max(
        candidates,
        key=lambda d: (
            _similarity(d, found, descriptor_vectors) + 0.3 * support.get(d.doc_id, 0.0) / top_support
        ),
    )
    return best


_COMPANION_GAP = 0.03
"""How close (in embedding similarity) the other chapter of an area must match a question about
"the chapter on …" for the answer to name both."""


def _companion(
    doc: SourceDoc, query: Query, found: Retrieved, index: Index, descriptor_vectors: dict[str, np.ndarray]
) -> SourceDoc | None:
    """The area's other chapter, when the question fits it as well as ``doc`` ("Who wrote the
    chapter on space cooperation?": there are two) and names neither a chapter nor a perspective."""
    if query.named_docs or query.perspective or query.followup:
        return None
    mine = _similarity(doc, found, descriptor_vectors)
    others = [d for d in index.docs.values() if d.kind == "chapter" and d.area == doc.area and d is not doc]
    close = [d for d in others if _similarity(d, found, descriptor_vectors) >= mine - _COMPANION_GAP]
    return close[0] if len(close) == 1 else None


def _similarity(doc: SourceDoc, found: Retrieved, descriptor_vectors: dict[str, np.ndarray]) -> float:
    vec = descriptor_vectors.get(doc.doc_id)
    return float(vec @ found.query_vector) if vec is not None else 0.0


def descriptor(doc: SourceDoc) -> str:
    """A short description of a document, embedded to match metadata questions to documents."""
    if doc.kind == "chapter":
        return (
            f"Chapter: {doc.title}. {doc.subtitle}. Western analysis of {doc.focus} on {doc.area}, "
            f"by {doc.authors_display}."
        )
    if doc.kind == "appendix":
        who = doc.authors_display or doc.publication
        return f"{doc.language} source on {doc.area}: {doc.title}, by {who}, {doc.publication}."
    if doc.kind == "bio":
        return f"{doc.title}, contributor to the report"
    return f"{doc.title} of the report by {doc.authors_display}"


_ASKS_AFFILIATION = re.compile(
    r"\bwhere (does|do|did) (s?he|they) work|\b(affiliations?|background|work for|employer|who (is|are) "
    r"(s?he|they))\b",
    re.I,
)


def _bio_of(name: str, index: Index) -> SourceDoc | None:
    return next((d for d in index.docs.values() if d.kind == "bio" and d.title == name), None)


def _bio_lines(doc: SourceDoc, index: Index, evidence: dict[str, Evidence]) -> str:
    """First sentence of each author's bio, keyed as further evidence."""
    text = ""
    for name in doc.authors:
        bio = _bio_of(name, index)
        if bio is None:
            continue
        chunk = next(c for c in index.chunks if c.doc_id == bio.doc_id)
        key = f"m{len(evidence) + 1}"
        evidence[key] = Evidence(chunk.chunk_id, chunk.sentences[0])
        text += f" {plain(chunk.sentences[0])} [{key}]"
    return text


def _bio_draft(doc: SourceDoc, query: Query, index: Index) -> Draft:
    """Who a contributor is: the bio's first sentence, plus the one that best fits the question."""
    chunk = next(c for c in index.chunks if c.doc_id == doc.doc_id)
    sentences = list(chunk.sentences)
    wanted = set(terms(query.topic)) - set(terms(doc.title))
    rest = sorted(range(1, len(sentences)), key=lambda i: (-len(wanted & set(terms(sentences[i]))), i))
    picked = sorted({0, *rest[:1]}) if rest else [0]
    evidence: dict[str, Evidence] = {}
    parts = []
    for i in picked:
        key = f"m{len(evidence) + 1}"
        evidence[key] = Evidence(chunk.chunk_id, sentences[i])
        parts.append(f"{plain(sentences[i])} [{key}]")
    return Draft(text=" ".join(parts), evidence=evidence)


def answer_metadata(
    query: Query, found: Retrieved, index: Index, descriptor_vectors: dict[str, np.ndarray]
) -> Draft | None:
    """Answer questions about who wrote what, where and when; ``None`` if not such a question."""
    if not query.intent:
        return None
    doc = target_doc(query, found, index, descriptor_vectors)
    if doc is None:
        return None
    first = next(c for c in index.chunks if c.doc_id == doc.doc_id)
    if query.intent == "bio" or doc.kind == "bio":
        return _bio_draft(doc, query, index) if doc.kind == "bio" else None
    quote = doc.byline or doc.title
    ev = {"m1": Evidence(first.chunk_id, quote)}
    title = f"“{doc.title}: {doc.subtitle}”" if doc.subtitle else f"“{doc.title}”"
    who = doc.authors_display
    if doc.doc_id == "summary":
        return Draft(text=f"The executive summary of the report was written by {who} [m1].", evidence=ev)
    if doc.kind == "chapter":
        if query.intent == "url":
            text = (
                f"The chapter {title} by {who} is part of the CSIS report {REPORT_TITLE}; "
                "the report gives no separate link for it [m1]."
            )
        elif query.intent == "published":
            text = f"The chapter {title} by {who} was published in the CSIS report {REPORT_TITLE} [m1]."
        else:
            text = f"The chapter {title} was written by {who} [m1]."
            other = _companion(doc, query, found, index, descriptor_vectors)
            if other is not None:  # each area has a chapter on Russian and one on Chinese views
                opening = next(c for c in index.chunks if c.doc_id == other.doc_id)
                ev["m2"] = Evidence(opening.chunk_id, other.byline or other.title)
                order = list(index.docs)
                first, second = sorted((doc, other), key=lambda d: order.index(d.doc_id))
                key = {doc.doc_id: "m1", other.doc_id: "m2"}
                one, two = (f"“{d.title}” by {d.authors_display} [{key[d.doc_id]}]" for d in (first, second))
                text = f"Two chapters cover this: {one}, and {two}."
            if _ASKS_AFFILIATION.search(query.question):
                text += _bio_lines(doc, index, ev)
        return Draft(text=text, evidence=ev)
    by = f"by {who}" if who else "(no author named; an interview)"
    where = ", ".join(p for p in (doc.publication, doc.date) if p)
    notes = "".join(f" {n}" for n in doc.notes if n.startswith("Corrected"))
    if query.intent == "original_title":
        text = f"The original {doc.language} title of {title} {by} is {doc.original_title} [m1].{notes}"
    elif query.intent == "url":
        text = f"The report links {title} {by} to {doc.url} [m1].{notes}"
    elif query.intent in ("authors", "title"):
        text = (
            f"{title} was written by {who}; it appeared in {doc.imprint or where} [m1]."
            if who
            else f"{title} names no author: it is an interview published by {doc.imprint or where} [m1]."
        )
    else:
        text = f"{title} {by} was published in {doc.imprint or where} [m1]."
    return Draft(text=text, evidence=ev)
