"""Broad questions (findings, conclusions, implications, recommendations, summaries): a
structured answer, each point a verbatim quotation led by who wrote it.

- The report as a whole ("Summarize the main findings"): the executive summary's findings, one
  point an area.
- One document ("Summarize the chapter on Chinese views of joint exercises", "What are the main
  conclusions of Armed Friendship?"): the composer's best sentences within that document.
- A topic or area ("What does the report recommend for NATO?", "Summarize what the report says
  about space cooperation"): the composer's sentences grouped by document, one bullet each; asked
  for recommendations, the answer first says whether the quoted passages make any.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant.answer.metadata import asks_about_kind, target_doc
from assistant.report import FINDINGS_SECTION
from assistant.retrieve import Filters
from assistant.text import plain
from assistant.types import Draft, Evidence, SourceDoc

if TYPE_CHECKING:
    from assistant.knowledge import KnowledgeBase
    from assistant.retrieve import Retrieved
    from assistant.understand.query import Query

MAX_POINTS = 5
_RECOMMENDING = frozenset({"should", "must", "recommend", "recommends", "recommended", "need", "needs"})
_REPORT_WIDE = frozenset({"policy", "whole", "report"})
"""Focus words that still mean the report as a whole ("Does the report make policy recommendations?")."""
_STRUCTURE = frozenset(
    {"finding", "implication", "conclusion", "conclude", "takeaway", "lesson", "summary", "summarize",
     "summarise", "overview", "recommend", "recommendation"}
)  # fmt: skip
"""Lemmas of a question that asks for what the report concludes rather than for one fact."""
_SPECIFIC_WH = frozenset({"who", "whom", "whose", "when", "where", "how many", "how much"})


def broad_question(query: Query) -> bool:
    """Whether a question asks for findings, conclusions, implications, recommendations or a
    summary (not "What are the two main instruments …", which is specific, nor a follow-up)."""
    analysis = query.analysis
    if analysis.scope != "broad" or query.followup or analysis.wh in _SPECIFIC_WH:
        return False
    return analysis.answer_type in ("summary", "recommendation") or bool(set(analysis.lemmas) & _STRUCTURE)


def compose_broad(
    kb: KnowledgeBase,
    query: Query,
    found: Retrieved,
    filters: Filters,
    composer: Callable[[Retrieved], Draft],
) -> Draft | None:
    """The structured answer to a broad question, or None when the question is not broad.

    ``composer`` is the ordinary composer, from ``turn.py``: it chooses the best-supported
    sentences and abstains when the report does not answer. A summary of one document composes
    within that document; otherwise the composer's sentences are grouped by document."""
    if not kb.settings.broad_answers or not broad_question(query):
        return None
    index = kb.index
    allowed = [d for d in index.docs.values() if filters.allows(d)]
    summary = index.docs.get("summary")
    single = _one_document(kb, query, found, allowed)
    if single is not None:
        within = kb.retrieve(query, Filters(doc_id=single.doc_id))
        drafted = composer(within)
        if drafted.abstained:
            return None
        return _bulleted(kb, drafted, f"{_short_speaker(single)} in brief:", attribute=False)
    recommending = query.analysis.answer_type == "recommendation"
    if not _topic(query) and not recommending and summary is not None and summary in allowed:
        return _findings(kb, summary)
    drafted = composer(found)
    if drafted.abstained:
        return drafted
    return _bulleted(kb, drafted, _lead(query, drafted), attribute=True)


def _bulleted(kb: KnowledgeBase, drafted: Draft, lead: str, attribute: bool) -> Draft:
    """The composer's quotations as bullets, one a document in the order first quoted, each led
    by who wrote it (the lead says who, when ``attribute`` is off)."""
    index = kb.index
    by_doc: dict[str, list[str]] = {}
    for key, ev in drafted.evidence.items():
        doc_id = index.chunk(ev.chunk_id).doc_id
        by_doc.setdefault(doc_id, []).append(f"{plain(ev.quote)} [{key}]")
    lines = [lead]
    for doc_id, quotes in by_doc.items():
        if attribute:
            lines.append(f"- {_short_speaker(index.docs[doc_id])}: {' '.join(quotes)}")
        else:
            lines.extend(f"- {q}" for q in quotes)
    return Draft(text="\n".join(lines), evidence=drafted.evidence)


