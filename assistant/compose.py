"""Answers without a language model: verbatim report sentences with evidence keys, answers about
the report's own metadata, and abstention when the evidence is too weak."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .answerability import Decision, ReportFacts, contains, decide, explain, normal
from .citations import Evidence
from .index import Index
from .query import Query
from .retrieve import Lexical, Retrieved
from .settings import Settings
from .text import terms
from .types import Chunk, Passage, SourceDoc
from .understand.question import TYPE_LABELS

REPORT_TITLE = "Broader Transatlantic Security (2022)"
ABSTAIN_TEXT = "The report does not appear to address this question."


@dataclass
class Draft:
    """Text with evidence keys, ready for ``citations.finalize``."""

    text: str
    evidence: dict[str, Evidence] = field(default_factory=dict)
    abstained: bool = False
    related: list[Passage] = field(default_factory=list)


@dataclass
class Scored:
    chunk_index: int
    slot: int
    sentence: str
    score: float
    dense: float
    lexical: float


_VALUE_TYPES = frozenset({"date", "number", "money", "quantity"})


def _question_weights(text: str, lexical: Lexical) -> dict[str, float]:
    return {t: lexical.idf(t) for t in dict.fromkeys(terms(text)) if lexical.idf(t) > 0}


def score_sentences(
    query: Query,
    found: Retrieved,
    index: Index,
    lexical: Lexical,
    settings: Settings,
    facts: ReportFacts,
    topic_vector: np.ndarray | None = None,
) -> list[Scored]:
    """Score the sentences of the top passages against the question's topic.

    ``topic_vector`` embeds the question without the names of the sources it mentions (names
    choose the documents; the topic chooses the sentences).
    """
    qvec = found.query_vector if topic_vector is None else topic_vector
    analysis = query.analysis
    # a sentence holding the kind of value asked for (a date, a number, a sum) is likelier the answer
    labels = TYPE_LABELS[analysis.answer_type] if analysis.answer_type in _VALUE_TYPES else None
    weights = _question_weights(query.topic, lexical)
    total = sum(weights.values()) or 1.0
    passages = found.passages[: settings.evidence_chunks]
    out: list[Scored] = []
    for rank, passage in enumerate(passages):
        chunk = passage.chunk
        ci = index.chunk_index(chunk.chunk_id)
        if chunk.section == "Citation":
            continue
        if (
            passage.doc.kind == "bio"
            and passage.doc.doc_id not in query.named_docs
            and not query.analysis.asks_who
        ):
            continue  # a contributor's biography answers questions about that person only
        prior = 0.1 * (1.0 - rank / max(len(passages), 1))
        bonus = 0.0
        if query.named_docs.get(chunk.doc_id) or ci in query.mentioned:
            bonus += 0.08
        if query.focus_docs and chunk.doc_id in query.focus_docs:
            bonus += 0.05
        if query.kind and passage.doc.kind == query.kind:
            bonus += 0.05  # "which appendix source …", "the chapter on …"
        if query.perspective and passage.doc.perspective == query.perspective:
            bonus += 0.08  # the perspective's own writings
        elif query.perspective and passage.doc.focus == query.perspective:
            bonus += 0.03  # a chapter analysing that perspective
        start = int(index.sentence_start[ci])
        for slot, sentence in enumerate(chunk.sentences):
            if (
                len(sentence) < 30
                or sentence.startswith(("_▲", "|"))
                or sentence.rstrip("”’\"'_*").endswith("?")
            ):
                continue
            dense = float(index.sentence_vectors[start + slot] @ qvec)
            present = set(terms(sentence))
            lex = sum(w for t, w in weights.items() if t in present) / total
            score = settings.sentence_dense_weight * dense + settings.sentence_lexical_weight * lex
            score += prior + bonus
            if labels:
                score += 0.05 if facts.of(index, ci, slot).labels & labels else -0.05
            out.append(Scored(ci, slot, sentence, score, dense, lex))
    if query.perspective:  # the question asks for one perspective: answer from it when it has anything
        own = [
            s
            for s in out
            if _matches_perspective(index.docs[index.chunks[s.chunk_index].doc_id], query.perspective)
        ]
        out = own or out
    out.sort(key=lambda s: -s.score)
    return out


def _matches_perspective(doc: SourceDoc, perspective: str) -> bool:
    return doc.perspective == perspective or doc.focus == perspective


_LINK = re.compile(r"\[\[(.+?)\]\((?:https?://[^)\s]+)\)\]|\[([^\[\]]+)\]\((?:https?://[^)\s]+)\)")
_TAG = re.compile(r"</?[a-zA-Z][\w-]*\s*/?>")


def plain(text: str) -> str:
    """The quotation as displayed: the report's words without its Markdown or HTML markup (links,
    emphasis, tags such as ``<excerpt/>``); ``Citation.quote`` keeps the exact characters."""
    text = _LINK.sub(lambda m: m.group(1) or m.group(2), text)
    text = _TAG.sub(" ", text)
    text = re.sub(r"(?<!\w)__(.+?)__(?!\w)", r"\1", text)
    text = re.sub(r"(?<![\w])_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", text)
    text = re.sub(r"(?<![\w*])\*{1,2}(?!\s)(.+?)(?<!\s)\*{1,2}(?![\w*])", r"\1", text)
    text = re.sub(r"_(?=\s|$)|(?<=\s)_", "", text)  # an emphasis mark whose pair lies outside the quote
    return re.sub(r"\s{2,}", " ", text).strip()


def _similar(a: str, b: str) -> bool:
    ta, tb = set(terms(a)), set(terms(b))
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) > 0.6


def compose(
    query: Query,
    found: Retrieved,
    index: Index,
    lexical: Lexical,
    settings: Settings,
    facts: ReportFacts,
    topic_vector: np.ndarray | None = None,
    judge: bool = True,
) -> Draft:
    """Pick the best-supported sentences and key each to its chunk, or abstain when the fitted
    answerability model says the report does not answer the question.

    ``judge=False`` is for one perspective's part of a comparison: the model judges whole
    questions, so a part abstains only when none of its passages is relevant at all."""
    scored = score_sentences(query, found, index, lexical, settings, facts, topic_vector)
    if not scored:
        return abstain(found, settings, "No passage comes close to it.", query)
    if not judge:
        if max(s.dense for s in scored[:10]) < settings.section_min_relevance or _names_absent(query, found):
            return abstain(found, settings, "No passage comes close to it.", query)
    elif not (decision := decide(query, found, scored, index, facts, settings.evidence_chunks)).answerable:
        return _abstain_explained(decision, query, found, scored, index, settings, facts)
    best = scored[0].score
    chosen: list[Scored] = []
    per_chunk: dict[int, int] = {}
    for s in scored:
        if len(chosen) >= settings.max_answer_sentences or s.score < best - settings.answer_margin:
            break
        if per_chunk.get(s.chunk_index, 0) >= 2 or any(_similar(s.sentence, c.sentence) for c in chosen):
            continue
        chunk = index.chunks[s.chunk_index]
        if _leans(facts, index, s) and not (s.slot > 0 and _adjacent(chunk, s.slot - 1, s.slot)):
            continue  # 'He also notes …' whose antecedent is in another paragraph: never shown alone
        chosen.append(s)
        per_chunk[s.chunk_index] = per_chunk.get(s.chunk_index, 0) + 1
    if not chosen:
        chosen = scored[:1]
    budget = settings.broad_answer_words if query.analysis.scope == "broad" else settings.answer_words
    return _draft_from(
        chosen, index, facts, settings.follow_best, attribute=query.analysis.asks_who, budget=budget
    )


_SIDES = frozenset({"Russian", "Chinese", "Western", "Sino-Russian", "Soviet", "American"})


def _names_absent(query: Query, found: Retrieved) -> bool:
    """Whether the passages lack every name the question asks about (nationalities aside)."""
    nationalities = {e.text for e in query.analysis.entities if e.label == "NORP"} | _SIDES
    names = [n for n in query.analysis.names if n not in nationalities]
    text = normal(" ".join(p.chunk.embed_text for p in found.passages))
    return bool(names) and not any(contains(text, normal(n)) for n in names)


def _leans(facts: ReportFacts, index: Index, s: Scored) -> bool:
    return facts.of(index, s.chunk_index, s.slot).leans_back


_CARRIES_ON = re.compile(
    r"^[“‘\"(]*(this|these|such|that|it|they|as a result|thus|consequently|in turn|in other words)\b", re.I
)


def _span(chunk: Chunk, slot: int, leans_back: bool) -> tuple[int, int]:
    """The sentence plus the neighbours it leans on ('Such a scenario…', '…in these fields')."""
    sentences = chunk.sentences
    lo = hi = slot
    if slot > 0 and leans_back and _adjacent(chunk, slot - 1, slot):
        lo = slot - 1
    nxt = slot + 1
    if nxt < len(sentences) and _adjacent(chunk, slot, nxt):
        follows = _CARRIES_ON.search(sentences[nxt])
        noun = re.match(r"^The ([a-z]+)\b", sentences[nxt])
        if follows or (noun and noun.group(1) in sentences[slot].lower()):
            hi = nxt
    return lo, hi


def _adjacent(chunk: Chunk, a: int, b: int) -> bool:
    return f"{chunk.sentences[a]} {chunk.sentences[b]}" in chunk.text


def speaker(doc: SourceDoc) -> str:
    """Who wrote a passage and where, for an answer to 'who says…': 'Han Aiyong (Teaching and
    Research Journal, 2022, original version 2019)', 'Paul Schwartz (chapter “Russia-China Joint
    Military Exercises”)'."""
    who = doc.authors_display
    if doc.kind == "appendix":  # the imprint as the report prints it
        return f"{who} ({doc.imprint})" if who else doc.imprint
    if doc.kind == "chapter":
        return f"{who} (chapter “{doc.title}”)"
    return f"{who} ({doc.title})" if who else doc.title


