"""Chunks -> a persistent Chroma collection plus the derived files retrieval needs.

Layout of ``index_dir``::

    .transatlantic-index     marker: this directory belongs to the assistant
    CURRENT                  name of the build being served (replaced atomically)
    PREVIOUS                 the build served before it, kept as a fallback
    builds/<build>/          one complete build: chroma/, chunks.json, vectors.npz, manifest.json
    builds/<build>/derived/  what each process would otherwise recompute at start (BM25, the catalog)

A build is written into a temporary directory, completed, then renamed and only then named
in CURRENT, so a crash mid-build never leaves a half index that is served. Any damaged state of
the directory rebuilds, or (when it cannot be rebuilt here) falls back to the previous build, or
is an ``IndexUnavailable`` that says what to do. A read-only directory is served as it is, its
Chroma store from a private copy (Chroma opens its store for writing).

With ``ASSISTANT_CHROMA_HOST`` set the build lives on a Chroma server instead, shared by every
app process (see ``index_server.py``); ``index_dir`` then only caches derived files.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from assistant.errors import IndexUnavailable
from assistant.settings import Settings
from assistant.types import Chunk, SourceDoc

log = logging.getLogger(__name__)


PIPELINE_VERSION = "3"
"""Bump when parsing or chunking changes what a build contains (3: exact dense search)."""


MARKER = ".transatlantic-index"


T = TypeVar("T")


@dataclass
class Index:
    """Everything retrieval needs, loaded once per process."""

    docs: dict[str, SourceDoc]
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    sentence_owner: np.ndarray
    """Row i of ``sentence_vectors`` is sentence ``sentence_slot[i]`` of chunk ``sentence_owner[i]``."""
    sentence_slot: np.ndarray
    collection: Any
    manifest: dict[str, Any]
    path: Path
    """The build directory; on a Chroma server, the local directory that caches derived files."""
    location: str = ""
    """Where the build lives, for people: a directory, or ``chroma://host:port/collection``."""

    @classmethod
    def from_build(
        cls,
        build: tuple[dict[str, SourceDoc], list[Chunk], dict[str, np.ndarray]],
        *,
        collection: Any,
        manifest: dict[str, Any],
        path: Path,
        location: str,
    ) -> Index:
        """An index from what ``read_build`` returned and where its vectors are searched."""
        docs, chunks, arrays = build
        return cls(
            docs=docs,
            chunks=chunks,
            chunk_vectors=arrays["chunk_vectors"],
            sentence_vectors=arrays["sentence_vectors"],
            sentence_owner=arrays["sentence_owner"],
            sentence_slot=arrays["sentence_slot"],
            collection=collection,
            manifest=manifest,
            path=path,
            location=location,
        )

    def chunk(self, chunk_id: str) -> Chunk:
        return self.chunks[self._by_id[chunk_id]]

    def derived(self, name: str, make: Callable[[], T]) -> T:
        """``make()``, pickled in ``derived/`` beside the build so later processes load it instead.

        Keyed on the assistant's source code, so a code change recomputes it; any trouble reading
        or writing the cache just means computing it (the cache is an optimisation, never needed).
        """
        path = self.path / "derived" / f"{name}-{_code_key()}.pickle"
        try:
            with open(path, "rb") as handle:
                return pickle.load(handle)  # type: ignore[no-any-return]
        except FileNotFoundError:
            pass
        except Exception as exc:  # a damaged or foreign cache file is recomputed
            log.info("Recomputing %s: %s", name, exc)
        value = make()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
            tmp.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(tmp, path)
            for old in path.parent.glob(f"{name}-*.pickle"):
                if old != path:
                    old.unlink(missing_ok=True)
        except OSError as exc:
            log.info("Cannot cache %s: %s", name, exc)
        return value

    def __post_init__(self) -> None:
        self._by_id = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        starts = np.zeros(len(self.chunks) + 1, dtype=np.int64)
        for i, c in enumerate(self.chunks):
            starts[i + 1] = starts[i] + len(c.sentences)
        self.sentence_start = starts

    def chunk_index(self, chunk_id: str) -> int:
        return self._by_id[chunk_id]


@lru_cache(maxsize=1)
def _code_key() -> str:
    """A digest of the assistant's source: what derived files were computed by."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]  # the whole package
    for source in sorted(root.rglob("*.py")):
        digest.update(str(source.relative_to(root)).encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:12]


def fingerprint(settings: Settings) -> dict[str, Any]:
    """What a build is made from; any change means a rebuild."""
    try:
        corpus = settings.corpus_path.read_bytes()
    except OSError as exc:
        raise IndexUnavailable(f"Cannot read the report at {settings.corpus_path}: {exc}") from exc
    return {
        "corpus_sha256": hashlib.sha256(corpus).hexdigest(),
        "embedding_model": settings.embedding_model,
        "model_max_tokens": settings.model_max_tokens,
        "chunk_target_tokens": settings.chunk_target_tokens,
        "collection": settings.collection_name,
        "pipeline_version": PIPELINE_VERSION,
    }


def collection_name(settings: Settings, fp: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:12]
    return f"{settings.collection_name}-{digest}"


class Stale(Exception):
    """The current build is missing, stale or unreadable (internal)."""


def check_fingerprint(manifest: dict[str, Any], expected: dict[str, Any]) -> None:
    """``Stale`` naming what changed when a build was made from something else."""
    found = manifest.get("fingerprint")
    if not isinstance(found, dict):
        raise Stale("the index manifest has no fingerprint")
    if found != expected:
        changed = [k for k, v in expected.items() if found.get(k) != v] or ["its settings"]
        raise Stale(f"the index is out of date ({', '.join(changed)} changed)")


def read_build(
    chunks_json: str, vectors: bytes
) -> tuple[dict[str, SourceDoc], list[Chunk], dict[str, np.ndarray]]:
    """Documents, chunks and vector arrays from a build's ``chunks.json`` and ``vectors.npz``."""
    try:
        data = json.loads(chunks_json)
        docs = {d["doc_id"]: _doc_from(d) for d in data["docs"]}
        chunks = [_chunk_from(c) for c in data["chunks"]]
        with np.load(io.BytesIO(vectors)) as npz:
            arrays = {k: npz[k] for k in npz.files}
        n_sent = sum(len(c.sentences) for c in chunks)
        agree = (
            arrays["chunk_vectors"].shape[0] == len(chunks) and arrays["sentence_vectors"].shape[0] == n_sent
        )
    except Exception as exc:  # truncated or foreign files fail in many ways (BadZipFile, ...)
        raise Stale(f"the index files are damaged ({exc.__class__.__name__})") from exc
    if not agree:
        raise Stale("the index files disagree with each other")
    return docs, chunks, arrays


def chunk_metadata(chunk: Chunk, doc: SourceDoc) -> dict[str, str | int]:
    return {
        "doc_id": doc.doc_id,
        "kind": doc.kind,
        "authors": doc.authors_display,
        "title": doc.title,
        "publication": doc.publication,
        "date": doc.date,
        "url": doc.url,
        "language": doc.language,
        "area": doc.area,
        "perspective": doc.perspective,
        "section": chunk.section,
        "position": chunk.position,
    }


def doc_record(doc: SourceDoc) -> dict[str, Any]:
    return asdict(doc)


def _doc_from(data: dict[str, Any]) -> SourceDoc:
    for key in ("authors", "notes", "sections"):
        data[key] = tuple(data[key])
    return SourceDoc(**data)


def _chunk_from(data: dict[str, Any]) -> Chunk:
    data["sentences"] = tuple(data["sentences"])
    return Chunk(**data)
