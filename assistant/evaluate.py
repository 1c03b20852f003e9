"""Evaluation harness: validate the question set, score configurations, write reports.

``assistant eval`` runs it from the command line (see ``evals/README.md``); from Python::

    items = load_questions(DEFAULT_SET)
    results = run(Assistant(), [i for i in items if i.split == "dev"])
    write_report({"hybrid": results}, Path("evals/reports/latest"))
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .citations import check
from .settings import PROJECT_ROOT, Settings
from .types import PERSPECTIVES, Answer, Citation, Passage, SourceDoc, in_perspective

if TYPE_CHECKING:
    from .parse import Report

DEFAULT_SET = PROJECT_ROOT / "evals" / "questions.jsonl"
DEFAULT_OUT = PROJECT_ROOT / "evals" / "reports" / "latest"
TYPES: tuple[str, ...] = (
    "fact",
    "attribution",
    "metadata",
    "synthesis",
    "comparison",
    "unanswerable",
    "followup",
)
SPLITS: tuple[str, ...] = ("dev", "test", "blind")
ROLES: frozenset[str] = frozenset({"user", "assistant"})
CONFIGS: tuple[str, ...] = ("hybrid", "dense", "bm25")
BACKENDS: tuple[str, ...] = ("extractive", "llamacpp", "openai")
"""A configuration is a retriever, optionally with an answer backend: ``hybrid+openai``."""
K_VALUES: tuple[int, ...] = (1, 5, 10)

# Field name -> required JSON type, in the order of the schema.
_SCHEMA: dict[str, type] = {
    "id": str,
    "split": str,
    "question": str,
    "type": str,
    "answerable": bool,
    "history": list,
    "gold_sources": list,
    "key_facts": list,
    "reference_answer": str,
    "evidence": str,
    "document_hint": str,
}
_OPTIONAL: dict[str, type] = {"gold_by_perspective": dict}
"""Fields an item may leave out: comparison items give gold sources for each perspective."""
_JSON_NAMES = {str: "a string", bool: "true/false", list: "a list", dict: "an object"}
_QUOTES = str.maketrans("‘’‚‛′`“”„‟″", "''''''\"\"\"\"\"")  # curly/prime -> straight


# --- the question set -------------------------------------------------------------------------
@dataclass(frozen=True)
class GoldSource:
    """A document that supports the answer: any one of an item's gold sources is enough."""

    authors: str
    title: str

    def display(self) -> str:
        return f"{self.authors}, *{self.title}*" if self.authors else f"*{self.title}*"


@dataclass
class Item:
    """One evaluation question (one line of ``questions.jsonl``)."""

    id: str
    split: str
    question: str
    type: str
    answerable: bool
    history: list[dict[str, str]] = field(default_factory=list)
    gold_sources: list[GoldSource] = field(default_factory=list)
    key_facts: list[list[str]] = field(default_factory=list)
    reference_answer: str = ""
    evidence: str = ""
    document_hint: str = ""
    gold_by_perspective: dict[str, list[GoldSource]] = field(default_factory=dict)
    """Comparison items: ``{"Russian sources": [...], "Chinese sources": [...], "Western analysis":
    [...]}``; each perspective's part of the answer should cite one of its gold sources."""
    line: int = 0
    """Line number in the file it was read from (0 when built in code)."""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The JSON object as read, so ``validate`` can check the schema of what was on disk."""

    @classmethod
    def from_dict(cls, data: dict[str, Any], line: int = 0) -> Item:
        """Build leniently: ``validate`` reports what is missing or mistyped."""
        gold_sources = _gold_list(data.get("gold_sources"))
        facts = data.get("key_facts")
        key_facts = [
            [a for a in fact if isinstance(a, str)] if isinstance(fact, list) else [str(fact)]
            for fact in (facts if isinstance(facts, list) else [])
        ]
        history = data.get("history")
        by_perspective = data.get("gold_by_perspective")
        return cls(
            id=str(data.get("id", "")),
            split=str(data.get("split", "")),
            question=str(data.get("question", "")),
            type=str(data.get("type", "")),
            answerable=bool(data.get("answerable", False)),
            history=[t for t in history if isinstance(t, dict)] if isinstance(history, list) else [],
            gold_sources=gold_sources,
            key_facts=key_facts,
            reference_answer=str(data.get("reference_answer", "")),
            evidence=str(data.get("evidence", "")),
            document_hint=str(data.get("document_hint", "")),
            gold_by_perspective={
                str(label): _gold_list(golds)
                for label, golds in (by_perspective.items() if isinstance(by_perspective, dict) else [])
            },
            line=line,
            raw=dict(data),
        )

    def to_dict(self) -> dict[str, Any]:
        """The item in the file's schema (``gold_by_perspective`` only when it is given)."""
        out: dict[str, Any] = {
            "id": self.id,
            "split": self.split,
            "question": self.question,
            "type": self.type,
            "answerable": self.answerable,
            "history": self.history,
            "gold_sources": [asdict(g) for g in self.gold_sources],
            "key_facts": self.key_facts,
            "reference_answer": self.reference_answer,
            "evidence": self.evidence,
            "document_hint": self.document_hint,
        }
        if self.gold_by_perspective:
            out["gold_by_perspective"] = {
                label: [asdict(g) for g in golds] for label, golds in self.gold_by_perspective.items()
            }
        return out


