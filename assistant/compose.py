"""Answers without a language model: verbatim report sentences with evidence keys, answers about
the report's own metadata, and abstention when the evidence is too weak."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import numpy as np

from .citations import Evidence
from .index import Index
from .query import Query
from .retrieve import Lexical, Retrieved
from .settings import Settings
from .text import STOPWORDS, fold, terms, words
from .types import Chunk, Passage, SourceDoc

REPORT_TITLE = "Broader Transatlantic Security (2022)"
REPORT_YEAR = 2022
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


def _question_weights(text: str, lexical: Lexical) -> dict[str, float]:
    return {t: lexical.idf(t) for t in dict.fromkeys(terms(text)) if lexical.idf(t) > 0}


def score_sentences(
    query: Query,
    found: Retrieved,
    index: Index,
    lexical: Lexical,
    settings: Settings,
    topic_vector: np.ndarray | None = None,
) -> list[Scored]:
    """Score the sentences of the top passages against the question's topic.

    ``topic_vector`` embeds the question without the names of the sources it mentions (names
    choose the documents; the topic chooses the sentences).
    """
    qvec = found.query_vector if topic_vector is None else topic_vector
    weights = _question_weights(query.topic, lexical)
    total = sum(weights.values()) or 1.0
    passages = found.passages[: settings.evidence_chunks]
    out: list[Scored] = []
    for rank, passage in enumerate(passages):
        chunk = passage.chunk
        ci = index.chunk_index(chunk.chunk_id)
        if chunk.section == "Citation":
            continue
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
            if query.expects:
                score += 0.05 if has_answer_type(sentence, query.expects) else -0.05
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


# a quantity: a number that is not a year ("1990s") or part of a model name ("S-400", "Su-35")
_NUMBERISH = re.compile(
    r"(?<![\w-])(?!(?:1[89]|20)\d\d(?:s|\b))\d[\d,.]*(?![\w-])|\b(one|two|three|four|five|six|seven|eight"
    r"|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?|millions?|billions?|half|percent|twice|double)\b",
    re.I,
)
_DATEISH = re.compile(
    r"\b(1[89]|20)\d{2}s?\b|\b(January|February|March|April|May|June|July|August|September|October"
    r"|November|December)\b"
)


_COUNTED = re.compile(
    r"\bhow many ([\w\s'’–/-]+?)"
    r"(?= (?:are|is|were|was|did|does|do|has|have|had|will|would|can|could|took|take|joined|served"
    r"|\w+ed)\b|[?,.]|$)"
    r"|\b(?:price|value|cost|amount|share|percentage|number) (?:of|for|does \w+ pay for) "
    r"([\w\s'’–-]+?)(?= (?:in|to|from|by|at|during|since|between)\b|[?,.]|$)",
    re.I,
)


_NATIONS = {
    "russian": "ru", "russia": "ru", "russia's": "ru", "russia’s": "ru",
    "chinese": "cn", "china": "cn", "china's": "cn", "china’s": "cn", "pla": "cn", "people’s": "cn",
    "people's": "cn", "american": "us", "u.s.": "us", "us": "us",
}  # fmt: skip


def _owner(word: str) -> str:
    """Whose a counted thing is, from a capitalised qualifier: 'PLA' and 'Chinese' -> 'cn'."""
    word = word.strip(",.()“”\"'")
    if not word[:1].isupper():
        return ""
    return _NATIONS.get(word.lower(), word.lower())


def counted_nation(question: str) -> str:
    """Whose things a quantity question counts: 'How many Russian troops …' -> 'ru', 'How many CSTO
    troops …' -> 'csto'."""
    m = _COUNTED.search(question)
    owners = [_owner(w) for w in (m.group(1) or m.group(2)).split()] if m else []
    return next((o for o in owners if o), "")


def counted_thing(question: str) -> str:
    """The noun a quantity question counts: 'How many nuclear warheads …' -> 'warhead'."""
    m = _COUNTED.search(question)
    if not m:
        return ""
    words = [w for w in re.findall(r"[\w-]+(?:[’']s)?", m.group(1) or m.group(2))][:4]
    plural = [w for w in words if re.fullmatch(r"[a-z-]+s", w) and not w.endswith("ss")]
    head = plural[0] if plural else (words[-1] if words else "")
    found = terms(head)
    return found[0] if found else ""


# things counted under other names ("1,600 soldiers" answers "how many troops")
_SAME_THINGS = [words("troop soldier servicemen serviceman personnel")]


def _things(thing: str) -> frozenset[str]:
    return next((group for group in _SAME_THINGS if thing in group), frozenset([thing]))


