"""Whether the report answers a question: features of the question and its best evidence, combined
by a small fitted logistic model, and an abstention that says what is missing.

The features read spaCy's analysis of the question (``understand``) and of every report sentence
(computed once per index build). The model's weights, the feature scaling and the decision
threshold live in ``answerability.json`` beside this module; ``evals/fit_answerability.py``
fits them on the dev split and synthetic negatives and chooses the threshold from a risk–coverage
curve.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from assistant.text import canonical_name
from assistant.understand import QuestionAnalysis, SentenceFacts, analyse_sentences
from assistant.understand.nlp import NAME_LABELS
from assistant.understand.question import TYPE_LABELS

if TYPE_CHECKING:
    from assistant.retrieve import Retrieved
    from assistant.store.index import Index
    from assistant.understand.query import Query

MODEL_FILE = Path(__file__).with_name("answerability.json")
REPORT_YEAR = 2022

FEATURES: tuple[str, ...] = (
    "dense_best",
    "score_best",
    "lexical_best",
    "margin",
    "focus_in_passages",
    "focus_in_sentence",
    "focus_unknown",
    "focus_missing_weight",
    "focus_missing_weight_wide",
    "names_not_in_report",
    "names_not_in_evidence",
    "numbers_not_in_evidence",
    "year_after_report",
    "year_not_in_evidence",
    "typed",
    "type_missing",
    "type_missing_near_focus",
    "count_missing",
    "focus_support",
    "typed_support",
    "new_value_support",
    "answer_noun_not_in_report",
    "answer_noun_not_in_evidence",
    "names_source",
    "followup",
    "broad",
    "sources_agreeing",
)


class ScoredSentence(Protocol):
    chunk_index: int
    slot: int
    score: float
    dense: float
    lexical: float


@dataclass
class ReportFacts:
    """What the report holds, for looking questions up: every sentence's facts (in index order),
    the lemma vocabulary, the folded text, and acronyms its capitalised names spell."""

    sentences: list[SentenceFacts]
    vocabulary: frozenset[str]
    text: str
    acronyms: frozenset[str]
    words: frozenset[str] = frozenset()
    idf: dict[str, float] = field(default_factory=dict)
    """Inverse sentence frequency of each lemma; unseen lemmas get the largest."""

    @classmethod
    def build(cls, index: Index) -> ReportFacts:
        sentences = analyse_sentences(s for c in index.chunks for s in c.sentences)
        vocabulary = frozenset().union(*(s.lemmas for s in sentences))
        raw = " ".join(c.text for c in index.chunks)
        text = f" {normal(raw)} "
        df: dict[str, int] = {}
        for sentence in sentences:
            for lem in sentence.lemmas:
                df[lem] = df.get(lem, 0) + 1
        n = len(sentences)
        idf = {lem: math.log((n + 1) / (count + 0.5)) for lem, count in df.items()}
        return cls(sentences, vocabulary, text, _acronyms(raw), frozenset(re.findall(r"\w+", text)), idf)

    def weight(self, lem: str) -> float:
        return self.idf.get(lem, math.log(len(self.sentences) + 1) + 1.0)

    def of(self, index: Index, chunk_index: int, slot: int) -> SentenceFacts:
        """The facts of sentence ``slot`` of chunk ``chunk_index``."""
        return self.sentences[int(index.sentence_start[chunk_index]) + slot]

    def coverage(self, focus: set[str], lemmas: frozenset[str]) -> float:
        """The share of the focus that ``lemmas`` hold, rare words weighing more ('ILRS' over
        'Russia'); 1 when there is no focus."""
        if not focus:
            return 1.0
        return sum(self.weight(w) for w in focus & lemmas) / sum(self.weight(w) for w in focus)

    def mentions(self, name: str) -> bool:
        """Whether the report names it: as written (dashes and case aside), with a longer ending
        ('Blagoveshchensk': 'Blagoveshchenskii'), or, for an acronym, by the words it abbreviates
        ('CMC': 'Central Military Commission')."""
        norm = normal(name)
        if not norm or contains(self.text, norm):
            return True
        compact = name.replace("-", "").replace(".", "")
        if compact.isupper() and compact.isalpha() and self._spelled_out(compact):
            return True
        parts = norm.split()
        if len(parts) > 1:  # a multi-word name: every word of it, as a word of the report;
            # a dated or numbered name ('Joint Sea 2022') only as written
            return not any(c.isdigit() for c in norm) and all(self._word(w) for w in parts)
        return self._word(norm)

    def _spelled_out(self, acronym: str) -> bool:
        """'CMC': the initials of a capitalised name of the report; 'ASAT': two neighbouring words
        that begin with its two parts ('anti-satellite')."""
        if acronym in self.acronyms:
            return True
        low = acronym.lower()
        return any(
            re.search(rf" {re.escape(low[:i])}\w* {re.escape(low[i:])}\w* ", self.text)
            for i in range(1, len(low))
        )

    def _word(self, word: str) -> bool:
        if word in self.words:
            return True
        return len(word) >= 6 and any(w.startswith(word) for w in self.words)

    def has_noun(self, noun: str) -> bool:
        """Whether the report uses the noun or a word of its family ('affiliation': 'affiliate';
        'precondition': 'condition')."""
        if noun in self.vocabulary:
            return True
        stem = noun[: max(5, len(noun) - 3)]
        return any(
            v.startswith(stem) or (len(v) >= 6 and noun.endswith(v)) for v in self.vocabulary if len(v) >= 5
        )


def contains(text: str, phrase: str) -> bool:
    """Whether normalised text holds the normalised phrase as whole words."""
    return re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", text) is not None


def normal(text: str) -> str:
    """Folded, dash-free, possessive-free text for looking names up."""
    text = re.sub(r"['’]s\b", "", canonical_name(text))
    text = re.sub(r"[‐‑‒–—-]", " ", text)
    return " ".join(re.findall(r"[\w.']+", text)).replace(" '", " ").strip(".' ")


_CAPITALISED_RUN = re.compile(r"(?:[A-Z][\w’'-]*(?:\s+(?:of|for|and|the|on|in)\s+|\s+))+[A-Z][\w’'-]*")


def _acronyms(text: str) -> frozenset[str]:
    """Initials of the report's capitalised names: 'People’s Liberation Army' -> 'PLA'."""
    out: set[str] = set()
    for m in _CAPITALISED_RUN.finditer(text):
        words = [w for w in re.split(r"[\s-]+", m.group(0)) if w[:1].isupper()]
        for i in range(len(words)):
            for j in range(i + 2, min(len(words), i + 6) + 1):
                out.add("".join(w[0] for w in words[i:j]))
    return frozenset(out)