def _gold_list(value: object) -> list[GoldSource]:
    return [
        GoldSource(str(g.get("authors", "") or ""), str(g.get("title", "") or ""))
        for g in (value if isinstance(value, list) else [])
        if isinstance(g, dict)
    ]


def load_questions(path: Path | str) -> list[Item]:
    """Read a JSON-lines question set; raises ``ValueError`` on a line that is not a JSON object."""
    path = Path(path)
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{path}:{number}: not a JSON object")
        items.append(Item.from_dict(data, line=number))
    return items


def normalise(text: str) -> str:
    """Lower case, straight quotes and apostrophes, single spaces: how key facts are matched."""
    return re.sub(r"\s+", " ", text.translate(_QUOTES)).strip().lower()


def _title_key(title: str) -> str:
    return re.sub(r"\s+", " ", title).strip().lower()


def matches_gold(title: str, authors: str, gold: GoldSource) -> bool:
    """The identity rule: the same title exactly, or the same authors and the same title up to
    case and whitespace."""
    if title == gold.title:
        return True
    return bool(gold.authors) and gold.authors == authors and _title_key(title) == _title_key(gold.title)


def citation_matches(citation: Citation, gold_sources: Iterable[GoldSource]) -> bool:
    return any(matches_gold(citation.title, citation.authors, g) for g in gold_sources)


def doc_matches(doc: SourceDoc, gold_sources: Iterable[GoldSource]) -> bool:
    return any(matches_gold(doc.title, doc.authors_display, g) for g in gold_sources)


def load_report(settings: Settings | None = None) -> tuple[Report, str]:
    """The parsed report and its verbatim text, as the assistant sees them."""
    from .parse import parse_report

    settings = settings or Settings()
    return parse_report(settings.corpus_path), settings.corpus_path.read_text(encoding="utf-8")


def validate(items: Sequence[Item], report: Report, corpus: str | None = None) -> list[str]:
    """Problems with the question set (empty when it is sound).

    ``corpus`` is the report's verbatim text; by default it is read from ``Settings().corpus_path``.
    """
    if corpus is None:
        corpus = Settings().corpus_path.read_text(encoding="utf-8")
    folded_corpus = normalise(corpus)
    docs = list(report.docs.values())
    problems: list[str] = []
    seen: dict[str, str] = {}
    for n, item in enumerate(items, start=1):
        where = item.id or (f"line {item.line}" if item.line else f"item #{n}")
        data = item.raw or item.to_dict()
        schema_problems = _schema_problems(data)
        problems += [f"{where}: {p}" for p in schema_problems]
        place = f"line {item.line}" if item.line else f"item #{n}"
        if item.id:
            if item.id in seen:
                problems.append(f"{where}: duplicate id (also {seen[item.id]})")
            else:
                seen[item.id] = place
        if schema_problems:
            continue
        problems += [f"{where}: {p}" for p in _content_problems(item, docs, corpus, folded_corpus)]
    return problems


def _schema_problems(data: dict[str, Any]) -> list[str]:
    out = []
    for name, kind in _SCHEMA.items():
        if name not in data:
            out.append(f"missing field '{name}'")
        elif not isinstance(data[name], kind):
            out.append(f"field '{name}' must be {_JSON_NAMES[kind]}, not {type(data[name]).__name__}")
    for name, kind in _OPTIONAL.items():
        if name in data and not isinstance(data[name], kind):
            out.append(f"field '{name}' must be {_JSON_NAMES[kind]}, not {type(data[name]).__name__}")
    unknown = sorted(set(data) - set(_SCHEMA) - set(_OPTIONAL))
    if unknown:
        out.append(f"unknown field(s): {', '.join(unknown)}")
    if out:
        return out
    if not data["id"].strip():
        out.append("empty id")
    if not data["question"].strip():
        out.append("empty question")
    if data["split"] not in SPLITS:
        out.append(f"split '{data['split']}' is not one of {', '.join(SPLITS)}")
    if data["type"] not in TYPES:
        out.append(f"type '{data['type']}' is not one of {', '.join(TYPES)}")
    elif data["answerable"] != (data["type"] != "unanswerable"):
        out.append(f"answerable is {str(data['answerable']).lower()} but type is '{data['type']}'")
    for i, turn in enumerate(data["history"]):
        if not isinstance(turn, dict) or set(turn) != {"role", "content"}:
            out.append(f"history[{i}] must be an object with exactly 'role' and 'content'")
        elif turn["role"] not in ROLES:
            out.append(f"history[{i}] has role '{turn['role']}', not one of {', '.join(sorted(ROLES))}")
        elif not isinstance(turn["content"], str) or not turn["content"].strip():
            out.append(f"history[{i}] has empty content")
    if data["type"] == "followup" and not data["history"]:
        out.append("a followup needs a non-empty history")
    out += _gold_shape_problems(data["gold_sources"], "gold_sources")
    by_perspective = data.get("gold_by_perspective")
    if by_perspective is not None:
        if data["type"] != "comparison":
            out.append("gold_by_perspective is for comparison items only")
        if not by_perspective:
            out.append("gold_by_perspective, when given, names at least one perspective")
        for label, golds in by_perspective.items():
            where = f"gold_by_perspective[{label!r}]"
            if label not in PERSPECTIVES:
                out.append(f"{where}: '{label}' is not one of {', '.join(PERSPECTIVES)}")
            elif not isinstance(golds, list) or not golds:
                out.append(f"{where} must be a non-empty list of gold sources")
            else:
                out += _gold_shape_problems(golds, where)
    for i, fact in enumerate(data["key_facts"]):
        if not isinstance(fact, list) or not fact:
            out.append(f"key_facts[{i}] must be a non-empty list of alternatives")
        elif not all(isinstance(a, str) and a.strip() for a in fact):
            out.append(f"key_facts[{i}] has an empty or non-string alternative")
    if data["type"] == "unanswerable" or data["answerable"] is False:
        if data["gold_sources"]:
            out.append("an unanswerable item must have no gold_sources")
        if data["key_facts"]:
            out.append("an unanswerable item must have no key_facts")
    else:
        if not data["gold_sources"] and not data["key_facts"]:
            out.append("an answerable item needs gold_sources or key_facts to be scored")
        if not data["evidence"].strip():
            out.append("an answerable item needs its evidence quote")
    return out


