"""Question analysis: which sources a question names, what it asks about the report itself,
and how a follow-up question resolves against the conversation so far."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assistant.corpus.chunk import split_sentences
from assistant.report import NAME_VARIANTS
from assistant.text import fold, terms
from assistant.types import Chunk, SourceDoc
from assistant.understand import QuestionAnalysis, analyse_question


@dataclass
class Query:
    """A question after analysis; ``text`` is what retrieval sees."""

    question: str
    text: str
    named_docs: dict[str, float] = field(default_factory=dict)
    """Documents the question names (by author, title or publication), with match strength."""
    focus_docs: list[str] = field(default_factory=list)
    """Documents the previous answer drew on, for follow-ups."""
    mentioned: set[int] = field(default_factory=set)
    """Passages (chunk positions) that mention an author the question names."""
    perspective: str = ""
    intent: str = ""
    """'' for an ordinary question, else authors | published | original_title | url | bio."""
    followup: bool = False
    topic: str = ""
    """``text`` without the names of the sources it mentions."""
    kind: str = ""
    """The kind of document the question asks about: 'appendix' (a translated source), 'chapter' or ''."""
    analysis: QuestionAnalysis = field(default=None)  # type: ignore[assignment]
    """The question's linguistic analysis (spaCy): entities, focus, expected answer type, scope."""
    context_analysis: QuestionAnalysis | None = None
    """For a follow-up, the analysis of the question it follows."""
    about_person: bool = False
    """Whether the question asks about a person's career or expertise ("Where does she work?")."""
    inherited: bool = False
    """Whether ``named_docs`` come from earlier in the conversation (the question names none)."""
    dangling: bool = False
    """Whether the question refers back ("When was that published?") with no conversation to
    refer to and names no source of its own."""

    def __post_init__(self) -> None:
        if not self.topic:
            self.topic = self.text
        if self.analysis is None:
            self.analysis = analyse_question(self.question)


def _norm_name(word: str) -> str:
    w = fold(word)
    return NAME_VARIANTS.get(w, w)


class Catalog:
    """What questions can name: authors, distinctive title phrases, publications, and which
    passages mention an author. Built once per index."""

    def __init__(self, docs: dict[str, SourceDoc], chunks: list[Chunk]) -> None:
        self.docs = docs
        self.names: dict[str, set[str]] = {}
        self.phrases: dict[str, tuple[set[str], float]] = {}
        self.sentence_docs = {s: c.doc_id for c in chunks for s in c.sentences}
        for doc in docs.values():
            for person in doc.authors:
                tokens = [_norm_name(t) for t in re.findall(r"[\wÀ-ÿ’'-]+", person)]
                tokens = [t for t in tokens if t not in {"colonel", "general"}]
                self.names.setdefault(" ".join(tokens), set()).add(doc.doc_id)
                for token in tokens:
                    if len(token) >= 4 and "." not in token:
                        self.names.setdefault(token, set()).add(doc.doc_id)
        for doc in docs.values():  # "Gabuev and Kashin", "He and Ye": every author by surname
            if len(doc.authors) >= 2:
                surnames = [_surname(a, doc.language) for a in doc.authors]
                self.names.setdefault(" and ".join(surnames), set()).add(doc.doc_id)
        texts = [" ".join(terms(c.text)) for c in chunks]
        for doc in docs.values():
            if doc.kind not in ("appendix", "chapter"):
                continue
            title = terms(doc.title)
            self._phrase(" ".join(title), doc.doc_id, 3.0)
            for n in (2, 3):  # distinctive runs of title words: rare in the report's text
                for i in range(len(title) - n + 1):
                    phrase = " ".join(title[i : i + n])
                    if sum(_contains(t, phrase) for t in texts) <= 3:
                        self._phrase(phrase, doc.doc_id, 1.0)
            publication = " ".join(terms(doc.publication))
            if len(publication) > 6:  # an outlet names its articles even where chapters cite it
                self._phrase(publication, doc.doc_id, 1.0)
        for alias in ("executive summary", "summary"):
            self._phrase(alias, "summary", 2.0)
        self.mentions: dict[str, set[int]] = {}
        folded = [" ".join(_norm_name(w) for w in re.findall(r"[\wÀ-ÿ’'-]+", c.text)) for c in chunks]
        for name in self.names:
            self.mentions[name] = {i for i, t in enumerate(folded) if _contains(t, name)}

    def _phrase(self, phrase: str, doc_id: str, weight: float) -> None:
        if not phrase:
            return
        ids, old = self.phrases.get(phrase, (set(), 0.0))
        ids.add(doc_id)
        self.phrases[phrase] = (ids, max(old, weight))

    def _matched_names(self, question: str) -> list[str]:
        folded = " ".join(_norm_name(w) for w in re.findall(r"[\wÀ-ÿ’'-]+", question))
        return [name for name in self.names if _contains(folded, name)]

    def named_docs(self, question: str) -> dict[str, float]:
        """Documents a question names by author, title words or publication, with strength 0..1."""
        found: dict[str, float] = {}
        for name in self._matched_names(question):
            weight = 3.0 if " " in name else 2.0
            for doc_id in self.names[name]:
                found[doc_id] = found.get(doc_id, 0.0) + weight
        qterms = " ".join(terms(question))
        for phrase, (ids, weight) in self.phrases.items():
            if len(ids) <= 3 and _contains(qterms, phrase):
                for doc_id in ids:
                    found[doc_id] = found.get(doc_id, 0.0) + weight / len(ids)
        if not found:
            return {}
        best = max(found.values())
        return {d: w / best for d, w in found.items() if w >= best * 0.6}

    def mentioned_chunks(self, question: str) -> set[int]:
        """Passages that mention an author the question names (chapters quoting that author)."""
        out: set[int] = set()
        for name in self._matched_names(question):
            out |= self.mentions.get(name, set())
        return out

    def strip_names(self, question: str) -> str:
        """The question without author names, leaving its topic."""
        words = re.findall(r"\S+", question)
        kept = [w for w in words if _norm_name(re.sub(r"[^\wÀ-ÿ-]", "", w)) not in self.names]
        return " ".join(kept)


