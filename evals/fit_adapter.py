"""Fit the question map (``assistant/adapter.py``) on the dev split; write ``adapter.npz``.

    python evals/fit_adapter.py [--out assistant/adapter.npz] [--holdout K --ids-out FILE]

Pairs: every answerable dev question with evidence, embedded as asked and without the sources it
names (the two vectors retrieval and sentence choice read), against every report sentence that
holds its evidence. The loss is a softmax over all report sentences (the positives against the
rest), plus ``--l2`` times the squared size of ``W`` so the map stays near the identity.

``--holdout K`` (of ``--folds``) leaves out one fold for an out-of-fold evaluation: folds group
questions by the place of their evidence in the report (blocks of seven sentences), and a training
question that shares an evidence sentence with the held fold is left out too, so the held questions
ask about sentences the map never saw as answers. ``--ids-out`` writes the held fold's dev ids
(every dev item, answerable or not, belongs to one fold) for ``assistant eval --ids``. The test and
blind splits are never read.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import zlib
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import Assistant, Settings  # noqa: E402
from assistant.adapter import ADAPTER_FILE, save_adapter  # noqa: E402
from assistant.answer.answerability import normal  # noqa: E402
from assistant.embed import embed  # noqa: E402
from assistant.evaluation.dataset import DEFAULT_SET, load_questions  # noqa: E402

BLOCK = 7


def holds(sentence: str, evidence: str) -> bool:
    """Whether a report sentence holds the evidence quote, or the quote holds most of it."""
    s, e = normal(sentence), normal(evidence)
    if not s or not e:
        return False
    if e in s or (len(s) > 40 and s in e):
        return True
    sw, ew = set(s.split()), set(e.split())
    return len(sw & ew) / max(len(ew), 1) > 0.8 and len(sw & ew) / max(len(sw), 1) > 0.5


def collect(bot: Assistant) -> tuple[list[dict[str, object]], list[str], np.ndarray]:
    """Training pairs, every dev id, and the report's sentence vectors."""
    kb = bot.knowledge
    index = kb.index
    sentences = [
        (int(index.sentence_start[ci]) + slot, s)
        for ci, c in enumerate(index.chunks)
        for slot, s in enumerate(c.sentences)
    ]
    pairs: list[dict[str, object]] = []
    dev_ids: list[str] = []
    for item in load_questions(DEFAULT_SET):
        if item.split != "dev":
            continue
        dev_ids.append(item.id)
        if not item.answerable or not item.evidence:
            continue
        positives = [row for row, s in sentences if holds(s, item.evidence)]
        if not positives:
            continue
        query, _, _ = bot.evidence(item.question, item.history)
        texts = list(dict.fromkeys([query.text, query.topic]))
        vectors = embed(bot.settings.embedding_model, texts)
        pairs.append({"id": item.id, "vectors": vectors, "positives": positives})
    return pairs, dev_ids, np.asarray(index.sentence_vectors, dtype=np.float32)


def fold_of(pair: dict[str, object], folds: int) -> int:
    positives = pair["positives"]
    assert isinstance(positives, list)
    return (min(positives) // BLOCK) % folds


def train(
    pairs: list[dict[str, object]], sentences: np.ndarray, l2: float, epochs: int, seed: int
) -> np.ndarray:
    import torch

    torch.manual_seed(seed)
    rows = [(v, p["positives"]) for p in pairs for v in p["vectors"]]  # type: ignore[attr-defined]
    q_all = torch.tensor(np.stack([v for v, _ in rows]), dtype=torch.float32)
    s_all = torch.tensor(sentences)
    w = torch.zeros(q_all.shape[1], q_all.shape[1], requires_grad=True)
    optimiser = torch.optim.Adam([w], lr=1e-3)
    for _ in range(epochs):
        order = torch.randperm(len(rows))
        for start in range(0, len(rows), 32):
            batch = order[start : start + 32]
            q = q_all[batch] + q_all[batch] @ w
            q = q / q.norm(dim=1, keepdim=True)
            logits = q @ s_all.T / 0.05
            positive = torch.stack(
                [torch.logsumexp(logits[i, rows[int(j)][1]], 0) for i, j in enumerate(batch)]
            )
            loss = (torch.logsumexp(logits, 1) - positive).mean() + l2 * (w**2).sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return w.detach().numpy()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ADAPTER_FILE)
    parser.add_argument("--l2", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--holdout", type=int, default=None)
    parser.add_argument("--ids-out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None, help="keep the collected pairs here (pickle)")
    args = parser.parse_args(argv)
    settings = Settings(query_adapter=False)
    if args.cache and args.cache.exists():
        pairs, dev_ids, sentences = pickle.loads(args.cache.read_bytes())
    else:
        bot = Assistant(settings)
        bot.load()
        pairs, dev_ids, sentences = collect(bot)
        if args.cache:
            args.cache.write_bytes(pickle.dumps((pairs, dev_ids, sentences)))
    chosen = pairs
    if args.holdout is not None:
        held = [p for p in pairs if fold_of(p, args.folds) == args.holdout]
        seen = {r for p in held for r in p["positives"]}  # type: ignore[attr-defined]
        chosen = [
            p
            for p in pairs
            if fold_of(p, args.folds) != args.holdout and not seen & set(p["positives"])  # type: ignore[arg-type]
        ]
        if args.ids_out:
            fold = {str(p["id"]): fold_of(p, args.folds) for p in pairs}
            ids = [i for i in dev_ids if fold.get(i, zlib.crc32(i.encode()) % args.folds) == args.holdout]
            args.ids_out.write_text(",".join(ids), encoding="utf-8")
            print(f"held fold {args.holdout}: {len(ids)} dev items ({len(held)} with evidence pairs)")
    print(f"fitting on {len(chosen)} questions")
    w = train(chosen, sentences, args.l2, args.epochs, args.seed)
    save_adapter(args.out, w, settings.embedding_model)
    print(f"wrote {args.out} (|W| = {np.linalg.norm(w):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
