"""One question, analysed once: entities, focus, expected answer type, numbers, dates and scope.

Everything here reads spaCy's analysis (part of speech, dependencies, lemmas, named entities);
the only word lists are lemma classes that say what kind of answer a question's head noun asks
for ("price" asks for money, "successor" for a person).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from assistant.text import fold
from assistant.understand.nlp import NAME_LABELS, Entity, content_lemmas, lemma, load_nlp

AnswerType = Literal[
    "person",
    "organisation",
    "place",
    "date",
    "number",
    "money",
    "quantity",
    "reason",
    "list",
    "definition",
    "yes/no",
    "recommendation",
    "summary",
    "other",
]
Scope = Literal["specific", "broad"]

CHECKABLE: frozenset[str] = frozenset(
    {"person", "organisation", "place", "date", "number", "money", "quantity"}
)
"""Answer types whose presence in a sentence spaCy's entity labels can show."""

TYPE_LABELS: dict[str, frozenset[str]] = {
    "person": frozenset({"PERSON", "ORG", "GPE", "NORP"}),  # 'who cancelled …' may be a country
    "organisation": frozenset({"ORG"}),
    "place": frozenset({"GPE", "LOC", "FAC"}),
    "date": frozenset({"DATE"}),
    "number": frozenset({"CARDINAL", "PERCENT", "QUANTITY", "MONEY"}),
    "money": frozenset({"MONEY"}),
    "quantity": frozenset({"QUANTITY"}),
}

# lemma classes of the noun a "what/which N" question asks for
_NOUN_TYPES: dict[str, AnswerType] = {
    **dict.fromkeys(("year", "date", "month", "day", "decade", "time", "period", "deadline"), "date"),
    **dict.fromkeys(
        ("price", "cost", "budget", "sum", "value", "worth", "revenue", "funding", "fee", "investment"),
        "money",
    ),
    **dict.fromkeys(
        ("number", "percentage", "share", "proportion", "count", "total", "figure", "amount", "size"),
        "number",
    ),
    **dict.fromkeys(
        ("range", "distance", "length", "speed", "weight", "payload", "altitude", "height", "depth",
         "capacity", "yield", "orbit", "radius", "duration"),
        "quantity",
    ),
    **dict.fromkeys(
        ("person", "author", "writer", "leader", "head", "chief", "commander", "successor", "minister",
         "president", "director", "official", "general", "expert", "analyst", "scholar", "spokesperson",
         "editor", "officer", "founder", "chairman", "predecessor", "ambassador", "researcher"),
        "person",
    ),
    **dict.fromkeys(
        ("organization", "organisation", "company", "firm", "bank", "agency", "institute", "outlet",
         "journal", "newspaper", "publisher", "university", "ministry", "contractor", "manufacturer",
         "corporation", "enterprise", "think-tank"),
        "organisation",
    ),
    **dict.fromkeys(
        ("country", "city", "region", "place", "location", "province", "base", "port", "site", "venue",
         "capital", "territory", "island"),
        "place",
    ),
}  # fmt: skip
_SPEAKER_NOUNS = frozenset(
    {"author", "writer", "scholar", "expert", "analyst", "thinker", "strategist", "commentator",
     "researcher", "source", "article", "piece", "paper", "publication", "outlet", "journal", "chapter",
     "document", "study", "contributor", "specialist", "observer", "official"}
)  # fmt: skip
_IMPERATIVES = frozenset(
    {"compare", "contrast", "summarize", "summarise", "describe", "explain", "list", "name", "tell", "give",
     "outline", "show", "identify"}
)  # fmt: skip
"""Verbs a question may open with, which the small pipeline sometimes reads as part of a name."""
_SAY_VERBS = frozenset(
    {"say", "argue", "write", "claim", "note", "describe", "suggest", "warn", "believe", "contend", "state",
     "point", "call", "see", "view", "characterize", "characterise", "draw", "compare", "distinguish",
     "make", "cite", "quote", "propose", "predict", "conclude", "emphasize", "stress", "think", "mention"}
)  # fmt: skip
_MONEY_LEMMAS = frozenset({"pay", "cost", "price", "spend", "worth", "budget", "money", "fund", "invest"})
_RECOMMEND = frozenset({"recommend", "recommendation", "advise", "advice", "prescription"})
_SUMMARY = frozenset({"summarize", "summarise", "summary", "overview", "finding", "takeaway", "conclusion"})
_BROAD = frozenset({"main", "overall", "key", "implication", "theme", "lesson", "broadly", "general"})
_DEFINE = frozenset({"mean", "define", "definition", "meaning", "stand"})
_GENERIC = frozenset(
    {"report", "chapter", "author", "source", "article", "say", "argue", "think", "view", "write", "describe",
     "discuss", "mention", "explain", "note", "according", "tell", "give", "detail", "exact", "exactly",
     "specific", "information", "kind", "type", "way", "thing", "role", "do", "be", "have", "make",
     "supposedly", "apparently", "reportedly", "allegedly", "presumably", "whatever", "actually"}
)  # fmt: skip
"""Content words that say how a question is asked, not what it is about."""