def counts(sentence: str, thing: str, nation: str = "") -> bool:
    """Whether the sentence gives a number of the thing: a quantity at most six words before it
    ('3,200 Chinese troops', 'two S-400 divisions', 'about 1,600 soldiers'), and, when the question
    counts one owner's things, not another's ('13,000 People’s Liberation Army (PLA) troops' does
    not count Russian or CSTO troops)."""
    things = _things(thing)
    tokens = re.findall(r"[\w’'.,()-]+", sentence)
    for i, token in enumerate(tokens):
        if not things & set(terms(token)):
            continue
        window = tokens[max(0, i - 6) : i]
        numbers = [k for k, t in enumerate(window) if _NUMBERISH.fullmatch(t.strip(",.()"))]
        if not numbers:
            continue
        owners = {o for o in (_owner(t) for t in window[numbers[-1] + 1 :]) if o}
        if not nation or not owners or nation in owners:
            return True
    return False


_PER = re.compile(
    r"\b(?:how much|price|cost|pay)\b.*?\bper ((?:[\w-]+ ){0,2}?[\w-]+)"
    r"(?=[?,.;]|$| (?:in|to|from|by|at|for|of|and|during|since)\b)",
    re.I,
)
_MONEY = re.compile(r"\$|\bUSD\b|\b(?:dollars?|rubles?|roubles?|yuan|euros?|billion|million)\b", re.I)


_ASKS_MONEY = re.compile(
    r"\bhow much (?:money|funding|investment|revenue)\b|\bhow much\b.*\b(?:pay|paid|spend|spent|spending"
    r"|invest|invested|investing|cost|costs|commit|committed|committing|worth|earn|earned|budget)\b"
    r"|\b(?:price|budget|revenue)s? (?:of|for)\b",
    re.I,
)


def asks_money(question: str) -> bool:
    """Whether the answer must be a sum of money ('How much money is each country committing…')."""
    return _ASKS_MONEY.search(question) is not None


_MEASURE_ASKED = re.compile(
    r"\b(?:what(?: is|'s|’s| was| are| were)) the (?:[\w-]+ ){0,2}?(range|distance|length|radius|speed"
    r"|velocity|weight|mass|payload|altitude|height|depth)\b",
    re.I,
)
_UNITS = {
    "distance": re.compile(r"\b(?:km|kilomet\w*|miles?|nautical)\b", re.I),
    "speed": re.compile(r"\b(?:km/h|mph|mach|knots?)\b", re.I),
    "weight": re.compile(r"\b(?:tons?|tonnes?|kg|kilograms?|pounds?)\b", re.I),
    "height": re.compile(r"\b(?:met(?:er|re)s?|feet|ft|km|kilomet\w*)\b", re.I),
}
_MEASURES = {
    "range": "distance", "distance": "distance", "length": "distance", "radius": "distance",
    "speed": "speed", "velocity": "speed", "weight": "weight", "mass": "weight", "payload": "weight",
    "altitude": "height", "height": "height", "depth": "height",
}  # fmt: skip


def asked_measure(question: str) -> str:
    """The physical measure a question asks for ('What is the combat range of …' -> 'distance')."""
    m = _MEASURE_ASKED.search(question)
    return _MEASURES[m.group(1).lower()] if m else ""


def priced_unit(question: str) -> str:
    """What a price question prices: 'How much did China pay per S-400 battalion?' -> 'battalion'."""
    m = _PER.search(question)
    found = terms(m.group(1)) if m else []
    return found[-1] if found else ""  # the head noun: "S-400 battalion" -> "battalion"


def unknown_terms(question: str, lexical: Lexical) -> list[str]:
    """The question's words that occur nowhere in the report."""
    found = dict.fromkeys(terms(question))
    return [t for t in found if len(t) > 2 and not t.isdigit() and t not in lexical.vocabulary]


_WHICH = re.compile(r"\b[Ww]hich ((?:[\w-]+ ){0,2}[\w-]+)")


def unknown_kind(question: str, lexical: Lexical) -> str:
    """The kind of thing a 'which …' question asks for, when the report never names it ('Which
    Chinese banks …' in a report that never mentions banks)."""
    m = _WHICH.search(question)
    if not m:
        return ""
    for word in m.group(1).split():
        if re.fullmatch(r"[a-z-]+s", word) and not word.endswith("ss"):  # the first plural noun
            found = terms(word)
            return found[0] if found and not lexical.mentions(found[0]) else ""
    return ""


def has_answer_type(sentence: str, expects: str) -> bool:
    pattern = _NUMBERISH if expects == "number" else _DATEISH
    return pattern.search(sentence) is not None


