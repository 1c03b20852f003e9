"""Fit the answerability model on the dev split and synthetic negatives; write its parameters.

    python evals/fit_answerability.py [--out assistant/answer/answerability.json] [--report DIR]

Training items: every dev question (answerable or not) that the model decides (questions about
the report's own metadata and comparisons take other answer paths), and negatives made from answerable dev
questions by swapping in what the report lacks: a year after the report or one it never gives, a
number it never gives, a person, place or organisation it never names, or a detail type ("Which
bank …", "How much did … cost?") it has nothing of. Answerable and negative questions also get
openings such as "Supposedly," so that no surface cue tells them apart. The test and blind splits
are never read.

The threshold comes from a risk–coverage curve over out-of-fold probabilities (5 folds, grouped
by the dev question each item came from): the highest abstention rate on unanswerable dev
questions whose false-abstention rate on answerable dev questions stays within ``--max-false``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import Assistant  # noqa: E402
from assistant.answer.answerability import FEATURES, MODEL_FILE, Model, ReportFacts, compute_features  # noqa: E402
from assistant.answer.compare import is_comparison  # noqa: E402
from assistant.evaluation.dataset import DEFAULT_SET, load_questions  # noqa: E402
from assistant.understand import load_nlp  # noqa: E402

VERSION = "2"
OPENINGS = ("Supposedly, ", "Apparently, ", "Reportedly, ", "Allegedly, ")
PEOPLE = (
    "Nikolai Patrushev",
    "Wei Fenghe",
    "Li Shangfu",
    "Valery Gerasimov",
    "Zhang Youxia",
    "Dmitry Medvedev",
)
PLACES = ("Venezuela", "Mongolia", "Cuba", "Argentina", "Myanmar", "Nicaragua")
ORGS = ("Rosatom", "Norinco", "the Wagner Group", "Gazprom", "Huawei", "the World Bank")
ABSENT_NOUNS = ("bank", "engineer", "mayor", "shipyard", "insurer", "lawyer", "architect", "treasurer")


@dataclass
class Example:
    question: str
    history: list[dict[str, str]]
    label: int
    group: str
    real: bool


_OPENERS = frozenset(
    [
        "What",
        "Who",
        "Whom",
        "Whose",
        "When",
        "Where",
        "Why",
        "How",
        "Which",
        "Is",
        "Are",
        "Was",
        "Were",
        "Do",
        "Does",
        "Did",
        "Has",
        "Have",
        "Can",
        "In",
    ]
)


def _lower_first(text: str) -> str:
    """'What did …' -> 'what did …' after an opening; names keep their capital."""
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if first in _OPENERS else text


def perturb(question: str, facts: ReportFacts, rng: random.Random) -> list[str]:
    """Questions the report cannot answer, made from one it can."""
    doc = load_nlp()(question)
    out: list[str] = []
    years = re.findall(r"(?<![\w-])(19\d\d|20[0-2]\d)(?![\w-])", question)
    if years:
        future = str(rng.choice((2024, 2025, 2026, 2027)))
        out.append(question.replace(years[0], future, 1))
        past = next(str(y) for y in rng.sample(range(1951, 2021), 70) if not facts.mentions(str(y)))
        out.append(question.replace(years[0], past, 1))
    for t in doc:
        if t.like_num and t.text.isdigit() and not re.fullmatch(r"19\d\d|20\d\d", t.text):
            n = int(t.text) * 7 + 3
            if not facts.mentions(str(n)):
                out.append(question[: t.idx] + str(n) + question[t.idx + len(t.text) :])
            break
    for ent in doc.ents:
        pool = {"PERSON": PEOPLE, "GPE": PLACES, "ORG": ORGS}.get(ent.label_)
        if pool is None:
            continue
        swap = rng.choice([p for p in pool if not facts.mentions(p)])
        out.append(question[: ent.start_char] + swap + question[ent.end_char :])
        break
    chunks = [
        c for c in doc.noun_chunks if c.root.pos_ in ("NOUN", "PROPN") and c.root.tag_ not in ("WP", "WDT")
    ]
    if chunks:
        phrase = max(chunks, key=len).text
        root = max(chunks, key=len).root.lemma_.lower()
        money = any("MONEY" in s.labels and root in s.lemmas for s in facts.sentences)
        if not money:
            out.append(f"How much did {phrase} cost?")
        noun = rng.choice([n for n in ABSENT_NOUNS if n not in facts.vocabulary])
        out.append(f"Which {noun} was responsible for {phrase}?")
    return out


def examples(bot: Assistant, seed: int) -> list[Example]:
    rng = random.Random(seed)
    facts = bot.knowledge.facts
    out: list[Example] = []
    for item in load_questions(DEFAULT_SET):
        if item.split != "dev":
            continue
        history = list(item.history)
        out.append(Example(item.question, history, int(item.answerable), item.id, True))
        opening = rng.choice(OPENINGS)
        out.append(
            Example(opening + _lower_first(item.question), history, int(item.answerable), item.id, False)
        )
        if not item.answerable or item.type in ("metadata", "comparison"):
            continue
        for negative in perturb(item.question, facts, rng):
            out.append(Example(negative, history, 0, item.id, False))
            if rng.random() < 0.3:
                out.append(Example(rng.choice(OPENINGS) + _lower_first(negative), history, 0, item.id, False))
    return out


def featurise(bot: Assistant, items: list[Example]) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows, and whether the model decides the item at all: questions about the report's
    metadata (who wrote, where published) and comparisons take other answer paths, and follow-ups
    are refused only for what the report lacks outright (``answerability.decide``)."""
    engine = bot.knowledge
    rows = []
    decided = []
    for ex in items:
        query, found, scored = bot.evidence(ex.question, ex.history or None)
        decided.append(
            bool(scored) and not query.intent and not query.followup and not is_comparison(ex.question)
        )
        if not scored:
            rows.append([0.0] * len(FEATURES))
            continue
        values, _, _ = compute_features(
            query, found, scored, engine.index, engine.facts, bot.settings.evidence_chunks
        )
        rows.append([values[name] for name in FEATURES])
    return np.asarray(rows, dtype=float), np.asarray(decided)


def fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray, c: float):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    model.fit(scaler.transform(x), y, sample_weight=weights)
    return scaler, model


def out_of_fold(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, groups: list[str], c: float, repeats: int = 3
) -> np.ndarray:
    """Out-of-fold probabilities, averaged over ``repeats`` different 5-fold splits by group (the
    dev question an item came from), so the threshold does not hang on one split's luck."""
    from sklearn.model_selection import GroupKFold

    names = sorted(set(groups))
    probs = np.zeros(len(y))
    for seed in range(repeats):
        order = {g: i for i, g in enumerate(random.Random(seed).sample(names, len(names)))}
        relabelled = [order[g] for g in groups]
        for train, test in GroupKFold(n_splits=5).split(x, y, relabelled):
            scaler, model = fit(x[train], y[train], w[train], c)
            probs[test] += model.predict_proba(scaler.transform(x[test]))[:, 1] / repeats
    return probs


def risk_coverage(probs: np.ndarray, y: np.ndarray) -> list[dict[str, float]]:
    """For each threshold: coverage (share answered), risk (share of answered that are unanswerable),
    abstention accuracy on unanswerable items and false abstention on answerable ones."""
    rows = []
    for t in np.unique(np.concatenate([[0.0], probs, [1.01]])):
        answered = probs >= t
        n_answered = int(answered.sum())
        rows.append(
            {
                "threshold": float(t),
                "coverage": n_answered / len(y),
                "risk": float(((y == 0) & answered).sum() / n_answered) if n_answered else 0.0,
                "abstention_accuracy": float(((y == 0) & ~answered).sum() / max((y == 0).sum(), 1)),
                "false_abstention": float(((y == 1) & ~answered).sum() / max((y == 1).sum(), 1)),
            }
        )
    return rows


def choose_threshold(curve: list[dict[str, float]], max_false: float) -> dict[str, float]:
    ok = [r for r in curve if r["false_abstention"] <= max_false]
    return max(ok, key=lambda r: (r["abstention_accuracy"], -r["threshold"]))


