"""Abstentions: what is missing, what the report does say near it, and related reading."""

from __future__ import annotations

from assistant.answer.answerability import Decision, ReportFacts, explain
from assistant.report import ABSTAIN_TEXT
from assistant.retrieve import Retrieved
from assistant.settings import Settings
from assistant.store.index import Index
from assistant.types import Draft, Evidence, Passage, Scored
from assistant.understand.query import Query


def abstain_explained(
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