@dataclass
class Decision:
    """The model's verdict on one question, with what it saw."""

    probability: float
    answerable: bool
    features: dict[str, float]
    missing: list[str] = field(default_factory=list)
    """Names, numbers or years of the question that the report or its best evidence lacks."""
    missing_kind: str = ""
    """'name', 'year', 'number', 'type' or 'noun': the strongest reason, for the explanation."""


def _passage_rows(index: Index, chunk_indices: list[int]) -> list[int]:
    rows: list[int] = []
    for ci in chunk_indices:
        start = int(index.sentence_start[ci])
        rows.extend(range(start, start + len(index.chunks[ci].sentences)))
    return rows


def compute_features(
    query: Query,
    found: Retrieved,
    scored: list[ScoredSentence],
    index: Index,
    facts: ReportFacts,
    evidence_chunks: int,
) -> tuple[dict[str, float], list[str], str]:
    """The model's inputs for one question, plus what is missing and its kind."""
    q: QuestionAnalysis = query.analysis
    context = query.context_analysis
    focus = set(q.focus) or (set(context.focus) if context else set())
    top_chunks = [index.chunk_index(p.chunk.chunk_id) for p in found.passages[:evidence_chunks]]
    passage_lemmas = frozenset().union(
        *(facts.sentences[r].lemmas for r in _passage_rows(index, top_chunks[:3]))
    )
    wide_lemmas = frozenset().union(*(facts.sentences[r].lemmas for r in _passage_rows(index, top_chunks)))
    evidence_text = normal(" ".join(p.chunk.embed_text for p in found.passages[:evidence_chunks]))

    def row(s: ScoredSentence) -> SentenceFacts:
        return facts.of(index, s.chunk_index, s.slot)

    def support(s: ScoredSentence) -> float:
        return facts.coverage(focus, row(s).lemmas)

    best = scored[:5]
    f: dict[str, float] = dict.fromkeys(FEATURES, 0.0)

    f["dense_best"] = max(s.dense for s in scored[:10])
    f["score_best"] = scored[0].score
    f["lexical_best"] = max(s.lexical for s in scored[:3])
    f["margin"] = scored[0].score - scored[min(4, len(scored) - 1)].score
    if focus:
        f["focus_in_passages"] = len(focus & passage_lemmas) / len(focus)
        f["focus_in_sentence"] = max(len(focus & row(s).lemmas) / len(focus) for s in best)
        f["focus_unknown"] = len(focus - facts.vocabulary) / len(focus)
        f["focus_missing_weight"] = 1.0 - facts.coverage(focus, passage_lemmas)
        f["focus_missing_weight_wide"] = 1.0 - facts.coverage(focus, wide_lemmas)
    else:
        f["focus_in_passages"] = f["focus_in_sentence"] = 1.0
    missing: list[str] = []
    kind = ""
    named_sources = (
        {normal(a) for d in query.named_docs for a in index.docs[d].authors} if query.named_docs else set()
    )
    names = [n for n in q.names if normal(n) not in named_sources]
    absent = [n for n in names if not facts.mentions(n)]
    if absent:
        missing, kind = absent, "name"
    f["names_not_in_report"] = min(len(absent), 2) / 2
    if names:
        not_near = [n for n in names if not contains(evidence_text, normal(n)) and n not in absent]
        f["names_not_in_evidence"] = len(not_near) / len(names)
    if q.numbers:
        gone = [n for n in q.numbers if not re.search(rf"(?<![\w.]){re.escape(n)}(?![\w])", evidence_text)]
        f["numbers_not_in_evidence"] = len(gone) / len(q.numbers)
        if gone and not missing:
            missing, kind = gone, "number"
    if q.years:
        gone = [str(y) for y in q.years if not re.search(rf"\b{y}\b", evidence_text)]
        later = [y for y in gone if int(y) > REPORT_YEAR]  # a plan for 2025 the report gives is no event
        f["year_after_report"] = 1.0 if later else 0.0
        f["year_not_in_evidence"] = len(gone) / len(q.years)
        if later:
            missing, kind = later, "year"
        elif gone and not missing:
            missing, kind = gone, "year"
    f["focus_support"] = f["typed_support"] = max(support(s) for s in scored[:10])
    f["new_value_support"] = f["focus_support"]
    asked = normal(q.text)
    wanted = TYPE_LABELS.get(q.answer_type) if q.typed and not q.asks_speaker else None
    if q.asks_name and wanted is None:
        wanted = NAME_LABELS
    if wanted:  # a sentence that gives a value of the asked kind the question does not already hold
        f["new_value_support"] = max(
            (
                support(s)
                for s in scored[:10]
                if any(
                    label in wanted and not contains(asked, normal(text)) for text, label in row(s).entities
                )
            ),
            default=0.0,
        )
    if q.typed and not q.asks_speaker:  # a source's author answers 'which author …', not a sentence
        f["typed"] = 1.0
        labels = TYPE_LABELS[q.answer_type]
        f["typed_support"] = max((support(s) for s in scored[:10] if row(s).labels & labels), default=0.0)
        has_type = [s for s in best if row(s).labels & labels]
        f["type_missing"] = 0.0 if has_type else 1.0
        near = [s for s in has_type if not focus or focus & row(s).lemmas]
        f["type_missing_near_focus"] = 0.0 if near else 1.0
        if q.answer_type == "number" and q.answer_noun:  # 'how many troops': a number beside troops
            counted = [s for s in has_type if q.answer_noun in row(s).lemmas]
            f["count_missing"] = 0.0 if counted else 1.0
        if not near and not kind:
            kind = "type"
    if q.answer_noun:
        noun = q.answer_noun
        in_report = facts.has_noun(noun)
        f["answer_noun_not_in_report"] = 0.0 if in_report else 1.0
        f["answer_noun_not_in_evidence"] = 0.0 if noun in wide_lemmas else 1.0
        if not in_report and not kind:
            kind = "noun"
    f["names_source"] = 1.0 if query.named_docs else 0.0
    f["followup"] = 1.0 if query.followup else 0.0
    f["broad"] = 1.0 if q.scope == "broad" else 0.0
    top_score = scored[0].score
    agreeing = {index.chunks[s.chunk_index].doc_id for s in best if s.score >= top_score - 0.05}
    f["sources_agreeing"] = min(len(agreeing), 5) / 5
    return f, missing, kind


