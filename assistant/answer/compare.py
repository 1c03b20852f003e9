"""Perspective comparison: what the Russian sources, the Chinese sources and the Western analysts
say about one question, side by side.

Each perspective is retrieved and composed on its own — restricted to that perspective's
documents — with the same extractive composer as ``ask()``; the three drafts are then finalized
together, so citations are numbered across the whole answer and every quote is verified.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from assistant.answer.turn import draft_answer
from assistant.citations import finalize
from assistant.embed import embed
from assistant.report import AREA_TOPICS, PERSPECTIVES
from assistant.retrieve import Filters
from assistant.text import plain, terms
from assistant.types import Answer, Draft, Evidence, Passage, Section, SourceDoc, in_perspective
from assistant.understand.query import analyse, detect_intent

if TYPE_CHECKING:
    from assistant.knowledge import KnowledgeBase
    from assistant.store.index import Index

NOT_ADDRESSED: dict[str, str] = {
    "Russian sources": "The Russian sources in the report do not appear to address this.",
    "Chinese sources": "The Chinese sources in the report do not appear to address this.",
    "Western analysis": "The Western analysis in the report does not appear to address this.",
}
"""What a perspective's part says when the composer abstains on its documents."""


def area_question(area: str) -> str:
    """The comparison asked when only an area is given."""
    return f"What do Russian sources, Chinese sources and Western analysts say about {AREA_TOPICS[area]}?"


# --- which questions ask for a comparison ------------------------------------------------------
_SIDE = r"(?:russian|chinese|western)"
_VOICE = (  # who speaks, or what they wrote or think
    r"(?:authors?|writers?|sources?|experts?|scholars?|analysts?|thinkers?|strategists?|commentators?"
    r"|observers?|specialists?|researchers?|academics?|voices?|communit(?:y|ies)|counterparts?|side"
    r"|sides|documents?|writings?|texts?|articles?|interviews?|literature|press|media|accounts?"
    r"|views?|perspectives?|analys[ie]s|narratives?|thinking|positions?|stances?|outlooks?|opinions?"
    r"|attitudes?|assessments?|framings?|interpretations?|understandings?|conceptions?|claims?"
    r"|arguments?|rationales?|approach(?:es)?|discourse|debates?|one|ones)"
)
_FILLER = r"(?:[\w-]+\s+){0,2}?"  # "Russian and Chinese [military] writers", "[strategic] community"
# "Russian and Chinese", "Chinese vs. Russian", "Russian, Chinese and Western", then a voice noun
_AND_LIST = re.compile(
    rf"\b{_SIDE}(?:\s*,\s*(?:the\s+)?{_SIDE})*,?\s+(?:and|versus|vs\.?|&)\s+(?:the\s+)?{_SIDE}\s+"
    rf"{_FILLER}{_VOICE}\b",
    re.I,
)
_OR_LIST = re.compile(
    rf"\b{_SIDE}(?:\s*,\s*{_SIDE})*,?\s+or\s+(?:the\s+)?{_SIDE}\s+{_FILLER}{_VOICE}\b", re.I
)
_SIDE_VOICE = re.compile(rf"\b(?P<side>{_SIDE})\s+{_FILLER}{_VOICE}\b", re.I)
_BIBLIOGRAPHIC = frozenset({"authors", "published", "original_title", "url"})
_CONTRAST = re.compile(
    r"\b(compar\w*|contrast\w*|differ\w*|disagree\w*|agree\w*|diverg\w*|converg\w*|similar\w*"
    r"|versus|vs|same as|unlike)\b",
    re.I,
)
_WHICH_SIDE = re.compile(r"\b(more|less|whose|which side|who is|each|both|respective(ly)?)\b", re.I)
_GENERIC = re.compile(
    r"\b(compare|contrast)\b.*\b(perspectives|views|sides|positions)\b|\bside[- ]by[- ]side\b"
    r"|\b(three|all|each|every) (perspectives?|sides)\b",
    re.I,
)


def is_comparison(question: str) -> bool:
    """Whether a question asks how perspectives compare, not merely mentions Russia and China.

    A comparison names two or more perspectives as voices: "Russian and Chinese writers",
    "Russian, Chinese and Western analysts", "the Russian side ... the Chinese side", "Russian
    or Chinese analysts" with a contrast ("who is more positive"), or asks for the perspectives
    generically ("Compare the perspectives on ..."). "Russian and Chinese forces", "the Russian
    S-400 and the Chinese HQ-9" or one perspective alone are not comparisons, nor are questions
    about the report's own bibliography.
    """
    if detect_intent(question) in _BIBLIOGRAPHIC:
        return False
    if _AND_LIST.search(question) or _GENERIC.search(question):
        return True
    if _OR_LIST.search(question) and (_CONTRAST.search(question) or _WHICH_SIDE.search(question)):
        return True
    return len({m.group("side").lower() for m in _SIDE_VOICE.finditer(question)}) >= 2


def comparison_topic(question: str) -> str:
    """What a comparison is about: the question without its perspectives and contrast words."""
    text = _AND_LIST.sub(" ", question)
    text = _OR_LIST.sub(" ", text)
    text = _SIDE_VOICE.sub(" ", text)
    text = _CONTRAST.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip(" ,;:-—")
    return text if terms(text) else question