def _matches_perspective(doc: SourceDoc, perspective: str) -> bool:
    return doc.perspective == perspective or doc.focus == perspective


def plain(text: str) -> str:
    """Drop Markdown emphasis for display; the quotation keeps the report's exact characters."""
    text = re.sub(r"(?<!\w)__(.+?)__(?!\w)", r"\1", text)
    return re.sub(r"(?<![\w])_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", text)


def _similar(a: str, b: str) -> bool:
    ta, tb = set(terms(a)), set(terms(b))
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) > 0.6


def compose(
    query: Query,
    found: Retrieved,
    index: Index,
    lexical: Lexical,
    settings: Settings,
    topic_vector: np.ndarray | None = None,
) -> Draft:
    """Pick the best-supported sentences and key each to its chunk."""
    scored = score_sentences(query, found, index, lexical, settings, topic_vector)
    reason = abstention_reason(query, found, scored, index, lexical, settings) if scored else ""
    if not scored or reason:
        return abstain(found, settings, reason, query)
    best = scored[0].score
    chosen: list[Scored] = []
    per_chunk: dict[int, int] = {}
    for s in scored:
        if len(chosen) >= settings.max_answer_sentences or s.score < best - settings.answer_margin:
            break
        if per_chunk.get(s.chunk_index, 0) >= 2 or any(_similar(s.sentence, c.sentence) for c in chosen):
            continue
        chosen.append(s)
        per_chunk[s.chunk_index] = per_chunk.get(s.chunk_index, 0) + 1
    return _draft_from(chosen, index, settings.follow_best, attribute=asks_who(query.question))


_LEANS_BACK = re.compile(
    r"^[“‘\"(]*(this|these|that|those|such|it|they|thus|therefore|hence|consequently|as a result|"
    r"in turn|in other words|in this|for this reason)\b|^.{0,60}\b(these|those|such)\b",
    re.I,
)
_CARRIES_ON = re.compile(
    r"^[“‘\"(]*(this|these|such|that|it|they|as a result|thus|consequently|in turn|in other words)\b", re.I
)


def _span(chunk: Chunk, slot: int) -> tuple[int, int]:
    """The sentence plus the neighbours it leans on ('Such a scenario…', '…in these fields')."""
    sentences = chunk.sentences
    lo = hi = slot
    if slot > 0 and _LEANS_BACK.search(sentences[slot]) and _adjacent(chunk, slot - 1, slot):
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


_ASKS_WHO = re.compile(
    r"^\W*(?:and\s+)?(?:who|whom|whose)\b|\bwho (?:says|said|argues|argued|writes|wrote|claims|claimed"
    r"|makes|made|believes|sees|notes|suggests|draws|cites)\b|\bwhich (?:[\w-]+ ){0,2}(?:authors?|writers?"
    r"|scholars?|experts?|analysts?|thinkers?|strategists?|commentators?|researchers?|sources?|articles?"
    r"|pieces?|papers?|publications?|outlets?|journals?|chapters?|documents?|studies|study)\b",
    re.I,
)


def asks_who(question: str) -> bool:
    """Whether the question asks who said something or where it was said."""
    return _ASKS_WHO.search(question) is not None


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


def _draft_from(chosen: list[Scored], index: Index, follow: int = 0, attribute: bool = False) -> Draft:
    """One quotation per chosen sentence, widened to the neighbours it needs; overlaps merge."""
    spans: list[tuple[int, int, int]] = []  # (chunk index, first slot, last slot)
    for n, s in enumerate(chosen):
        chunk = index.chunks[s.chunk_index]
        lo, hi = _span(chunk, s.slot)
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
    for ci, a, b in spans:
        chunk = index.chunks[ci]
        quote = " ".join(chunk.sentences[a : b + 1])
        if quote not in chunk.text:  # never quote across a paragraph break
            quote = chunk.sentences[a]
        key = f"e{len(evidence) + 1}"
        evidence[key] = Evidence(chunk.chunk_id, quote)
        who = speaker(index.docs[chunk.doc_id]) if attribute else ""
        lead = f"{who}: " if who and who != last else ""  # name each speaker once in a row
        last = who
        parts.append(f"{lead}{plain(quote)} [{key}]")
    return Draft(text=" ".join(parts), evidence=evidence)


def _verbatim(chunk: Chunk, a: int, b: int) -> bool:
    return " ".join(chunk.sentences[a : b + 1]) in chunk.text


