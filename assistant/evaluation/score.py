"""Scoring answers against the question set: source hit, key facts, citation precision and
validity, abstention, answer form and latency, per item and per split."""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from assistant.citations import check
from assistant.evaluation.dataset import TYPES, Item, citation_matches, doc_matches, normalise
from assistant.report import PERSPECTIVES
from assistant.types import Answer, Citation, Passage

if TYPE_CHECKING:
    pass


CONFIGS: tuple[str, ...] = ("hybrid", "dense", "bm25")


BACKENDS: tuple[str, ...] = ("extractive", "llamacpp", "openai")
"""A configuration is a retriever, optionally with an answer backend: ``hybrid+openai``."""


K_VALUES: tuple[int, ...] = (1, 5, 10)


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
            for kind in types_in(self.records):
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


def types_in(records: Iterable[Record]) -> list[str]:
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


def mean(values: Sequence[float | bool]) -> float | None:
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
    metrics: dict[str, float | None] = {name: mean(pool) for name, pool in pools.items()}
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


def citation_label(c: Citation) -> str:
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
        cited=[f"[{c.number}] {citation_label(c)}" for c in citations],
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
