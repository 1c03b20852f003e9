"""The question set: items with gold sources and key facts, read from JSONL and validated
against the report."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from assistant.report import PERSPECTIVES
from assistant.settings import PROJECT_ROOT, Settings
from assistant.types import Citation, SourceDoc, in_perspective

if TYPE_CHECKING:
    from assistant.corpus.parse import Report


DEFAULT_SET = PROJECT_ROOT / "evals" / "questions.jsonl"


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


class ItemSchema(BaseModel):
    """The JSON shape of one line of ``questions.jsonl``: every field required except
    ``gold_by_perspective``, each of its JSON type, nothing else. ``validate`` checks the rest."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str
    split: str
    question: str
    type: str
    answerable: bool
    history: list[Any]
    gold_sources: list[Any]
    key_facts: list[Any]
    reference_answer: str
    evidence: str
    document_hint: str
    gold_by_perspective: dict[str, Any] | None = None
    """Comparison items: gold sources for each perspective."""


_JSON_NAMES = {"string": "a string", "bool": "true/false", "list": "a list", "dict": "an object"}


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
    from assistant.corpus.parse import parse_report

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
    out = _shape_problems(data)
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


def _shape_problems(data: dict[str, Any]) -> list[str]:
    """What ``ItemSchema`` refuses in ``data``, one line a field, in the schema's order."""
    try:
        ItemSchema.model_validate(data)
    except ValidationError as exc:
        order = list(ItemSchema.model_fields)
        found: list[tuple[int, str]] = []
        unknown: list[str] = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            if error["type"] == "extra_forbidden":
                unknown.append(name)
            elif error["type"] == "missing":
                found.append((order.index(name), f"missing field '{name}'"))
            elif len(error["loc"]) == 1 and name in order:
                wanted = _JSON_NAMES.get(str(error["type"]).removesuffix("_type"), "another type")
                found.append(
                    (order.index(name), f"field '{name}' must be {wanted}, not {type(data[name]).__name__}")
                )
        out = [text for _, text in sorted(found)]
        if unknown:
            out.append(f"unknown field(s): {', '.join(sorted(unknown))}")
        return out
    return []


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
        out.append(f"evidence is not verbatim in the report: “{clip(item.evidence, 90)}”")
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


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