_NAME_WORD = r"(?:[A-Z]\.){2,}|[A-Z][\w’'-]*"  # "U.S.", "Tiangong", "Zapad/Interaction-2021"
_NAME_RUN = re.compile(rf"(?:{_NAME_WORD})(?:\s+(?:of|the|de)?\s*(?:{_NAME_WORD}))*")
_NOT_NAMES = words(
    "i what who whom which when where why how is are was were do does did can could "
    "should would will the a an in on of and or according per please tell give list compare "
    "besides beyond apart aside regarding concerning considering given overall briefly summarize "
    "summarise explain describe name outline whose"
)

# countries the report may name only by their adjective ("Sino-Thai exercises")
_ADJECTIVES = {
    "thailand": "thai", "switzerland": "swiss", "france": "french", "netherlands": "dutch",
    "greece": "greek", "turkey": "turkish", "finland": "finnish", "denmark": "danish",
    "sweden": "swedish", "norway": "norwegian", "britain": "british", "spain": "spanish",
    "poland": "polish", "ireland": "irish", "philippines": "philippine", "vietnam": "vietnamese",
}  # fmt: skip


_MONTHS = words("january february march april may june july august september october november december")


# words that qualify a name without being part of it ("Russian Tiangong", "China PPWT")
_QUALIFIERS = words("russian chinese soviet american western european sino-russian russia china us u.s.")


def missing_names(query: Query, lexical: Lexical) -> list[str]:
    """Names in the question the report never mentions: capitalised words (an acronym also counts
    as mentioned when the report spells it out: 'ASAT', 'anti-satellite'), and multi-word names
    ("Eastern Theater Command", "Power of Siberia") whose words the report never puts together."""
    missing = []
    for m in _NAME_RUN.finditer(query.question):
        for run in re.split(r"[’']s\b", m.group(0)):  # "China's Tiangong" is two names
            words = [w for w in re.findall(r"(?:[A-Z]\.){2,}|[\w-]+", run) if w[:1].isupper()]
            words = [w for w in words if fold(w) not in STOPWORDS | _NOT_NAMES | _MONTHS]
            for word in words:
                parts = terms(word, keep_stopwords=True)
                unknown = any(len(p) > 2 and not lexical.mentions(_ADJECTIVES.get(p, p)) for p in parts)
                if unknown and not (word.isupper() and lexical.spells_out(word)):
                    missing.append(word)
            while words and fold(words[0]) in _QUALIFIERS:
                words = words[1:]
            if len(words) < 2:
                continue
            start = run.index(words[0])
            for a, b in itertools.pairwise(words):
                ta, tb = terms(a, keep_stopwords=True), terms(b, keep_stopwords=True)
                if ta and tb and not lexical.mentions_near(ta[-1], tb[0]):
                    missing.append(run[start:].strip())
                    break
    return missing


_NAMED_YEAR = re.compile(r"\b([A-Z][\w/]*(?:[ -][A-Z][\w/]*)*)[ -]((?:19|20)\d\d)\b")


def unknown_events(question: str, index: Index, lexical: Lexical) -> list[str]:
    """Dated names the report never gives that date: 'Joint Sea 2022' when the report has only
    'Joint Sea 2016'; 'September 2022' when no sentence of the report, and no passage of a source
    from 2022, mentions September."""
    missing = []
    for m in _NAMED_YEAR.finditer(question):
        name, year = terms(m.group(1), keep_stopwords=True), m.group(2)
        if not name or any(w in STOPWORDS | _NOT_NAMES for w in name) or lexical.mentions_dated(name, year):
            continue
        if len(name) == 1 and name[0] in _MONTHS and _month_in_year(m.group(1).split()[-1], year, index):
            continue
        missing.append(m.group(0))
    return missing


def _month_in_year(month: str, year: str, index: Index) -> bool:
    """Whether the report mentions the month in that year: 'July 24, 2019'; 'the first in July' in a
    sentence about 2019; 'published on July 24' in a source from 2019. A month with a year of its own
    ('In September 2017') is that year's month only."""
    mention = re.compile(rf"\b{month}\b(?:\s+\d{{1,2}}(?!\d),?)?(?:\s+((?:19|20)\d\d)\b)?")
    for chunk in index.chunks:
        if month not in chunk.text:
            continue
        dated = year in index.docs[chunk.doc_id].date
        for sentence in chunk.sentences:
            for m in mention.finditer(sentence):
                if m.group(1) == year or (not m.group(1) and (dated or year in sentence)):
                    return True
    return False


_NUMBER = re.compile(r"(?<![\w.])\d[\d,.]*\d(?:s)?(?![\w])|(?<![\w.])\d(?![\w])")