def _gold_shape_problems(golds: list[Any], where: str) -> list[str]:
    out = []
    for i, gold in enumerate(golds):
        if not (
            isinstance(gold, dict)
            and set(gold) == {"authors", "title"}
            and all(isinstance(v, str) for v in gold.values())
        ):
            out.append(f"{where}[{i}] must be an object with string 'authors' and 'title'")
        elif not gold["title"].strip():
            out.append(f"{where}[{i}] has an empty title")
    return out


def _content_problems(item: Item, docs: list[SourceDoc], corpus: str, folded_corpus: str) -> list[str]:
    out = []
    if item.evidence and item.evidence not in corpus:
        out.append(f"evidence is not verbatim in the report: “{_clip(item.evidence, 90)}”")
    for gold in item.gold_sources:
        out += _resolve_problems(gold, docs)
    for label, golds in item.gold_by_perspective.items():
        for gold in golds:
            problems = _resolve_problems(gold, docs)
            out += [f"gold_by_perspective[{label!r}]: {p}" for p in problems]
            found = [d for d in docs if matches_gold(d.title, d.authors_display, gold)]
            if not problems and not any(in_perspective(d, label) for d in found):
                out.append(f"gold_by_perspective[{label!r}]: {gold.display()} is not one of its documents")
    for i, fact in enumerate(item.key_facts):
        for alt in fact:
            if normalise(alt) not in folded_corpus:
                out.append(f"key_facts[{i}] alternative not in the report: '{alt}'")
    return out


def _resolve_problems(gold: GoldSource, docs: list[SourceDoc]) -> list[str]:
    found = [d for d in docs if matches_gold(d.title, d.authors_display, gold)]
    if not found:
        return [f"gold source not in the report: {gold.display()}"]
    if gold.authors and all(d.authors_display != gold.authors for d in found):
        return [
            f"gold source {gold.display()} has authors '{gold.authors}', "
            f"the report says '{found[0].authors_display}'"
        ]
    return []


# --- scoring ------------------------------------------------------------------------------------
class AssistantLike(Protocol):
    """What ``run`` needs: ``Assistant`` or any test double."""

    @property
    def corpus(self) -> str: ...

    def ask(self, question: str, history: list[dict[str, str]] | None = None) -> Answer: ...

    def search(
        self, query: str, k: int = 8, history: list[dict[str, str]] | None = None
    ) -> list[Passage]: ...


@dataclass
class Record:
    """How one item fared under one configuration."""

    id: str
    split: str
    type: str
    question: str
    answerable: bool
    history: list[dict[str, str]]
    answer: str
    abstained: bool
    cited: list[str]
    """Cited sources as ``[n] label``."""
    cited_titles: list[str]
    gold: list[str]
    source_hit: bool | None
    """Any citation matches a gold source (None: unanswerable or no gold sources)."""
    n_citations: int
    citation_precision: float | None
    facts_total: int
    facts_found: int
    missing_facts: list[str]
    key_fact_coverage: float | None
    valid: bool
    problems: list[str]
    retrieved: list[str]
    """Titles of the documents of the top-k ``search()`` passages, best first."""
    recall: dict[str, bool] | None
    """``{"1": hit, "5": hit, ...}``: a gold source among the top-k documents (None: not scored)."""
    latency_ms: float
    error: str = ""
    failures: list[str] = field(default_factory=list)
    mode: str = ""
    """``Answer.mode``: extractive, generated, or fallback (a generated answer that failed)."""
    perspective_hit: dict[str, bool] | None = None
    """Comparison items with ``gold_by_perspective``: ``{perspective: the answer's part for it
    cites one of its gold sources}`` (None: not scored)."""
    answer_words: int = 0
    early_facts: float | None = None
    """Share of the key facts found within the answer's first ``EARLY_WORDS`` words."""
    clean: bool = True
    """No Markdown or HTML markup shown, and no quotation opening on a word that leans on a sentence
    left out ('This …', 'These …')."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        return cls(**data)


METRICS: tuple[tuple[str, str, str], ...] = (
    ("source_hit", "Source hit", "pct"),
    ("citation_precision", "Citation precision", "pct"),
    ("key_fact_coverage", "Key-fact coverage", "pct"),
    ("citation_validity", "Citation validity", "pct"),
    ("abstention_accuracy", "Abstention accuracy", "pct"),
    ("false_abstention_rate", "False-abstention rate", "pct"),
)
PERSPECTIVE_METRICS: tuple[tuple[str, str, str], ...] = tuple(
    (f"source_hit_{p.lower().replace(' ', '_')}", f"Source hit: {p}", "pct") for p in PERSPECTIVES
)
"""Source hit within each perspective's part of a comparison answer; shown only when scored."""
_PERSPECTIVE_KEYS = frozenset(key for key, _, _ in PERSPECTIVE_METRICS)
EARLY_WORDS = 60
SPECIFIC_TYPES = frozenset({"fact", "attribution", "metadata", "followup"})
"""Question types whose answers the word budget for specific questions applies to."""
FORM_METRICS: tuple[tuple[str, str, str], ...] = (
    ("answer_words_median", "Answer words, median (specific questions)", "num"),
    ("early_key_facts", f"Key facts in the first {EARLY_WORDS} words", "pct"),
    ("clean_display", "Clean display (no markup, no dangling opening)", "pct"),
)
LATENCY_METRICS: tuple[tuple[str, str, str], ...] = (
    ("latency_median_ms", "Latency median", "ms"),
    ("latency_p95_ms", "Latency p95", "ms"),
)


