"""A question's embedding moved toward the kind of report sentence that answers such a question.

MiniLM embeds a question ("In what year did Moscow agree to sell the S-400?") and the statement
that answers it ("…a shift in Russia’s policy was observed in 2015 when Russia agreed to sell…")
in different regions of its space. A linear map fitted on the dev split's (question, evidence
sentence) pairs, ``q + qW`` then unit length, moves questions toward their answers; report
sentences keep the embeddings they were built with, so the index does not change. The chunk-level
dense ranking and the composer's choice of sentences read the moved vector; the sentence-level and
named-document rankings and the answerability model keep reading the plain one.

``adapter.npz`` beside this module holds ``W`` (float16) and the embedding model it was fitted
for; ``evals/fit_adapter.py`` fits it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

ADAPTER_FILE = Path(__file__).with_name("adapter.npz")


@lru_cache(maxsize=4)
def load_adapter(path: Path, model: str) -> np.ndarray | None:
    """The map's matrix, or None when the file is absent or was fitted for another model."""
    if not path.exists():
        return None
    with np.load(path) as data:
        if str(data["model"]) != model:
            return None
        return data["W"].astype(np.float32)


def adapt(vectors: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Rows moved by ``w`` and made unit length again (unchanged when ``w`` is None)."""
    if w is None:
        return vectors
    moved = vectors + vectors @ w
    norms = np.linalg.norm(moved, axis=-1, keepdims=True)
    return (moved / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def save_adapter(path: Path, w: np.ndarray, model: str) -> None:
    np.savez_compressed(path, W=w.astype(np.float16), model=np.array(model))