_MONTH_YEAR = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December)"
    r"(?: \d{1,2},)? ((?:19|20)\d\d)\b"
)


def unmatched_numbers(
    query: Query, found: Retrieved, scored: list[Scored], settings: Settings, report_year: int
) -> list[str]:
    """Numbers and dates in the question the evidence does not contain.

    Numbers must appear in the top passages; a month with its year ("September 2022") in the same
    passage; a year after the report was written only in the sentences that would answer.
    """
    top = " ".join(p.chunk.embed_text for p in found.passages[: settings.evidence_chunks])
    missing = [
        n for n in _NUMBER.findall(query.question) if not re.search(rf"(?<![\w.]){re.escape(n)}(?![\w])", top)
    ]
    for m in _MONTH_YEAR.finditer(query.question):
        month, year = m.group(1), m.group(2)
        if not any(month in p.chunk.embed_text and year in p.chunk.embed_text for p in found.passages):
            missing.append(m.group(0))
    for year in re.findall(r"\b(?:19|20)\d\d\b", query.question):
        if int(year) > report_year and not re.search(rf"\b{year}\b", scored[0].sentence):
            missing.append(year)
    return missing


_ABOUT = re.compile(r"\b(?:about|regarding|concerning)\s+([^?,;]+)")


def absent_subject(query: Query, scored: list[Scored], index: Index) -> list[str]:
    """Names the question asks about ('… say about Taiwan?') that none of the passages holding the
    best sentences mentions: the report may discuss the source, but not on that subject."""
    m = _ABOUT.search(query.question)
    if not m:
        return []
    names = [w for w in re.findall(r"(?:[A-Z]\.){2,}|[A-Z][\w-]+", m.group(1))]
    names = [
        w for w in names if fold(w) not in _QUALIFIERS | _MONTHS | STOPWORDS and w.lower() not in _NATIONS
    ]
    held = {t for s in scored[:3] for t in terms(index.chunks[s.chunk_index].embed_text)}
    return [w for w in names if not set(terms(w)) & held]


def abstention_reason(
    query: Query, found: Retrieved, scored: list[Scored], index: Index, lexical: Lexical, settings: Settings
) -> str:
    """Why the report cannot answer the question, as a sentence for the reader, or "" when it may.
    Each check looks for something the question needs that the report lacks: a name, a dated event,
    a number, a counted or priced thing, a kind of thing, or enough of its words; last, too little
    relevant text at all."""
    if numbers := unmatched_numbers(query, found, scored, settings, REPORT_YEAR):
        return f"The passages closest to it never give {_listed(numbers)}."
    if names := missing_names(query, lexical):
        return f"It never mentions {_listed(names)}."
    if events := unknown_events(query.question, index, lexical):
        return f"It never mentions {_listed(events)}."
    if subjects := absent_subject(query, scored, index):
        return f"The passages closest to it never mention {_listed(subjects)}."
    if query.expects and not any(has_answer_type(s.sentence, query.expects) for s in scored[:3]):
        return f"The passages closest to it give no {query.expects}."
    thing = counted_thing(query.question) if query.expects == "number" else ""
    nation = counted_nation(query.question)
    if thing and not any(counts(s.sentence, thing, nation) for s in scored[:5]):
        return f"The passages closest to it give no number of {thing}s."
    if asks_money(query.question) and not any(_MONEY.search(s.sentence) for s in scored[:3]):
        return "The passages closest to it give no sum of money."
    measure = asked_measure(query.question)
    if measure and not any(_UNITS[measure].search(s.sentence) for s in scored[:3]):
        return f"The passages closest to it give no {measure}."
    unit = priced_unit(query.question)
    if unit and not any(_MONEY.search(s.sentence) and unit in terms(s.sentence) for s in scored[:5]):
        return f"The passages closest to it give no price per {unit}."
    if kind := unknown_kind(query.question, lexical):
        return f"It never mentions {kind}s."
    if len(unknown := unknown_terms(query.question, lexical)) >= 3:
        return f"It never uses the words {_listed(unknown)}."
    best_dense = max(s.dense for s in scored[:10])
    threshold = settings.abstain_threshold - (0.1 if query.named_docs or query.followup else 0.0)
    if best_dense < threshold and scored[0].lexical < 0.5:
        return "No passage comes close to it."
    return ""


def _listed(items: list[str]) -> str:
    unique = list(dict.fromkeys(items))
    longest = [x for x in unique if not any(x != y and x in y for y in unique)]  # "Wagner Group" only
    quoted = [f"“{x}”" for x in longest]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


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