def headline_metrics(k_values: Sequence[int] = K_VALUES) -> list[tuple[str, str, str]]:
    """(key, label, unit) of every headline metric, in report order."""
    recall = [(f"recall@{k}", f"Recall@{k}", "pct") for k in k_values]
    return [*METRICS, *PERSPECTIVE_METRICS, *FORM_METRICS, *recall, *LATENCY_METRICS]


@dataclass
class Results:
    """One configuration's run: per-item records and the metrics computed from them."""

    config: str
    records: list[Record]
    k_values: tuple[int, ...] = K_VALUES
    meta: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    """How many items each metric is averaged over."""
    by_type: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``{type: {"metrics": ..., "counts": ...}}`` for the types present."""

    def __post_init__(self) -> None:
        if not self.metrics:
            self.metrics, self.counts = compute_metrics(self.records, self.k_values)
        if not self.by_type:
            for kind in _types_in(self.records):
                subset = [r for r in self.records if r.type == kind]
                metrics, counts = compute_metrics(subset, self.k_values)
                self.by_type[kind] = {"metrics": metrics, "counts": counts}

    @property
    def failed(self) -> list[Record]:
        return [r for r in self.records if r.failures]

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "k_values": list(self.k_values),
            "meta": self.meta,
            "metrics": self.metrics,
            "counts": self.counts,
            "by_type": self.by_type,
            "records": [asdict(r) for r in self.records],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Results:
        return cls(
            config=data["config"],
            records=[Record.from_dict(r) for r in data["records"]],
            k_values=tuple(data.get("k_values", K_VALUES)),
            meta=data.get("meta", {}),
            metrics=data.get("metrics", {}),
            counts=data.get("counts", {}),
            by_type=data.get("by_type", {}),
        )


def _types_in(records: Iterable[Record]) -> list[str]:
    present = {r.type for r in records}
    return [t for t in TYPES if t in present] + sorted(present - set(TYPES))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile by linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _mean(values: Sequence[float | bool]) -> float | None:
    return sum(float(v) for v in values) / len(values) if values else None


def compute_metrics(
    records: Sequence[Record], k_values: Sequence[int] = K_VALUES
) -> tuple[dict[str, float | None], dict[str, int]]:
    """Metric values (None where no item qualifies) and the number of items behind each."""
    answerable = [r for r in records if r.answerable]
    unanswerable = [r for r in records if not r.answerable]
    pools: dict[str, list[float | bool]] = {
        "source_hit": [r.source_hit for r in answerable if r.source_hit is not None],
        "citation_precision": [r.citation_precision for r in answerable if r.citation_precision is not None],
        "key_fact_coverage": [r.key_fact_coverage for r in answerable if r.key_fact_coverage is not None],
        "citation_validity": [r.valid for r in records],
        "abstention_accuracy": [r.abstained for r in unanswerable],
        "false_abstention_rate": [r.abstained for r in answerable],
    }
    for (key, _, _), perspective in zip(PERSPECTIVE_METRICS, PERSPECTIVES, strict=True):
        pools[key] = [
            r.perspective_hit[perspective]
            for r in answerable
            if r.perspective_hit and perspective in r.perspective_hit
        ]
    for k in k_values:
        pools[f"recall@{k}"] = [r.recall[str(k)] for r in answerable if r.recall is not None]
    pools["early_key_facts"] = [r.early_facts for r in answerable if r.early_facts is not None]
    pools["clean_display"] = [r.clean for r in records if r.answer]
    metrics: dict[str, float | None] = {name: _mean(pool) for name, pool in pools.items()}
    counts = {name: len(pool) for name, pool in pools.items()}
    specific = [
        r.answer_words for r in answerable if not r.abstained and r.answer and r.type in SPECIFIC_TYPES
    ]
    metrics["answer_words_median"] = percentile(specific, 50)
    counts["answer_words_median"] = len(specific)
    latencies = [r.latency_ms for r in records if not r.error]
    metrics["latency_median_ms"] = percentile(latencies, 50)
    metrics["latency_p95_ms"] = percentile(latencies, 95)
    counts["latency_median_ms"] = counts["latency_p95_ms"] = len(latencies)
    counts["items"] = len(records)
    counts["answerable"] = len(answerable)
    counts["unanswerable"] = len(unanswerable)
    counts["errors"] = sum(1 for r in records if r.error)
    for mode in ("generated", "fallback"):
        counts[mode] = sum(1 for r in records if r.mode == mode)
    return metrics, counts


_MARKUP = re.compile(r"\*|__|(?<![\w])_\S|\S_(?![\w])|<[a-zA-Z/][^>]*>|\]\(https?:|\[\[|\]\]")
_DANGLING = re.compile(
    r"(?:^|\]\s+|\):\s+)[“\"‘(]*(?:This|These|That|Those|Such|Its|They|Their|He|She|His|Her)\b"
)


def clean_display(text: str) -> bool:
    """Whether an answer as displayed is free of source markup and of dangling openings."""
    shown = re.sub(r"\[\d+\]", "", text)
    return _MARKUP.search(shown) is None and _DANGLING.search(text) is None


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _label(c: Citation) -> str:
    return c.label or ", ".join(p for p in (c.authors, f"*{c.title}*") if p)


def score_item(
    item: Item,
    answer: Answer | None,
    passages: Sequence[Passage],
    corpus: str,
    latency_ms: float,
    k_values: Sequence[int] = K_VALUES,
    error: str = "",
) -> Record:
    """Score one answer (None when ``ask`` failed) and one ranking against an item."""
    answer = answer or Answer(question=item.question, text="")
    gold = item.gold_sources
    citations = answer.citations
    text = normalise(answer.text)
    alternatives = [normalise(a) for fact in item.key_facts for a in fact]

    source_hit = citation_precision = coverage = early_facts = None
    recall: dict[str, bool] | None = None
    perspective_hit: dict[str, bool] | None = None
    found = 0
    missing: list[str] = []
    if item.answerable:
        if gold:
            source_hit = any(citation_matches(c, gold) for c in citations)
        if citations:
            good = [
                citation_matches(c, gold) or any(a in normalise(c.quote) for a in alternatives)
                for c in citations
            ]
            citation_precision = sum(good) / len(good)
        early_text = " ".join(text.split()[:EARLY_WORDS])
        early = 0
        for fact in item.key_facts:
            if any(normalise(a) in text for a in fact):
                found += 1
            else:
                missing.append(" | ".join(fact))
            early += any(normalise(a) in early_text for a in fact)
        if item.key_facts:
            coverage = found / len(item.key_facts)
            early_facts = early / len(item.key_facts)
        if gold:
            docs = [p.doc for p in passages]
            recall = {str(k): any(doc_matches(d, gold) for d in docs[:k]) for k in k_values}
        if item.gold_by_perspective:
            perspective_hit = {
                label: any(citation_matches(c, golds) for c in cited_for(answer, label))
                for label, golds in item.gold_by_perspective.items()
            }
    problems = [f"error: {error}"] if error else check(answer, corpus)

    failures = []
    if error:
        failures.append(f"error: {error}")
    if item.answerable:
        if answer.abstained:
            failures.append("wrong abstention: abstained on an answerable question")
        if source_hit is False:
            failures.append("no source hit")
        missed = [label for label, hit in (perspective_hit or {}).items() if not hit]
        if missed:
            failures.append("no source hit for: " + ", ".join(missed))
        if missing:
            failures.append("missing key facts: " + "; ".join(missing))
    elif not answer.abstained:
        failures.append("wrong abstention: answered an unanswerable question")
    if problems and not error:
        failures.append("invalid citation: " + "; ".join(problems))

    return Record(
        id=item.id,
        split=item.split,
        type=item.type,
        question=item.question,
        answerable=item.answerable,
        history=item.history,
        answer=answer.text,
        abstained=answer.abstained,
        cited=[f"[{c.number}] {_label(c)}" for c in citations],
        cited_titles=[c.title for c in citations],
        gold=[g.display() for g in gold],
        source_hit=source_hit,
        n_citations=len(citations),
        citation_precision=citation_precision,
        facts_total=len(item.key_facts),
        facts_found=found,
        missing_facts=missing,
        key_fact_coverage=coverage,
        valid=not problems,
        problems=problems,
        retrieved=[p.doc.title for p in passages],
        recall=recall,
        latency_ms=latency_ms,
        error=error,
        failures=failures,
        mode=answer.mode if answer.text else "",
        perspective_hit=perspective_hit,
        answer_words=len(answer.text.split()),
        early_facts=early_facts,
        clean=clean_display(answer.text),
    )


def cited_for(answer: Answer, perspective: str) -> list[Citation]:
    """The citations in a perspective's part of a comparison answer; for an answer without parts,
    the citations of that perspective's documents (``in_perspective``)."""
    if answer.sections:
        numbers = {n for s in answer.sections if s.label == perspective for n in s.citations}
        return [c for c in answer.citations if c.number in numbers]
    if perspective == "Western analysis":
        return [c for c in answer.citations if c.kind == "chapter" or c.doc_id == "summary"]
    return [c for c in answer.citations if c.kind == "appendix" and c.perspective == perspective]


