"""The question map: its arithmetic, its file, its setting, and (on the real index) that it moves
questions the map was never fitted on toward the sentences that answer them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant, Settings
from assistant.adapter import ADAPTER_FILE, adapt, load_adapter, save_adapter
from assistant.answer.answerability import normal
from assistant.embed import embed
from assistant.evaluation.dataset import DEFAULT_SET, load_questions
from assistant.retrieve import query_adapter


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def test_a_zero_map_is_the_identity_and_output_is_unit_length() -> None:
    rng = np.random.default_rng(0)
    q = _unit(rng.normal(size=(5, 8))).astype(np.float32)
    assert np.allclose(adapt(q, np.zeros((8, 8), dtype=np.float32)), q, atol=1e-6)
    assert adapt(q, None) is q
    moved = adapt(q, rng.normal(size=(8, 8)).astype(np.float32))
    assert not np.allclose(moved, q)
    assert np.allclose(np.linalg.norm(moved, axis=-1), 1.0, atol=1e-5)
    one = adapt(q[0], rng.normal(size=(8, 8)).astype(np.float32))  # a single vector works too
    assert one.shape == (8,) and abs(float(np.linalg.norm(one)) - 1.0) < 1e-5


def test_the_file_names_its_model(tmp_path: Path) -> None:
    path = tmp_path / "map.npz"
    w = np.eye(4, dtype=np.float32) * 0.5
    save_adapter(path, w, "model-a")
    assert np.allclose(load_adapter(path, "model-a"), w)
    assert load_adapter(path, "model-b") is None  # fitted for another embedding model
    assert load_adapter(tmp_path / "absent.npz", "model-a") is None


def test_the_shipped_map_fits_the_default_model_and_is_off_unless_asked_for() -> None:
    settings = Settings(query_adapter=True)
    w = query_adapter(settings)
    assert w is not None and w.shape == (384, 384)
    assert settings.query_adapter_file == ADAPTER_FILE
    assert query_adapter(Settings()) is None
    assert (
        query_adapter(Settings(query_adapter=True, query_adapter_file=Path("/nonexistent/map.npz"))) is None
    )


@pytest.mark.slow
def test_held_out_questions_move_toward_their_evidence(bot: Assistant) -> None:
    """On the test split (the map is fitted on dev only), the sentence holding an item's evidence
    ranks higher among all report sentences with the map than without it."""
    index = bot.knowledge.index
    sentences = [
        (int(index.sentence_start[ci]) + slot, normal(s))
        for ci, c in enumerate(index.chunks)
        for slot, s in enumerate(c.sentences)
    ]
    w = query_adapter(bot.settings.model_copy(update={"query_adapter": True}))
    assert w is not None
    vectors = np.asarray(index.sentence_vectors, dtype=np.float32)
    plain_rr: list[float] = []
    moved_rr: list[float] = []
    for item in load_questions(DEFAULT_SET):
        if item.split != "test" or not item.answerable or not item.evidence:
            continue
        evidence = normal(item.evidence)
        rows = [row for row, s in sentences if len(s) > 40 and (evidence in s or s in evidence)]
        if not rows:
            continue
        q = embed(bot.settings.embedding_model, [item.question])[0]
        for vec, out in ((q, plain_rr), (adapt(q, w), moved_rr)):
            sims = vectors @ vec
            best = max(float(sims[r]) for r in rows)
            out.append(1.0 / (1 + int((sims > best).sum())))
    assert len(plain_rr) >= 100
    assert np.mean(moved_rr) > np.mean(plain_rr) + 0.02, (np.mean(plain_rr), np.mean(moved_rr))