def _one_document(
    kb: KnowledgeBase, query: Query, found: Retrieved, allowed: list[SourceDoc]
) -> SourceDoc | None:
    """The document a broad question is about, when it names one or asks about "the chapter on …"."""
    named = [d for d in allowed if d.doc_id in query.named_docs and d.kind in ("chapter", "appendix")]
    if len(named) == 1 or (named and asks_about_kind(query.question)):
        return max(named, key=lambda d: query.named_docs[d.doc_id])
    if not named and asks_about_kind(query.question):
        doc = target_doc(query, found, kb.index, kb.descriptors)
        if doc is not None and doc in allowed and doc.kind in ("chapter", "appendix"):
            return doc
    return None


def _findings(kb: KnowledgeBase, summary: SourceDoc) -> Draft | None:
    """The executive summary's findings: the opening sentence of each area's finding, and of the
    general finding before them."""
    index = kb.index
    points = [
        (chunk, sentence)
        for chunk in index.chunks
        if chunk.doc_id == summary.doc_id and chunk.section == FINDINGS_SECTION
        for paragraph in chunk.text.split("\n\n")
        for sentence in chunk.sentences
        if paragraph.startswith(sentence) and not _italic(sentence)
    ]
    # each area's finding opens with the area in bold ("__Space and cyber:__ …")
    areas = [p for p in points if p[1].startswith("__")]
    general = [p for p in points if not p[1].startswith("__")]
    chosen = sorted((areas + general)[:MAX_POINTS], key=lambda p: p[0].position)
    if not chosen:
        return None
    evidence: dict[str, Evidence] = {}
    lines = [f"The report's main findings, from its executive summary ({_surnames(summary)}):"]
    for chunk, sentence in chosen:
        key = f"b{len(evidence) + 1}"
        evidence[key] = Evidence(chunk.chunk_id, sentence)
        lines.append(f"- {plain(sentence)} [{key}]")
    return Draft(text="\n".join(lines), evidence=evidence)


def _italic(sentence: str) -> bool:
    """A sentence set in italics ("_Disclaimer regarding translations:_ …"), not in bold."""
    return sentence.startswith("_") and not sentence.startswith("__")


def _topic(query: Query) -> set[str]:
    """What a broad question is about beyond the report as a whole ("Summarize the main findings"
    has nothing; "What does the report recommend for NATO?" has NATO)."""
    return set(query.analysis.focus) - _REPORT_WIDE


def _lead(query: Query, drafted: Draft) -> str:
    """The line before the bullets; for a request for recommendations, whether the report makes any."""
    if query.analysis.answer_type == "recommendation":
        recommends = any(_RECOMMENDING & set(ev.quote.lower().split()) for ev in drafted.evidence.values())
        if not recommends:
            return (
                "The report makes no explicit recommendations on this; its chapters draw these "
                "conclusions and implications:"
            )
        return "What the report's chapters conclude, and recommend:"
    return "What the report's chapters and executive summary find:"


def _surnames(doc: SourceDoc) -> str:
    return " and ".join(a.split()[-1] for a in doc.authors)


def _short_speaker(doc: SourceDoc) -> str:
    """'Sendstad and Hakvåg (“Russian Views on …”)', 'Executive summary (Bergmann and Lohsen)'."""
    surnames = _surnames(doc)
    if doc.doc_id == "summary":
        return f"Executive summary ({surnames})" if surnames else "Executive summary"
    if doc.kind == "appendix":
        return f"{doc.authors_display or doc.publication} (“{doc.title}”)"
    return f"{surnames} (“{doc.title}”)" if surnames else f"“{doc.title}”"
