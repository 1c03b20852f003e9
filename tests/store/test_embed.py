"""The embedding model: the ONNX export run by onnxruntime gives sentence-transformers' vectors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from assistant.embed import BUNDLED, OnnxEncoder, _SentenceTransformer, embed, load_model, model_path

pytestmark = pytest.mark.slow

TEXTS = [
    "What did Russia agree to sell China in 2015?",
    "x",
    "",
    "Pynnöniemi — “mental warfare” and Россия и Китай, 中俄关系 😀",
    "The S-400 sale. " * 120,  # longer than the model's 256-word-piece window: truncated alike
]


def test_the_bundled_model_runs_on_onnxruntime() -> None:
    model = load_model(BUNDLED)
    assert isinstance(model, OnnxEncoder) and model.file.suffix == ".onnx" and model.file.is_file()


def test_embedding_a_question_imports_neither_torch_nor_transformers() -> None:
    code = (
        "import sys; from assistant.embed import embed; v = embed('all-MiniLM-L6-v2', ['S-400 sale']);"
        "print(v.shape, [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "(1, 384) []"


def test_vectors_match_sentence_transformers() -> None:
    ours = load_model(BUNDLED).encode(TEXTS, batch_size=2)
    reference = _SentenceTransformer(model_path(BUNDLED)).encode(TEXTS, batch_size=2)
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
    assert np.abs(ours - reference).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_batching_and_threads_do_not_change_vectors() -> None:
    one = embed(BUNDLED, TEXTS, batch_size=1, threads=1)
    many = embed(BUNDLED, TEXTS, batch_size=32, threads=0)
    assert np.abs(one - many).max() < 1e-5