def _surname(person: str, language: str) -> str:
    """Family name as a question would use it: first for Chinese names, last otherwise."""
    tokens = [_norm_name(t) for t in re.findall(r"[\wÀ-ÿ’'-]+", person)]
    return tokens[0] if language == "Chinese" else tokens[-1]


def _contains(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text) is not None


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
            r"\bwho (wrote|authored|is the author|are (the|its|their) authors|penned|contributed)\b"
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
            r"|\bpublished (when|where|in which)\b|\bpublication date\b|\bwho published\b|\bpublisher\b",
            re.I,
        ),
    ),
    (
        "title",
        re.compile(
            r"\b(english|full|exact) title\b|\bwhat (is|was) (it|that|this)( piece| article| paper| source)? "
            r"called\b|\b(title|name) of (that|this|the) (piece|article|paper|source|document|book)\b",
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

# what a contributor's biography answers, beyond the "bio" intent's "who is …"
_ABOUT_PERSON = re.compile(
    r"\b(background|biograph\w*|career|expertise|speciali[sz]\w*|affiliat\w*|research interests"
    r"|previously|formerly|degrees?|ph\.?d|studied|education|works? (?:at|for)|worked|papers)\b",
    re.I,
)


def prefer_biographies(named: dict[str, float], question: str, catalog: Catalog) -> dict[str, float]:
    """For a question about a person's career or expertise, their biography before their writings."""
    if not named or not _ABOUT_PERSON.search(question):
        return named
    weighted = {d: w * (2.0 if catalog.docs[d].kind == "bio" else 1.0) for d, w in named.items()}
    best = max(weighted.values())
    return {d: w / best for d, w in weighted.items() if w >= best * 0.6}


_ANAPHORA = re.compile(
    r"\b(it|its|that|this|these|those|they|them|their|he|she|his|her|the same|the authors?|the article|"
    r"the chapter|the source|the paper|the piece|the document|the study|the book|there)\b",
    re.I,
)
# a capitalised word past the first that is not a nationality: the question names its own subject
_OWN_SUBJECT = re.compile(r"(?<=\S)\s+(?!(?:Russian|Chinese|Western|Soviet|American|European)\b)[A-Z]")
_POSSESSIVE = re.compile(r"\b(its|their)\b", re.I)
_BACK_REFERENCE = re.compile(r"\b(it|this|that|these|those|the same)\b(?!\s+(?:of|about)\b)", re.I)
_FOLLOWUP_START = re.compile(
    r"^(and|also|what about|how about|so|then|but|why|anything else|more on)\b", re.I
)


def detect_intent(question: str) -> str:
    for name, pattern in _INTENTS:
        if pattern.search(question):
            return name
    return ""


_SIDES = re.compile(
    r"\b(?:russian|chinese|western)\s*(?:,|and|or|&|/|vs\.?|versus)\s*(?:the\s+)?(?:russian|chinese|western)\b",
    re.I,
)


def detect_perspective(question: str) -> str:
    """The one perspective a question asks for ("What do Chinese strategists think…"); none when
    it names several sides ("Russian and Chinese strategists")."""
    m = _PERSPECTIVE.search(question)
    if not m or _SIDES.search(question):
        return ""
    return {"russian": "Russian sources", "chinese": "Chinese sources", "western": "Western analysis"}[
        m.group(1).lower()
    ]


_KIND = (
    ("appendix", re.compile(r"\bappendix\b|\btranslated (?:sources?|articles?|documents?|texts?)\b", re.I)),
    ("chapter", re.compile(r"\bchapters?\b", re.I)),
)


def detect_kind(question: str) -> str:
    """Which kind of document a question asks about: "Which appendix source…" -> 'appendix'."""
    return next((kind for kind, pattern in _KIND if pattern.search(question)), "")


def is_followup(question: str, named: dict[str, float], unnamed: str | None = None) -> bool:
    """Whether a question leans on the conversation: it starts like a continuation ("And why?"),
    is too short to stand alone ("Which Chinese vehicles exactly?"), or refers back ("Do Hart
    and Lin see it the same way?": ``unnamed`` is the question without the names it gives)."""
    content = terms(question)
    if _FOLLOWUP_START.search(question) and len(content) <= 6:
        return True
    if len(content) <= 3 and not named and not _OWN_SUBJECT.search(question):
        return True
    if named:
        rest = terms(unnamed if unnamed is not None else question)
        return bool(_BACK_REFERENCE.search(question)) and len(rest) <= 3
    return bool(_ANAPHORA.search(question)) and len(content) <= 5


_SUBJECT_TURNS = 3
"""How many questions back a follow-up looks for the source or person it is about."""


def cited_docs(message: dict[str, Any], catalog: Catalog) -> list[str]:
    """The documents an earlier answer drew on: those it cited, when the message says
    (``"sources"``, as ``Conversation`` records them), else those its quotations come from."""
    sources = message.get("sources")
    if isinstance(sources, list) and sources:
        return [d for d in dict.fromkeys(sources) if isinstance(d, str) and d in catalog.docs]
    return docs_in_text(str(message.get("content", "")), catalog)


def docs_in_text(text: str, catalog: Catalog) -> list[str]:
    """Documents an earlier answer drew on: its sentences are verbatim report sentences."""
    found: list[str] = []
    plain = re.sub(r"\s*\[\d+\]", "", text)
    for sentence in split_sentences(plain):
        doc_id = catalog.sentence_docs.get(sentence.strip())
        if doc_id and doc_id not in found:
            found.append(doc_id)
    for doc in catalog.docs.values():  # metadata answers name titles rather than quote sentences
        if doc.kind in ("appendix", "chapter") and doc.title in text and doc.doc_id not in found:
            found.append(doc.doc_id)
    return found


def analyse(question: str, history: list[dict[str, Any]] | None, catalog: Catalog) -> Query:
    """Resolve a question against the conversation; the result drives retrieval and answering."""
    named = catalog.named_docs(question)
    query = Query(
        question=question,
        text=question,
        named_docs=named,
        mentioned=catalog.mentioned_chunks(question),
        perspective=detect_perspective(question),
        kind=detect_kind(question),
        intent=detect_intent(question),
    )
    if named:
        query.topic = catalog.strip_names(question)
    turns = [t for t in (history or []) if isinstance(t, dict) and isinstance(t.get("content"), str)]
    if turns and is_followup(question, named, query.topic if named else None):
        _resolve_followup(query, turns, catalog)
    elif not turns and not named and query.intent and _refers_back_only(question, query.analysis):
        query.dangling = True  # "When was it published?" as a first question: published what?
    query.about_person = query.intent == "bio" or bool(_ABOUT_PERSON.search(question))
    # the documents named here or earlier in the conversation, biographies first when asked for
    query.named_docs = prefer_biographies(query.named_docs, question, catalog)
    return query


def _resolve_followup(query: Query, turns: list[dict[str, Any]], catalog: Catalog) -> None:
    """A follow-up takes its topic from the previous question, its sources from the previous
    answer, and (when it names none itself) the documents the previous question named."""
    previous_user = [t["content"] for t in turns if t.get("role") == "user"]
    last_answer = next((t for t in reversed(turns) if t.get("role") == "assistant"), None)
    query.followup = True
    if last_answer is not None:
        query.focus_docs = cited_docs(last_answer, catalog)
    if previous_user:
        query.context_analysis = analyse_question(previous_user[-1])
        topic = catalog.strip_names(previous_user[-1])
        query.text = query.topic = f"{query.question} {topic}"
        if not query.named_docs and not query.perspective:
            # the subject is the latest source or person named, even a few follow-ups back
            # ("Who is Meia Nouwens?" → "Where does she work?" → "What does she conclude?")
            subject = _subject(previous_user, catalog)
            query.named_docs = catalog.named_docs(subject)
            query.mentioned = catalog.mentioned_chunks(subject)
            query.inherited = bool(query.named_docs)
    if query.perspective:
        # a follow-up that asks for another perspective wants other sources than the last answer's
        docs = catalog.docs
        query.focus_docs = [d for d in query.focus_docs if _perspective_of(docs[d]) == query.perspective]


def _refers_back_only(question: str, analysis: QuestionAnalysis) -> bool:
    """Whether a question's subject is only a pronoun ("When was that published?", "What is its
    original title?"), not a description ("Who wrote the chapter on space cooperation?")."""
    return bool(_BACK_REFERENCE.search(question) or _POSSESSIVE.search(question)) and len(analysis.focus) <= 1


def _subject(previous_user: list[str], catalog: Catalog) -> str:
    """The latest earlier question that names a source or person, looking back through a chain
    of follow-ups only ("Who is Meia Nouwens?" → "Where does she work?" → "What does she
    conclude?"); else the last question."""
    for q in reversed(previous_user[-_SUBJECT_TURNS:]):
        named = catalog.named_docs(q)
        if named:
            return q
        if not is_followup(q, named):
            break  # a question of its own that names nobody: the chain ends there
    return previous_user[-1]


def _perspective_of(doc: SourceDoc) -> str:
    return doc.perspective if doc.kind == "appendix" else (doc.focus or doc.perspective)