@dataclass(frozen=True)
class Model:
    """A logistic model over standardised features, with its decision threshold."""

    version: str
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float
    threshold: float

    def probability(self, values: dict[str, float]) -> float:
        x = np.array([values.get(name, 0.0) for name in self.features])
        z = float(((x - self.mean) / self.scale) @ self.weights + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "features": list(self.features),
            "mean": self.mean.round(6).tolist(),
            "scale": self.scale.round(6).tolist(),
            "weights": self.weights.round(6).tolist(),
            "intercept": round(self.intercept, 6),
            "threshold": round(self.threshold, 6),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Model:
        return cls(
            version=str(data["version"]),
            features=tuple(data["features"]),
            mean=np.asarray(data["mean"], dtype=float),
            scale=np.asarray(data["scale"], dtype=float),
            weights=np.asarray(data["weights"], dtype=float),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
        )


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_FILE) -> Model:
    return Model.from_json(json.loads(path.read_text(encoding="utf-8")))


def decide(
    query: Query,
    found: Retrieved,
    scored: list[ScoredSentence],
    index: Index,
    facts: ReportFacts,
    evidence_chunks: int,
    model: Model | None = None,
) -> Decision:
    values, missing, kind = compute_features(query, found, scored, index, facts, evidence_chunks)
    model = model or load_model()
    p = model.probability(values)
    if query.followup:
        # a follow-up leans on a turn the report answered: it is refused only for what the report
        # lacks outright (a name it never mentions, a year after it was written), not for its brevity
        hard = kind == "name" or values["year_after_report"] > 0
        return Decision(p, not hard, values, missing if hard else [], kind if hard else "")
    return Decision(p, p >= model.threshold, values, missing, kind)


