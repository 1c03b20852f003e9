"""Answers without a language model: verbatim report sentences with evidence keys, answers about
the report's own metadata, and abstention when the evidence is too weak."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from assistant.adapter import adapt
from assistant.answer.abstain import abstain, abstain_explained
from assistant.answer.answerability import ReportFacts, contains, decide, normal
from assistant.reported import reported_source
from assistant.retrieve import Lexical, Retrieved, query_adapter
from assistant.settings import Settings
from assistant.store.index import Index
from assistant.text import plain, terms
from assistant.types import Chunk, Draft, Evidence, Scored, SourceDoc
from assistant.understand.query import Query
from assistant.understand.question import TYPE_LABELS

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
        if passage.doc.kind == "bio" and not _bio_answers(query, passage.doc.doc_id):
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


def _toward_answers(
    scored: list[Scored], index: Index, settings: Settings, vector: np.ndarray
) -> list[Scored]:
    """The candidates re-scored with the question's embedding moved toward answers
    (``assistant.adapter``) in place of its plain one, best first; unchanged without the map."""
    w = query_adapter(settings)
    if w is None:
        return scored
    moved = adapt(vector, w)
    rows = np.array([int(index.sentence_start[s.chunk_index]) + s.slot for s in scored])
    near = index.sentence_vectors[rows] @ moved
    weight = settings.sentence_dense_weight
    out = [
        replace(s, score=s.score + weight * (float(d) - s.dense)) for s, d in zip(scored, near, strict=True)
    ]
    out.sort(key=lambda s: -s.score)
    return out


def _bio_answers(query: Query, bio_id: str) -> bool:
    """Whether a contributor's biography may answer: the question asks who, or names the person,
    or a follow-up about a person named earlier asks about their career ("Where does she
    work?", not "What does she conclude?")."""
    if query.analysis.asks_who:
        return True
    if bio_id not in query.named_docs:
        return False
    return not query.inherited or query.about_person


def _matches_perspective(doc: SourceDoc, perspective: str) -> bool:
    return doc.perspective == perspective or doc.focus == perspective


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
    budget: int | None = None,
) -> Draft:
    """Pick the best-supported sentences and key each to its chunk, or abstain when the fitted
    answerability model says the report does not answer the question.

    ``judge=False`` is for one perspective's part of a comparison: the model judges whole
    questions, so a part abstains only when none of its passages is relevant at all. ``budget``
    replaces the settings' word budget (a comparison's column has its own)."""
    scored = score_sentences(query, found, index, lexical, settings, facts, topic_vector)
    if not scored:
        return abstain(found, settings, "No passage comes close to it.", query)
    if not judge:
        if max(s.dense for s in scored[:10]) < settings.section_min_relevance or _names_absent(query, found):
            return abstain(found, settings, "No passage comes close to it.", query)
    elif not (decision := decide(query, found, scored, index, facts, settings.evidence_chunks)).answerable:
        return abstain_explained(decision, query, found, scored, index, settings, facts)
    plain_vector = found.query_vector if topic_vector is None else topic_vector
    scored = _toward_answers(scored, index, settings, plain_vector)
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
    if budget is None:
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


_FRAGMENT_WORDS = 6
"""A sentence shorter than this is a heading of what follows ('First, a change in roles.'), not a
point a quotation can end on."""


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


def _who(index: Index, doc: SourceDoc, quote: str) -> str:
    """The speaker of a quotation; for a chapter passage that reports a translated source, both:
    'Alexandr Bartosh, as reported by Katri Pynnöniemi (chapter “…”)'."""
    reported = reported_source(index, doc, quote)
    if reported is None or not reported.authors:
        return speaker(doc)
    return f"{reported.authors_display}, as reported by {speaker(doc)}"