def evaluate_item(
    assistant: AssistantLike, item: Item, corpus: str, k_values: Sequence[int] = K_VALUES
) -> Record:
    """Ask one item (timed with ``time.perf_counter``), search it, and score both."""
    error = ""
    answer: Answer | None = None
    t0 = time.perf_counter()
    try:
        answer = assistant.ask(item.question, history=item.history or None)
    except Exception as exc:  # one failing item must not end the run
        error = f"{exc.__class__.__name__}: {exc}"
    latency_ms = (time.perf_counter() - t0) * 1000
    passages: list[Passage] = []
    try:
        passages = assistant.search(item.question, k=max(k_values), history=item.history or None)
    except Exception as exc:  # likewise
        error = error or f"search: {exc.__class__.__name__}: {exc}"
    return score_item(item, answer, passages, corpus, latency_ms, k_values, error)


def run(
    assistant: AssistantLike,
    items: Sequence[Item],
    *,
    k_values: Sequence[int] = K_VALUES,
    progress: bool = True,
    config: str = "",
) -> Results:
    """Ask every item, time each answer, and score answers and ``search()`` rankings."""
    name = config or "default"
    return run_configs({name: assistant}, items, k_values=k_values, progress=progress)[name]


def run_configs(
    assistants: dict[str, AssistantLike],
    items: Sequence[Item],
    *,
    k_values: Sequence[int] = K_VALUES,
    progress: bool = True,
) -> dict[str, Results]:
    """``run`` for several configurations, interleaved item by item so that a change in machine
    load during the run weighs on every configuration's latency alike."""
    from tqdm import tqdm

    k_values = tuple(sorted(set(k_values)))
    corpora = {name: bot.corpus for name, bot in assistants.items()}
    records: dict[str, list[Record]] = {name: [] for name in assistants}
    spent = dict.fromkeys(assistants, 0.0)
    desc = ",".join(assistants) if len(assistants) > 1 else next(iter(assistants))
    for item in tqdm(items, desc=desc, unit="q", disable=not progress, file=sys.stderr):
        for name, bot in assistants.items():
            t0 = time.perf_counter()
            records[name].append(evaluate_item(bot, item, corpora[name], k_values))
            spent[name] += time.perf_counter() - t0
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        name: Results(
            config=name,
            records=records[name],
            k_values=k_values,
            meta={
                "config": name,
                "items": len(items),
                "duration_s": round(spent[name], 3),
                "finished_at": finished,
            },
        )
        for name in assistants
    }