def _draft_from(
    chosen: list[Scored],
    index: Index,
    facts: ReportFacts,
    follow: int = 0,
    attribute: bool = False,
    budget: int = 0,
) -> Draft:
    """One quotation per chosen sentence, widened to the neighbours it needs; overlaps merge. The
    best quotation comes first; the others follow while the answer stays within ``budget`` words
    (0: no limit), so a quotation is never cut, only left out."""
    spans: list[tuple[int, int, int]] = []  # (chunk index, first slot, last slot)
    for n, s in enumerate(chosen):
        chunk = index.chunks[s.chunk_index]
        lo, hi = _span(chunk, s.slot, _leans(facts, index, s))
        if n < follow and hi + 1 < len(chunk.sentences) and _adjacent(chunk, hi, hi + 1):
            hi += 1
        for k, (ci, a, b) in enumerate(spans):
            if ci == s.chunk_index and lo <= b + 1 and hi >= a - 1:
                merged = (ci, min(a, lo), max(b, hi))
                if _verbatim(index.chunks[ci], merged[1], merged[2]):
                    spans[k] = merged
                    break
        else:
            spans.append((s.chunk_index, lo, hi))
    evidence: dict[str, Evidence] = {}
    parts: list[str] = []
    last = ""
    used = 0
    for ci, a, b in spans:
        chunk = index.chunks[ci]
        quote = " ".join(chunk.sentences[a : b + 1])
        if quote not in chunk.text:  # never quote across a paragraph break
            quote = chunk.sentences[a]
        size = len(quote.split())
        if budget and parts and used + size > budget:
            continue  # a shorter quotation further down may still fit
        used += size
        key = f"e{len(evidence) + 1}"
        evidence[key] = Evidence(chunk.chunk_id, quote)
        who = speaker(index.docs[chunk.doc_id]) if attribute else ""
        lead = f"{who}: " if who and who != last else ""  # name each speaker once in a row
        last = who
        parts.append(f"{lead}{plain(quote)} [{key}]")
    return Draft(text=" ".join(parts), evidence=evidence)