_TYPE_WORDS = {
    "person": "name of a person",
    "organisation": "name of an organisation",
    "place": "place",
    "date": "date",
    "number": "number",
    "money": "sum of money",
    "quantity": "measurement",
}


def quoted(items: list[str]) -> str:
    unique = list(dict.fromkeys(items))
    marks = [f"“{x}”" for x in unique]
    return marks[0] if len(marks) == 1 else ", ".join(marks[:-1]) + " or " + marks[-1]


def explain(decision: Decision, analysis: QuestionAnalysis, covered: bool) -> tuple[str, bool]:
    """Why the report cannot answer, from the analysis (never a fragment of the question's wording),
    and whether the closest passage should be cited: when it is on the question's topic, the
    abstention says what the report does say ("The report discusses the S-400 contract [1] but gives
    no sum of money."). The text holds ``{cite}`` where that citation goes."""
    kind, missing = decision.missing_kind, decision.missing
    if kind == "name":
        return f"It never mentions {quoted(missing)}.", False
    if kind == "year" and any(int(y) > REPORT_YEAR for y in missing):
        return f"It was written in {REPORT_YEAR} and says nothing of {quoted(missing)}.", False
    if kind in ("year", "number"):
        return f"The passages closest to it never give {quoted(missing)}.", False
    if kind == "noun":
        return f"It names no {analysis.answer_noun} in this connection.", False
    topic = analysis.focus_phrase or "this topic"
    if covered and analysis.typed:
        return f"It discusses {topic} {{cite}} but gives no {_TYPE_WORDS[analysis.answer_type]} for it.", True
    if covered:
        return f"The closest it comes is a passage on {topic} {{cite}}, which does not answer it.", True
    return "No passage comes close to it.", False