_YEAR = re.compile(r"(?<![\w-])(1[89]\d\d|20\d\d)(?![\w-])")


@dataclass(frozen=True)
class QuestionAnalysis:
    """The linguistic analysis of one question."""

    text: str
    lemmas: tuple[str, ...] = ()
    """Folded lemmas of its content words."""
    focus: tuple[str, ...] = ()
    """The content lemmas of what is asked about (no wh-words, no asking words, no answer-type noun)."""
    focus_phrase: str = ""
    """The main noun phrase asked about, as written ('the S-400 contract')."""
    entities: tuple[Entity, ...] = ()
    names: tuple[str, ...] = ()
    """Proper names to look for in the report: named entities and proper nouns, as written."""
    numbers: tuple[str, ...] = ()
    """Numbers other than years, as written."""
    years: tuple[int, ...] = ()
    answer_type: AnswerType = "other"
    answer_noun: str = ""
    """The noun a 'which/what N' question asks for ('rocket'), when it has one."""
    scope: Scope = "specific"
    wh: str = ""
    """The question word ('who', 'how many', ...), or ''."""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def typed(self) -> bool:
        return self.answer_type in CHECKABLE

    @property
    def asks_who(self) -> bool:
        """Whether it asks who said something or where: 'Who argues …', 'Which Chinese author …'."""
        return self.wh in ("who", "whom", "whose") or self.answer_noun in _SPEAKER_NOUNS

    @property
    def asks_name(self) -> bool:
        """Whether the answer is a name the question does not give: 'What was it called?', 'Which
        Russian company …', 'What is the name of …'."""
        return self.extra.get("asks_name") == "1"

    @property
    def asks_speaker(self) -> bool:
        """Whether the answer is a source's author rather than a person named in a sentence: 'Which
        Chinese author …', 'Who argues that …'."""
        return self.answer_noun in _SPEAKER_NOUNS or (self.asks_who and self.extra.get("verb") in _SAY_VERBS)


@lru_cache(maxsize=4096)
def analyse_question(text: str) -> QuestionAnalysis:
    """Analyse a question with spaCy (about 10 ms); remembered for repeated questions."""
    doc = load_nlp()(text)
    wh_token = next((t for t in doc if t.tag_ in ("WDT", "WP", "WP$", "WRB")), None)
    wh = wh_token.lower_ if wh_token is not None else ""
    answer_type: AnswerType = "other"
    answer_noun = ""
    lemmas = content_lemmas(doc)
    lemma_set = set(lemmas) | {fold(t.lemma_) for t in doc}
    if wh_token is not None:
        nxt = doc[wh_token.i + 1] if wh_token.i + 1 < len(doc) else None
        if wh == "how" and nxt is not None and nxt.lower_ in ("many", "much"):
            wh = f"how {nxt.lower_}"
            if nxt.lower_ == "much" and lemma_set & _MONEY_LEMMAS:
                answer_type = "money"
            else:
                answer_type = "number"
                noun = _head_noun_after(nxt)
                if noun:
                    answer_noun = noun
        elif wh == "how" and nxt is not None and nxt.pos_ in ("ADJ", "ADV") and nxt.lower_ in (
            "long", "far", "big", "large", "fast", "heavy", "high", "old", "often",
        ):  # fmt: skip
            answer_type = "quantity" if nxt.lower_ in ("far", "fast", "heavy", "high") else "number"
            if nxt.lower_ == "long" and "year" in lemma_set:
                answer_type = "date"
        elif wh == "when":
            answer_type = "date"
        elif wh == "where":
            answer_type = "place"
        elif wh == "why":
            answer_type = "reason"
        elif wh in ("who", "whom", "whose"):
            answer_type = "person"
        elif wh in ("what", "which"):
            noun = _asked_noun(wh_token)
            if noun:
                answer_noun = noun
                answer_type = _NOUN_TYPES.get(noun, "other")
                if answer_type == "other" and nxt is not None and nxt.tag_ in ("NNS", "NNPS"):
                    answer_type = "list"
            elif _DEFINE & lemma_set or _is_what_is(doc, wh_token):
                answer_type = "definition"
    elif len(doc) and doc[0].pos_ in ("AUX", "VERB") and doc[0].lemma_ in ("be", "do", "have", "can", "will"):
        answer_type = "yes/no"
    if lemma_set & _RECOMMEND:
        answer_type = "recommendation"
    elif lemma_set & _SUMMARY and answer_type in ("other", "list", "definition", "yes/no"):
        answer_type = "summary"
    elif doc[:1].text.lower() in ("list", "name") and answer_type == "other":
        answer_type = "list"
    scope: Scope = (
        "broad" if answer_type in ("recommendation", "summary") or lemma_set & _BROAD else "specific"
    )

    entities = tuple(Entity(e.text, e.label_) for e in doc.ents)
    names = _names(doc)
    years = tuple(int(y) for y in _YEAR.findall(text))
    numbers = tuple(
        t.text
        for t in doc
        if t.like_num
        and any(c.isdigit() for c in t.text)
        and not _YEAR.fullmatch(t.text)
        and "-" not in t.text
    )
    skip = _GENERIC | _RECOMMEND | _SUMMARY | _BROAD | {answer_noun}
    focus = tuple(dict.fromkeys(lem for lem in lemmas if lem not in skip and not _YEAR.fullmatch(lem)))
    chunks = [
        c
        for c in doc.noun_chunks
        if c.root.tag_ not in ("WP", "WDT", "PRP")
        and c.root.lower_ not in skip
        and not any(t.tag_ in ("WDT", "WP", "WRB") or t.lower_ in ("many", "much") for t in c)
    ]
    phrase = max(chunks, key=lambda c: (c.root.pos_ == "PROPN" or bool(c.ents), len(c)), default=None)
    return QuestionAnalysis(
        text=text,
        lemmas=tuple(lemmas),
        focus=focus,
        focus_phrase=phrase.text if phrase is not None else "",
        entities=entities,
        names=names,
        numbers=numbers,
        years=years,
        answer_type=answer_type,
        answer_noun=answer_noun,
        scope=scope,
        wh=wh,
        extra={
            "verb": next((t.lemma_ for t in doc if t.dep_ == "ROOT"), ""),
            "asks_name": "1"
            if wh in ("what", "which")
            and (
                lemma_set & {"name", "call", "codename", "designation"}
                or (answer_noun and answer_type in ("other", "list", "organisation"))
            )
            and answer_noun not in ("view", "role", "way", "reason", "stance", "position", "argument")
            else "",
        },
    )