def _verbatim(chunk: Chunk, a: int, b: int) -> bool:
    return " ".join(chunk.sentences[a : b + 1]) in chunk.text


def _abstain_explained(
    decision: Decision,
    query: Query,
    found: Retrieved,
    scored: list[Scored],
    index: Index,
    settings: Settings,
    facts: ReportFacts,
) -> Draft:
    """An abstention that says what is missing and, when one of the closest sentences is on the
    question's topic, cites what the report does say about it."""
    focus = set(query.analysis.focus)

    def coverage(s: Scored) -> float:
        return facts.coverage(focus, facts.of(index, s.chunk_index, s.slot).lemmas) if focus else 0.0

    best = max(scored[:5], key=lambda s: (coverage(s), s.score))
    reason, cite = explain(decision, query.analysis, coverage(best) >= settings.abstain_topic_coverage)
    draft = abstain(found, settings, reason.replace(" {cite}", ""), query)
    if cite:
        chunk = index.chunks[best.chunk_index]
        draft.text = f"{ABSTAIN_TEXT} {reason.replace('{cite}', '[a1]')}"
        draft.evidence = {"a1": Evidence(chunk.chunk_id, best.sentence)}
    return draft


def abstain(found: Retrieved, settings: Settings, reason: str = "", query: Query | None = None) -> Draft:
    """The abstention, with the nearest passages of different documents as related reading; a
    contributor's biography only when the question names that contributor."""
    related: list[Passage] = []
    seen: set[str] = set()
    named = query.named_docs if query else {}
    for p in found.passages:
        if p.doc.doc_id in seen or (p.doc.kind == "bio" and p.doc.doc_id not in named):
            continue
        seen.add(p.doc.doc_id)
        related.append(p)
        if len(related) >= settings.related_on_abstain:
            break
    return Draft(text=f"{ABSTAIN_TEXT} {reason}".strip(), abstained=True, related=related)


# --- questions about the report's own metadata -------------------------------------------

_KIND_WORDS = {
    "chapter": re.compile(r"\bchapter|essay|analysis by\b", re.I),
    "appendix": re.compile(
        r"\b(article|source|document|paper|piece|interview|book|journal|report by|monograph|study)\b", re.I
    ),
}


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