def plot(curve: list[dict[str, float]], chosen: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot([r["coverage"] for r in curve], [r["risk"] for r in curve], color="tab:blue")
    left.scatter([chosen["coverage"]], [chosen["risk"]], color="tab:red", zorder=3, label="chosen threshold")
    left.set(xlabel="coverage (share of dev questions answered)", ylabel="risk (answered but unanswerable)")
    left.set_title("Risk–coverage, dev (out-of-fold)")
    left.legend()
    right.plot(
        [r["false_abstention"] for r in curve], [r["abstention_accuracy"] for r in curve], color="tab:green"
    )
    right.scatter([chosen["false_abstention"]], [chosen["abstention_accuracy"]], color="tab:red", zorder=3)
    right.set(xlabel="false-abstention rate (answerable)", ylabel="abstention accuracy (unanswerable)")
    right.set_title("Abstention trade-off, dev (out-of-fold)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    parser.add_argument("--report", type=Path, default=ROOT / "evals" / "reports" / "answerability")
    parser.add_argument("--max-false", type=float, default=0.03, help="false-abstention budget on dev")
    parser.add_argument("--c", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--synthetic-weight", type=float, default=0.5, help="weight of a synthetic item")
    args = parser.parse_args(argv)

    bot = Assistant().load()
    items = examples(bot, args.seed)
    x, decided = featurise(bot, items)
    items = [e for e, d in zip(items, decided, strict=True) if d]
    x = x[decided]
    y = np.array([e.label for e in items])
    w = np.array([1.0 if e.real else args.synthetic_weight for e in items])
    groups = [e.group for e in items]
    probs = out_of_fold(x, y, w, groups, args.c)
    real = np.array([e.real for e in items])
    curve = risk_coverage(probs[real], y[real])
    chosen = choose_threshold(curve, args.max_false)
    synthetic_curve = risk_coverage(probs[~real], y[~real])
    synthetic_at = min(synthetic_curve, key=lambda r: abs(r["threshold"] - chosen["threshold"]))

    scaler, model = fit(x, y, w, args.c)
    fitted = Model(
        version=VERSION,
        features=FEATURES,
        mean=scaler.mean_,
        scale=np.where(scaler.scale_ > 0, scaler.scale_, 1.0),
        weights=model.coef_[0],
        intercept=float(model.intercept_[0]),
        threshold=chosen["threshold"],
    )
    args.out.write_text(json.dumps(fitted.to_json(), indent=1) + "\n", encoding="utf-8")
    plot(curve, chosen, args.report / "risk_coverage.png")
    n_real = int(real.sum())
    lines = [
        "# Answerability model",
        "",
        f"Fitted by `evals/fit_answerability.py` (version {VERSION}) on the {n_real} dev questions "
        f"it decides ({int((y[real] == 0).sum())} unanswerable) and {len(items) - n_real} synthetic variants "
        f"({int((y[~real] == 0).sum())} negatives). Test and blind splits are never read.",
        "",
        f"Threshold {chosen['threshold']:.3f}, chosen on out-of-fold dev probabilities: false abstention "
        f"≤ {args.max_false:.0%} with the most abstentions on unanswerable questions.",
        "",
        "| out-of-fold, at the threshold | dev questions | synthetic variants |",
        "| --- | ---: | ---: |",
        *[
            f"| {label} | {chosen[key]:.1%} | {synthetic_at[key]:.1%} |"
            for label, key in (
                ("abstention accuracy", "abstention_accuracy"),
                ("false-abstention rate", "false_abstention"),
                ("coverage", "coverage"),
            )
        ],
        "",
        "![risk–coverage](risk_coverage.png)",
        "",
        "| feature | weight (standardised) |",
        "| --- | ---: |",
        *[
            f"| {name} | {weight:+.3f} |"
            for name, weight in sorted(zip(FEATURES, model.coef_[0], strict=True), key=lambda p: -abs(p[1]))
        ],
        "",
    ]
    (args.report / "README.md").write_text("\n".join(lines), encoding="utf-8")
    dev_probs = [
        {"question": e.question, "answerable": bool(e.label), "probability": round(float(p), 4)}
        for e, p in zip(items, probs, strict=True)
        if e.real
    ]
    (args.report / "dev_out_of_fold.json").write_text(
        json.dumps(dev_probs, indent=0) + "\n", encoding="utf-8"
    )
    (args.report / "curve.json").write_text(json.dumps(curve, indent=0) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