def _draft_from(
    chosen: list[Scored],
    index: Index,
    facts: ReportFacts,
    follow: int = 0,
    attribute: bool = False,
    budget: int = 0,
) -> Draft:
    """One quotation per chosen sentence, widened to the neighbours it needs; overlaps merge.

    Within a word ``budget`` (0: no limit) the best quotation comes first, whole; the others are
    admitted in two passes: first each chosen sentence with only the sentence it leans on ('Such a
    scenario…' needs the one before), best first, while the answer fits; then, best first, the
    sentences that run on after it ('This would …') while it still fits. So one point from each of
    several sources comes before a longer quotation from one. A quotation is never cut inside a
    sentence."""
    cores: list[tuple[int, int, int]] = []  # (chunk index, first slot, last slot) of what must be shown
    fulls: list[tuple[int, int, int]] = []  # the same with the sentences that run on
    for n, s in enumerate(chosen):
        chunk = index.chunks[s.chunk_index]
        lo, hi = _span(chunk, s.slot, _leans(facts, index, s))
        if (
            n < follow
            and hi + 1 < len(chunk.sentences)
            and _adjacent(chunk, hi, hi + 1)
            and len(chunk.sentences[hi + 1].split()) >= _FRAGMENT_WORDS
        ):
            hi += 1  # never into a list item's heading ('Third, changes in content.')
        cores.append((s.chunk_index, lo, s.slot))
        fulls.append((s.chunk_index, lo, hi))
    if budget:
        cores[:1] = fulls[:1]  # the best quotation whole, as it reads without a budget
        picked, used = _within(index, cores, budget)
        spans = {i: cores[i] for i in picked}
        for i in picked:
            extra = _words(index, [fulls[i]]) - _words(index, [cores[i]])
            if extra and used + extra <= budget:
                spans[i] = fulls[i]
                used += extra
        ordered = [spans[i] for i in sorted(spans)]
    else:
        ordered = fulls
    return _quote(_merged(index, ordered), index, attribute)


def _quotation(chunk: Chunk, a: int, b: int) -> str:
    quote = " ".join(chunk.sentences[a : b + 1])
    return quote if quote in chunk.text else chunk.sentences[a]  # never across a paragraph break


def _words(index: Index, spans: list[tuple[int, int, int]]) -> int:
    return sum(len(_quotation(index.chunks[ci], a, b).split()) for ci, a, b in spans)


def _within(index: Index, spans: list[tuple[int, int, int]], budget: int) -> tuple[list[int], int]:
    """The spans, best first, that fit in ``budget`` words, and the words they take; the first always
    (a shorter one further down may still fit after a long one is left out)."""
    picked: list[int] = []
    used = 0
    for i, span in enumerate(spans):
        size = _words(index, [span])
        if picked and used + size > budget:
            continue
        picked.append(i)
        used += size
    return picked, used


def _merged(index: Index, spans: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Spans of one chunk that overlap or touch become one, at the place of the first."""
    out: list[tuple[int, int, int]] = []
    for ci0, lo, hi in spans:
        for k, (ci, a, b) in enumerate(out):
            if ci == ci0 and lo <= b + 1 and hi >= a - 1:
                merged = (ci, min(a, lo), max(b, hi))
                if _verbatim(index.chunks[ci], merged[1], merged[2]):
                    out[k] = merged
                    break
        else:
            out.append((ci0, lo, hi))
    return out


def _quote(spans: list[tuple[int, int, int]], index: Index, attribute: bool) -> Draft:
    evidence: dict[str, Evidence] = {}
    parts: list[str] = []
    last = ""
    for ci, a, b in spans:
        chunk = index.chunks[ci]
        quote = _quotation(chunk, a, b)
        key = f"e{len(evidence) + 1}"
        evidence[key] = Evidence(chunk.chunk_id, quote)
        who = _who(index, index.docs[chunk.doc_id], quote) if attribute else ""
        lead = f"{who}: " if who and who != last else ""  # name each speaker once in a row
        last = who
        parts.append(f"{lead}{plain(quote)} [{key}]")
    return Draft(text=" ".join(parts), evidence=evidence)


def _verbatim(chunk: Chunk, a: int, b: int) -> bool:
    return " ".join(chunk.sentences[a : b + 1]) in chunk.text