# --- each perspective's documents ---------------------------------------------------------------
class DocSet(Filters):
    """Filters restricted further to a fixed set of documents (a perspective's own writings)."""

    doc_ids: frozenset[str] = frozenset()

    def allows(self, doc: SourceDoc) -> bool:
        return doc.doc_id in self.doc_ids and super().allows(doc)


def perspective_docs(docs: Iterable[SourceDoc], perspective: str, area: str | None = None) -> frozenset[str]:
    """A perspective's documents: the appendix sources in that language, or for Western analysis
    the chapters and (when no area is chosen) the executive summary — never the bios."""
    return frozenset(
        d.doc_id for d in docs if in_perspective(d, perspective) and (not area or d.area == area)
    )


def perspective_filters(docs: Iterable[SourceDoc], perspective: str, area: str | None = None) -> DocSet:
    return DocSet(area=area, perspective=perspective, doc_ids=perspective_docs(docs, perspective, area))


# --- the comparison answer ----------------------------------------------------------------------
_KEY = re.compile(r"\[([A-Za-z0-9_:/#.-]+)\]")
_EDITOR = re.compile(r"\W*Editor’s [Nn]ote\b")
_PREFIX = {"Russian sources": "ru-", "Chinese sources": "zh-", "Western analysis": "we-"}


def compare_perspectives(
    kb: KnowledgeBase,
    question: str,
    area: str | None = None,
    history: list[dict[str, str]] | None = None,
) -> Answer:
    """Answer ``question`` once per perspective, from that perspective's documents only, and
    return one ``Answer`` with a labelled line and a ``Section`` for each."""
    index, settings = kb.index, kb.settings
    base = analyse(question, history, kb.catalog)
    text = comparison_topic(base.text)
    topic = comparison_topic(base.topic) if base.topic != base.text else text
    topic_vector = embed(settings.embedding_model, [topic])[0] if topic != text else None
    drafts: dict[str, Draft] = {}
    for label in PERSPECTIVES:
        filters = perspective_filters(index.docs.values(), label, area)
        query = replace(base, text=text, topic=topic, perspective=label, intent="")
        found = kb.retrieve(query, filters)
        written, _ = draft_answer(
            kb,
            query,
            found,
            metadata=False,
            judge=False,
            topic=topic_vector,
            budget=settings.comparison_words,
        )
        drafts[label] = _own_evidence(written, filters, kb.index)
    lines: list[str] = []
    evidence: dict[str, Evidence] = {}
    for label, draft in drafts.items():
        body = NOT_ADDRESSED[label]
        if not draft.abstained:
            prefix = _PREFIX[label]
            evidence.update({prefix + key: ev for key, ev in draft.evidence.items()})
            body = _KEY.sub(
                lambda m, d=draft, p=prefix: f"[{p}{m.group(1)}]" if m.group(1) in d.evidence else "",
                draft.text,
            )
        lines.append(f"{label}: {' '.join(body.split())}")  # one line a perspective
    everywhere = all(d.abstained for d in drafts.values())
    answer = finalize(
        question,
        "\n".join(lines),
        evidence,
        index,
        kb.corpus,
        abstained=everywhere,
        related=_related(drafts.values(), settings.related_on_abstain) if everywhere else [],
    )
    answer.sections = [
        _section(label, line, drafts[label].abstained)
        for label, line in zip(PERSPECTIVES, answer.text.split("\n"), strict=True)
    ]
    return answer


def _own_evidence(draft: Draft, filters: DocSet, index: Index) -> Draft:
    """Keep only what the perspective's documents themselves say: retrieval already excludes
    other documents, and the report editors' notes inside a translated source are dropped here."""
    if draft.abstained:
        return draft
    docs = index.docs
    kept = {
        key: ev
        for key, ev in draft.evidence.items()
        if filters.allows(docs[index.chunk(ev.chunk_id).doc_id]) and not _EDITOR.match(ev.quote)
    }
    if not kept:
        return Draft(text="", abstained=True)
    if kept == draft.evidence:
        return draft
    return Draft(text=" ".join(f"{plain(ev.quote)} [{key}]" for key, ev in kept.items()), evidence=kept)


def _section(label: str, line: str, abstained: bool) -> Section:
    body = line.removeprefix(f"{label}:").strip()
    numbers = [int(n) for n in dict.fromkeys(re.findall(r"\[(\d+)\]", body))]
    return Section(label=label, text=body, citations=numbers, abstained=abstained)


def _related(drafts: Iterable[Draft], limit: int) -> list[Passage]:
    """On a full abstention: each perspective's nearest passage in turn, as reading."""
    pools = [list(d.related) for d in drafts]
    out: list[Passage] = []
    seen: set[str] = set()
    while any(pools) and len(out) < limit:
        for pool in pools:
            while pool:
                passage = pool.pop(0)
                if passage.doc.doc_id not in seen:
                    seen.add(passage.doc.doc_id)
                    out.append(passage)
                    break
            if len(out) >= limit:
                break
    return out