def _head_noun_after(token):  # type: ignore[no-untyped-def]
    """The noun that 'many' or 'much' qualifies: 'how many PLA troops' -> 'troop'."""
    head = token.head
    if head.pos_ in ("NOUN", "PROPN"):
        return lemma(head)
    for t in token.doc[token.i + 1 : token.i + 5]:
        if t.pos_ == "NOUN":
            return lemma(t)
    return ""


def _asked_noun(wh_token):  # type: ignore[no-untyped-def]
    """The noun a what/which question asks for: 'Which rocket …' -> 'rocket'; 'What was the price of
    …' -> 'price'; '' for 'What did Kashin say?'."""
    if wh_token.dep_ == "det" and wh_token.head.pos_ in ("NOUN", "PROPN"):
        return lemma(wh_token.head)
    run = []  # the parser may miss the determiner ('Which Chinese banks stopped …'): read the tags
    for t in wh_token.doc[wh_token.i + 1 : wh_token.i + 5]:
        if t.pos_ not in ("ADJ", "NOUN", "PROPN", "NUM") or (
            t.pos_ == "PROPN" and not run and t.dep_ != "amod"
        ):
            break
        run.append(t)
    nouns = [t for t in run if t.pos_ == "NOUN"]
    if nouns and run[-1].pos_ == "NOUN":
        return lemma(nouns[-1])
    root = wh_token.head
    if root.lemma_ == "be":  # "What is the price of …", "What was the name of …"
        for child in root.children:
            if child.dep_ in ("attr", "nsubj") and child.i != wh_token.i and child.pos_ == "NOUN":
                noun = lemma(child)
                if noun in ("name", "title"):  # "the name of the rocket" asks for a rocket
                    of = next((c for c in child.children if c.dep_ == "prep"), None)
                    obj = next((c for c in of.children if c.dep_ == "pobj"), None) if of is not None else None
                    return lemma(obj) if obj is not None else noun
                return noun
    return ""


def _is_what_is(doc, wh_token) -> bool:  # type: ignore[no-untyped-def]
    """'What is the ILRS?', 'What are gray zone tactics?': a definition question."""
    root = wh_token.head
    return root.lemma_ == "be" and root.i == wh_token.i + 1 and len([t for t in doc if not t.is_punct]) <= 8


def _names(doc) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    """Proper names, as written: spaCy's named entities plus proper nouns and acronyms outside them,
    with hyphenated compounds kept whole ('Vostok-2018', 'Russia-watcher')."""
    out: list[str] = []
    covered: set[int] = set()
    for ent in doc.ents:
        if ent.start == 0 and doc[0].lower_ in _IMPERATIVES:  # 'Compare Russian …' is no person
            ent = ent[1:]
            if not len(ent):
                continue
        if ent.label_ in NAME_LABELS:
            text = ent.text
            for prefix in ("the ", "The "):
                text = text.removeprefix(prefix)
            if ent[-1].tag_ == "POS":  # "Vassily Kashin's" names Vassily Kashin
                text = ent[:-1].text
            out.append(text)
            covered.update(range(ent.start, ent.end))
    for t in doc:
        if t.i in covered or (t.i == 0 and t.pos_ != "PROPN"):
            continue
        if t.pos_ == "PROPN" or (t.text.isupper() and len(t.text) >= 2 and t.is_alpha):
            out.append(t.text)
    return tuple(dict.fromkeys(n for n in out if any(c.isalpha() for c in n)))
