"""Question analysis: which sources a question names, what it asks about the report itself,
and how a follow-up question resolves against the conversation so far."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import lru_cache

from .chunk import split_sentences
from .text import STOPWORDS, fold, terms
from .types import SourceDoc

# Aliases the report itself uses for the same person.
_NAME_VARIANTS = {"vasiliy": "vasily", "alexandr": "alexander"}


@dataclass
class Query:
    """A question after analysis; ``text`` is what retrieval sees."""

    question: str
    text: str
    named_docs: dict[str, float] = field(default_factory=dict)
    """Documents the question names (by author, title or publication), with match strength."""
    focus_docs: list[str] = field(default_factory=list)
    """Documents the previous answer drew on, for follow-ups."""
    perspective: str = ""
    intent: str = ""
    """'' for an ordinary question, else authors | published | original_title | url | bio."""
    followup: bool = False
    topic: str = ""
    """``text`` without the names of the sources it mentions."""

    def __post_init__(self) -> None:
        if not self.topic:
            self.topic = self.text


def _norm_name(word: str) -> str:
    w = fold(word)
    return _NAME_VARIANTS.get(w, w)


@lru_cache(maxsize=8)
def _alias_table(docs: tuple[SourceDoc, ...]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """name token -> doc ids, and title/publication phrase -> doc ids."""
    names: dict[str, set[str]] = {}
    phrases: dict[str, set[str]] = {}
    for doc in docs:
        for person in doc.authors:
            tokens = [_norm_name(t) for t in re.findall(r"[\wÀ-ÿ’'-]+", person)]
            tokens = [t for t in tokens if t not in {"colonel", "general"}]
            full = " ".join(tokens)
            names.setdefault(full, set()).add(doc.doc_id)
            for token in tokens:
                if len(token) >= 4 and "." not in token:
                    names.setdefault(token, set()).add(doc.doc_id)
        if doc.kind == "appendix":
            title_terms = [t for t in terms(doc.title)]
            for a, b in itertools.pairwise(title_terms):
                phrases.setdefault(f"{a} {b}", set()).add(doc.doc_id)
            pub = " ".join(terms(doc.publication))
            if pub and len(pub) > 6:
                phrases.setdefault(pub, set()).add(doc.doc_id)
    # a title bigram shared by many sources names none of them
    phrases = {k: v for k, v in phrases.items() if len(v) <= 3}
    return names, phrases


def strip_names(question: str, docs: dict[str, SourceDoc]) -> str:
    """The question without author names, leaving its topic."""
    names, _ = _alias_table(tuple(docs.values()))
    words = re.findall(r"\S+", question)
    kept = [w for w in words if _norm_name(re.sub(r"[^\wÀ-ÿ-]", "", w)) not in names]
    return " ".join(kept)


def named_docs(question: str, docs: dict[str, SourceDoc]) -> dict[str, float]:
    """Documents a question names by author, title words or publication."""
    names, phrases = _alias_table(tuple(docs.values()))
    folded = " ".join(_norm_name(w) for w in re.findall(r"[\wÀ-ÿ’'-]+", question))
    found: dict[str, float] = {}
    for name, ids in names.items():
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", folded):
            weight = 3.0 if " " in name else 2.0
            for doc_id in ids:
                found[doc_id] = found.get(doc_id, 0.0) + weight
    qterms = " ".join(terms(question))
    for phrase, ids in phrases.items():
        if re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", qterms):
            for doc_id in ids:
                found[doc_id] = found.get(doc_id, 0.0) + 1.0 / len(ids)
    if not found:
        return {}
    best = max(found.values())
    return {d: w / best for d, w in found.items() if w >= best * 0.6}


_PERSPECTIVE = re.compile(
    r"\b(russian|chinese|western)\s+(?:\w+\s+)?(authors?|sources?|writers?|experts?|scholars?|analysts?|"
    r"thinkers?|strategists?|documents?|commentators?|perspectives?|views?|side|analysis|writings?)\b",
    re.I,
)

_INTENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "original_title",
        re.compile(
            r"\b(original|russian|chinese|native)([- ]language)?\s+(title|name)\b"
            r"|\btitle\b.*\b(in|originally in) (the original|russian|chinese)\b",
            re.I,
        ),
    ),
    ("url", re.compile(r"\b(url|link|web ?address|online|where can i (read|find))\b", re.I)),
    (
        "authors",
        re.compile(
            r"\bwho (wrote|authored|is the author|are the authors|penned|contributed)\b"
            r"|\b(author|authors) of\b|\bwritten by whom\b|\bby whom\b",
            re.I,
        ),
    ),
    (
        "published",
        re.compile(
            r"\b(when|where|which (journal|outlet|publication|year)"
            r"|what (year|date|journal|outlet|publication))\b.*"
            r"\b(publish|published|publication|appear|appeared|released|come out|came out"
            r"|written|printed|issued)\b"
            r"|\bpublished (when|where|in which)\b|\bpublication date\b",
            re.I,
        ),
    ),
    (
        "bio",
        re.compile(
            r"^(who is|who's|tell me about|what is the background of|what is .+'s background"
            r"|what does .+ do\b|where does .+ work)",
            re.I,
        ),
    ),
)

_ANAPHORA = re.compile(
    r"\b(it|its|that|this|these|those|they|them|their|he|she|his|her|the same|the authors?|the article|"
    r"the chapter|the source|the paper|the piece|the document|the study|the book|there)\b",
    re.I,
)
_FOLLOWUP_START = re.compile(
    r"^(and|also|what about|how about|so|then|but|why|anything else|more on)\b", re.I
)


def detect_intent(question: str) -> str:
    for name, pattern in _INTENTS:
        if pattern.search(question):
            return name
    return ""


def detect_perspective(question: str) -> str:
    m = _PERSPECTIVE.search(question)
    if not m:
        return ""
    return {"russian": "Russian sources", "chinese": "Chinese sources", "western": "Western analysis"}[
        m.group(1).lower()
    ]


def is_followup(question: str, named: dict[str, float]) -> bool:
    content = [t for t in terms(question) if t not in STOPWORDS]
    if _FOLLOWUP_START.search(question) and len(content) <= 6:
        return True
    if named:
        return False
    return bool(_ANAPHORA.search(question)) and len(content) <= 5


def docs_in_text(text: str, chunks_by_sentence: dict[str, str], docs: dict[str, SourceDoc]) -> list[str]:
    """Documents an earlier answer drew on: its sentences are verbatim report sentences."""
    found: list[str] = []
    plain = re.sub(r"\s*\[\d+\]", "", text)
    for sentence in split_sentences(plain):
        doc_id = chunks_by_sentence.get(sentence.strip())
        if doc_id and doc_id not in found:
            found.append(doc_id)
    for doc in docs.values():  # metadata answers name titles rather than quote sentences
        if doc.kind in ("appendix", "chapter") and doc.title in text and doc.doc_id not in found:
            found.append(doc.doc_id)
    return found


def analyse(
    question: str,
    history: list[dict[str, str]] | None,
    docs: dict[str, SourceDoc],
    chunks_by_sentence: dict[str, str],
) -> Query:
    """Resolve a question against the conversation; the result drives retrieval and answering."""
    named = named_docs(question, docs)
    query = Query(
        question=question,
        text=question,
        named_docs=named,
        perspective=detect_perspective(question),
        intent=detect_intent(question),
    )
    if named:
        query.topic = strip_names(question, docs)
    turns = [t for t in (history or []) if isinstance(t, dict) and isinstance(t.get("content"), str)]
    if not turns or not is_followup(question, named):
        return query
    previous_user = [t["content"] for t in turns if t.get("role") == "user"]
    previous_answer = next((t["content"] for t in reversed(turns) if t.get("role") == "assistant"), "")
    query.followup = True
    query.focus_docs = docs_in_text(previous_answer, chunks_by_sentence, docs)
    if previous_user:
        topic = strip_names(previous_user[-1], docs)
        query.text = query.topic = f"{question} {topic}"
        if not named and not query.perspective:
            query.named_docs = named_docs(previous_user[-1], docs)
    if query.perspective:
        # a follow-up that asks for another perspective wants other sources than the last answer's
        query.focus_docs = [d for d in query.focus_docs if _perspective_of(docs[d]) == query.perspective]
    return query


def _perspective_of(doc: SourceDoc) -> str:
    return doc.perspective if doc.kind == "appendix" else (doc.focus or doc.perspective)