# --- reports ------------------------------------------------------------------------------------
def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"
    if unit == "num":
        return f"{value:.0f}"
    return f"{100 * value:.1f}%"


def _fmt_delta(a: float | None, b: float | None, unit: str) -> str:
    if a is None or b is None:
        return "—"
    d = b - a
    if unit == "ms":
        return f"{d:+.1f} ms"
    if unit == "num":
        return f"{d:+.0f}"
    return f"{100 * d:+.1f} pp"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def headline_table(results_by_config: dict[str, Results]) -> str:
    """Markdown table: one row per headline metric, one column per configuration."""
    names = list(results_by_config)
    first = results_by_config[names[0]]
    lines = [
        "| Metric | n | " + " | ".join(names) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in names) + " |",
    ]
    for key, label, unit in headline_metrics(first.k_values):
        n = first.counts.get(key, 0)
        if key in _PERSPECTIVE_KEYS and not any(r.counts.get(key) for r in results_by_config.values()):
            continue  # no comparison item with per-perspective gold sources in this run
        cells = [_fmt(r.metrics.get(key), unit) for r in results_by_config.values()]
        lines.append(f"| {label} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_type_table(results: Results) -> str:
    """Markdown table: one row per question type, one column per metric."""
    cols = [
        (k, label, unit)
        for k, label, unit in headline_metrics(results.k_values)
        if k != "latency_p95_ms" and k not in _PERSPECTIVE_KEYS  # the headline has those
    ]
    lines = [
        "| Type | n | " + " | ".join(label for _, label, _ in cols) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in cols) + " |",
    ]
    for kind, block in results.by_type.items():
        cells = [_fmt(block["metrics"].get(k), unit) for k, _, unit in cols]
        lines.append(f"| {kind} | {block['counts']['items']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def failures_section(results: Results) -> str:
    failed = results.failed
    lines = [
        f"## Failures ({results.config})",
        "",
        f"{len(failed)} of {len(results.records)} items failed at least one check.",
    ]
    for r in failed:
        lines += ["", f"### {r.id} ({r.type}, {r.split})", ""]
        lines.append(f"- **Failed:** {'; '.join(r.failures)}")
        for turn in r.history:
            lines.append(f"- **History ({turn.get('role', '?')}):** {_md_cell(turn.get('content', ''))}")
        lines.append(f"- **Question:** {_md_cell(r.question)}")
        answer = _md_cell(r.answer) or "(empty)"
        lines.append(f"- **Answer{' (abstained)' if r.abstained else ''}:** {answer}")
        lines.append("- **Cited:** " + ("; ".join(r.cited) if r.cited else "none"))
        lines.append("- **Gold:** " + ("; ".join(r.gold) if r.gold else "none (unanswerable)"))
    return "\n".join(lines)


def summary_markdown(results_by_config: dict[str, Results]) -> str:
    names = list(results_by_config)
    primary = results_by_config[names[0]]
    splits = sorted({r.split for r in primary.records})
    lines = [
        "# Evaluation summary",
        "",
        f"Generated {datetime.now(UTC).isoformat(timespec='seconds')}; "
        f"{len(primary.records)} items (split: {', '.join(splits) or '—'}); "
        f"configurations: {', '.join(names)} (primary: {names[0]}). "
        "Metric definitions: `evals/README.md`. n is the number of items a metric averages over.",
        "",
        "## Headline",
        "",
        headline_table(results_by_config),
    ]
    if len(splits) > 1:  # every split on its own: a figure over dev and test together estimates nothing
        for split in splits:
            by_split = {
                name: Results(res.config, [r for r in res.records if r.split == split], res.k_values)
                for name, res in results_by_config.items()
            }
            lines += ["", f"## Split: {split}", "", headline_table(by_split)]
    for name, results in results_by_config.items():
        lines += ["", f"## Per type: {name}", "", per_type_table(results)]
    lines += ["", failures_section(primary), ""]
    return "\n".join(lines)


def write_report(results_by_config: dict[str, Results], out_dir: Path | str) -> dict[str, Path]:
    """Write results.json, summary.md, per_type.png and latency.png; return their paths by name."""
    if not results_by_config:
        raise ValueError("no results to report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(results_by_config)
    payload = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "primary": names[0],
        "configs": {name: r.to_dict() for name, r in results_by_config.items()},
    }
    paths = {"results.json": out / "results.json", "summary.md": out / "summary.md"}
    paths["results.json"].write_text(
        json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    paths["summary.md"].write_text(summary_markdown(results_by_config), encoding="utf-8")
    paths.update(write_charts(results_by_config, out))
    return paths


def write_charts(results_by_config: dict[str, Results], out: Path) -> dict[str, Path]:
    """per_type.png (source hit per type, grouped by configuration) and latency.png (boxplots)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    names = list(results_by_config)
    types = [
        t
        for t in _types_in(r for res in results_by_config.values() for r in res.records)
        if any(
            res.by_type.get(t, {}).get("metrics", {}).get("source_hit") is not None
            for res in results_by_config.values()
        )
    ]
    primary = results_by_config[names[0]]

    fig = Figure(figsize=(max(6.0, 1.4 * len(types) + 2), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / len(names)
    for j, (name, res) in enumerate(results_by_config.items()):
        values = [res.by_type.get(t, {}).get("metrics", {}).get("source_hit") for t in types]
        xs = [i - 0.4 + width * (j + 0.5) for i in range(len(types))]
        bars = ax.bar(xs, [v or 0.0 for v in values], width, label=name)
        ax.bar_label(bars, labels=[f"{100 * v:.0f}" if v is not None else "" for v in values], fontsize=7)
    ax.set_xticks(range(len(types)))
    ax.set_xticklabels(
        [f"{t}\n(n={primary.by_type.get(t, {}).get('counts', {}).get('source_hit', 0)})" for t in types]
    )
    ax.set_ylim(0, 1.08)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("source hit")
    ax.set_title("Source hit by question type (answerable items)")
    ax.legend(loc="lower right", fontsize=8)
    per_type = out / "per_type.png"
    fig.savefig(per_type, dpi=120)

    fig = Figure(figsize=(max(5.0, 1.6 * len(names) + 2), 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    data = [[r.latency_ms for r in res.records if not r.error] or [0.0] for res in results_by_config.values()]
    ax.boxplot(data, showfliers=True)
    ax.set_xticks(range(1, len(names) + 1))
    ax.set_xticklabels(names)
    for i, res in enumerate(results_by_config.values(), start=1):
        med = res.metrics.get("latency_median_ms")
        if med is not None:
            ax.annotate(
                f"{med:.0f} ms", (i, med), xytext=(40, 0), textcoords="offset points", fontsize=8, va="center"
            )
    flat = sorted(x for series in data for x in series if x > 0)
    if flat and flat[-1] / flat[len(flat) // 2] > 20:  # a long tail: keep the boxes readable
        ax.set_yscale("log")
    ax.set_ylabel("ask() latency (ms)")
    ax.set_title("Answer latency per configuration")
    latency = out / "latency.png"
    fig.savefig(latency, dpi=120)
    return {"per_type.png": per_type, "latency.png": latency}


def _load_primary(path: Path | str, config: str | None = None) -> tuple[str, dict[str, Any]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    name = config or data["primary"]
    if name not in data["configs"]:
        raise ValueError(f"{path} has no configuration '{name}' (it has: {', '.join(data['configs'])})")
    return name, data["configs"][name]


def compare(
    path_a: Path | str, path_b: Path | str, config_a: str | None = None, config_b: str | None = None
) -> str:
    """Markdown table of two results.json files' headline metrics (primary configurations by
    default) side by side, with the difference B − A."""
    name_a, a = _load_primary(path_a, config_a)
    name_b, b = _load_primary(path_b, config_b)
    k_values = tuple(a.get("k_values", K_VALUES))
    head_a, head_b = f"A: {path_a} ({name_a})", f"B: {path_b} ({name_b})"
    lines = [
        f"| Metric | {_md_cell(head_a)} | {_md_cell(head_b)} | Δ (B − A) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label, unit in headline_metrics(k_values):
        va, vb = a["metrics"].get(key), b["metrics"].get(key)
        na, nb = a["counts"].get(key, 0), b["counts"].get(key, 0)
        if key in _PERSPECTIVE_KEYS and not (na or nb):
            continue
        cells = [f"{_fmt(va, unit)} (n={na})", f"{_fmt(vb, unit)} (n={nb})", _fmt_delta(va, vb, unit)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- command line -------------------------------------------------------------------------------
def add_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``eval`` on an ``argparse`` subparsers object and return its parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "eval",
        help="score the assistant on the evaluation question set",
        description="Validate the question set, run each configuration over it, and write "
        "results.json, summary.md and charts (see evals/README.md).",
    )
    parser.add_argument(
        "--set",
        dest="question_set",
        type=Path,
        default=DEFAULT_SET,
        metavar="PATH",
        help="question set, JSON lines (default: evals/questions.jsonl)",
    )
    parser.add_argument(
        "--split",
        choices=("dev", "test", "blind", "all"),
        default=None,
        help="which split to run (default: test; all when --ids is given)",
    )
    parser.add_argument(
        "--config",
        default=",".join(CONFIGS),
        metavar="LIST",
        help="comma list of retrievers among hybrid, dense, bm25, each optionally with an answer "
        "backend (hybrid+llamacpp, hybrid+openai: see docs/generated-answers.md); the first is the "
        "primary (default: hybrid,dense,bm25)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N", help="only the first N selected items"
    )
    parser.add_argument("--ids", default="", metavar="LIST", help="only these ids, e.g. q001,q002")
    parser.add_argument("--types", default="", metavar="LIST", help="only these types, e.g. fact,metadata")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help="report directory (default: evals/reports/latest)",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("A.json", "B.json"),
        help="print the headline metrics of two results.json files side by side, and exit",
    )
    parser.add_argument(
        "--validate-only", action="store_true", help="check the question set against the report, and exit"
    )
    parser.set_defaults(handler=run_eval_command)
    return parser


def _split_list(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def select(
    items: Sequence[Item],
    split: str | None = "test",
    ids: Sequence[str] = (),
    types: Sequence[str] = (),
    limit: int | None = None,
) -> list[Item]:
    """The subset to run: split (None or "all" for every item), then ids, types and limit."""
    chosen = [i for i in items if split in (None, "all") or i.split == split]
    if ids:
        wanted = set(ids)
        chosen = [i for i in chosen if i.id in wanted]
    if types:
        wanted = set(types)
        chosen = [i for i in chosen if i.type in wanted]
    return chosen[:limit] if limit is not None else chosen


def config_settings(settings: Settings, config: str) -> Settings | None:
    """The settings of a configuration such as ``hybrid`` or ``hybrid+openai``; None if unknown."""
    retrieval, _, backend = config.partition("+")
    if retrieval not in CONFIGS or (backend and backend not in BACKENDS):
        return None
    return settings.model_copy(update={"retrieval": retrieval, **({"backend": backend} if backend else {})})


def run_eval_command(args: argparse.Namespace) -> int:
    """Carry out ``assistant eval``; returns the process exit code."""
    err = sys.stderr
    if args.compare:
        try:
            print(compare(*args.compare))
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: cannot compare: {exc}", file=err)
            return 2
        return 0
    try:
        items = load_questions(args.question_set)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read the question set: {exc}", file=err)
        return 2
    settings = Settings()
    report, corpus = load_report(settings)
    problems = validate(items, report, corpus)
    if problems:
        print(f"The question set {args.question_set} has {len(problems)} problem(s):", file=err)
        for p in problems:
            print(f"  {p}", file=err)
        return 2
    if args.validate_only:
        print(f"{args.question_set}: {len(items)} items, no problems.")
        return 0

    ids, types = _split_list(args.ids), _split_list(args.types)
    unknown_ids = sorted(set(ids) - {i.id for i in items})
    bad_types = sorted(set(types) - set(TYPES))
    configs = _split_list(args.config)
    bad_configs = sorted(c for c in configs if config_settings(settings, c) is None)
    if unknown_ids or bad_types or bad_configs or not configs or (args.limit is not None and args.limit < 1):
        for label, bad in (("id", unknown_ids), ("type", bad_types), ("configuration", bad_configs)):
            if bad:
                print(f"error: unknown {label}(s): {', '.join(bad)}", file=err)
        if not configs:
            print("error: --config names no configuration", file=err)
        if args.limit is not None and args.limit < 1:
            print("error: --limit must be at least 1", file=err)
        return 2
    split = args.split or ("all" if ids else "test")
    chosen = select(items, split, ids, types, args.limit)
    if not chosen:
        print("error: no items match the selection", file=err)
        return 2
    configs = list(dict.fromkeys(configs))

    from .pipeline import Assistant

    bots = {}
    for cfg in configs:
        bot = Assistant(config_settings(settings, cfg))
        bot.load(progress=True)
        bot.ask(chosen[0].question)  # warm-up, so the first timed answer is not the slowest
        bots[cfg] = bot
    results = run_configs(bots, chosen, progress=True)
    for cfg, res in results.items():
        res.meta.update(
            {
                "retrieval": cfg.partition("+")[0],
                "backend": cfg.partition("+")[2] or settings.backend,
                "split": split,
                "question_set": str(args.question_set),
                "selection": {"ids": ids, "types": types, "limit": args.limit},
            }
        )
        errors = res.counts.get("errors", 0)
        note = f", {errors} error(s)" if errors else ""
        if res.meta["backend"] != "extractive":
            note += f", {res.counts['generated']} generated, {res.counts['fallback']} fell back to extractive"
        print(f"{cfg}: {len(chosen)} items, {res.meta['duration_s']:.1f} s in ask+search{note}", file=err)
    paths = write_report(results, args.out)
    print(headline_table(results))
    print()
    print(f"{len(results[configs[0]].failed)} failed item(s) for {configs[0]}; report written to {args.out}:")
    for name in paths:
        print(f"  {name}")
    return 0
