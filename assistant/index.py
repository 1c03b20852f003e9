"""Chunks -> a persistent Chroma collection plus the derived files retrieval needs.

Layout of ``index_dir``::

    .transatlantic-index     marker: this directory belongs to the assistant
    CURRENT                  name of the build being served (replaced atomically)
    builds/<build>/          one complete build: chroma/, chunks.json, vectors.npz, manifest.json

A build is written into a temporary directory, completed, then renamed and only then named
in CURRENT, so a crash mid-build never leaves a half index that is served.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .chunk import build_chunks
from .embed import count_tokens, embed
from .errors import IndexUnavailable
from .parse import parse_report
from .settings import Settings
from .types import Chunk, SourceDoc

log = logging.getLogger(__name__)

PIPELINE_VERSION = "2"
"""Bump when parsing or chunking changes what a build contains."""
MARKER = ".transatlantic-index"


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

    def chunk(self, chunk_id: str) -> Chunk:
        return self.chunks[self._by_id[chunk_id]]

    def __post_init__(self) -> None:
        self._by_id = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        starts = np.zeros(len(self.chunks) + 1, dtype=np.int64)
        for i, c in enumerate(self.chunks):
            starts[i + 1] = starts[i] + len(c.sentences)
        self.sentence_start = starts

    def chunk_index(self, chunk_id: str) -> int:
        return self._by_id[chunk_id]


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


def _chroma_settings() -> Any:
    import chromadb

    return chromadb.Settings(anonymized_telemetry=False, allow_reset=False)


def embedding_function(model: str) -> Any:
    """Our model as a Chroma embedding function, so Chroma never falls back to its default."""
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

    class MiniLM(EmbeddingFunction[Documents]):
        def __init__(self, model: str = model) -> None:
            self.model = model

        def __call__(self, input: Documents) -> Embeddings:
            return list(embed(self.model, list(input)))

        @staticmethod
        def name() -> str:
            return "transatlantic-minilm"

        def get_config(self) -> dict[str, Any]:
            return {"model": self.model}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> MiniLM:
            return MiniLM(config["model"])

    return MiniLM()


def open_client(settings: Settings, path: Path | None) -> Any:
    """A Chroma client: the server named in settings, or the local store at ``path``."""
    import chromadb

    if settings.chroma_host:
        headers = {"Authorization": f"Bearer {settings.chroma_token}"} if settings.chroma_token else None
        try:
            return chromadb.HttpClient(
                host=settings.chroma_host,
                port=settings.chroma_port,
                headers=headers,
                settings=_chroma_settings(),
            )
        except Exception as exc:
            raise IndexUnavailable(
                f"Cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port}: {exc}"
            ) from exc
    assert path is not None
    return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())


def collection_name(settings: Settings, fp: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:12]
    return f"{settings.collection_name}-{digest}"


@contextmanager
def _locked(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_owned(index_dir: Path) -> None:
    if not index_dir.exists():
        return
    if (index_dir / MARKER).exists():
        return
    foreign = [p.name for p in index_dir.iterdir() if p.name != ".lock"]
    if foreign:
        raise IndexUnavailable(
            f"{index_dir} holds files that are not an index made by this assistant "
            f"({', '.join(sorted(foreign)[:3])}); set ASSISTANT_INDEX_DIR to an empty or new directory."
        )


def load_index(settings: Settings, *, build: bool = True, progress: bool = False) -> Index:
    """Open the current build; build it first if it is missing, stale or unreadable."""
    index_dir = settings.index_dir
    _check_owned(index_dir)
    expected = fingerprint(settings)
    problem = ""
    try:
        return _open_current(settings, expected)
    except _Stale as exc:
        problem = str(exc)
    if not build:
        raise IndexUnavailable(f"The index needs building ({problem}); run: assistant ingest")
    log.warning("Building the index: %s", problem)
    with _locked(index_dir):
        try:  # another process may have built it while we waited for the lock
            return _open_current(settings, expected)
        except _Stale:
            pass
        build_index(settings, progress=progress, _locked_already=True)
    try:
        return _open_current(settings, expected)
    except _Stale as exc:
        raise IndexUnavailable(f"The index was rebuilt but cannot be opened: {exc}") from exc


class _Stale(Exception):
    """The current build is missing, stale or unreadable (internal)."""


def _open_current(settings: Settings, expected: dict[str, Any]) -> Index:
    index_dir = settings.index_dir
    current = index_dir / "CURRENT"
    if not current.exists():
        raise _Stale("no index yet")
    build_dir = index_dir / "builds" / current.read_text().strip()
    try:
        manifest = json.loads((build_dir / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise _Stale(f"the index manifest is unreadable ({exc.__class__.__name__})") from exc
    if manifest.get("fingerprint") != expected:
        changed = [k for k, v in expected.items() if manifest.get("fingerprint", {}).get(k) != v]
        raise _Stale(f"the index is out of date ({', '.join(changed)} changed)")
    try:
        data = json.loads((build_dir / "chunks.json").read_text(encoding="utf-8"))
        docs = {d["doc_id"]: _doc_from(d) for d in data["docs"]}
        chunks = [_chunk_from(c) for c in data["chunks"]]
        with np.load(build_dir / "vectors.npz") as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _Stale(f"the index files are damaged ({exc.__class__.__name__}: {exc})") from exc
    n_sent = sum(len(c.sentences) for c in chunks)
    if arrays["chunk_vectors"].shape[0] != len(chunks) or arrays["sentence_vectors"].shape[0] != n_sent:
        raise _Stale("the index files disagree with each other")
    collection = _open_collection(settings, build_dir, manifest, len(chunks))
    return Index(
        docs=docs,
        chunks=chunks,
        chunk_vectors=arrays["chunk_vectors"],
        sentence_vectors=arrays["sentence_vectors"],
        sentence_owner=arrays["sentence_owner"],
        sentence_slot=arrays["sentence_slot"],
        collection=collection,
        manifest=manifest,
        path=build_dir,
    )


def _open_collection(settings: Settings, build_dir: Path, manifest: dict[str, Any], n_chunks: int) -> Any:
    try:
        client = open_client(settings, None if settings.chroma_host else build_dir / "chroma")
        collection = client.get_collection(
            manifest["collection"], embedding_function=embedding_function(settings.embedding_model)
        )
        count = collection.count()
    except IndexUnavailable:
        raise
    except Exception as exc:
        if settings.chroma_host:
            raise IndexUnavailable(
                f"The Chroma server at {settings.chroma_host}:{settings.chroma_port} did not answer: {exc}"
            ) from exc
        raise _Stale(f"the Chroma store is damaged ({exc.__class__.__name__})") from exc
    if count != n_chunks:
        raise _Stale(f"the Chroma collection holds {count} chunks, expected {n_chunks}")
    return collection


def build_index(settings: Settings, *, progress: bool = False, _locked_already: bool = False) -> Path:
    """Parse, chunk, embed and store; returns the new build directory, now current."""
    if not _locked_already:
        _check_owned(settings.index_dir)
        with _locked(settings.index_dir):
            return build_index(settings, progress=progress, _locked_already=True)
    started = time.perf_counter()
    index_dir = settings.index_dir
    index_dir.mkdir(parents=True, exist_ok=True)
    (index_dir / MARKER).write_text("transatlantic assistant index\n")
    builds = index_dir / "builds"
    builds.mkdir(exist_ok=True)
    for stale in builds.glob(".tmp-*"):  # left by a build that crashed
        shutil.rmtree(stale, ignore_errors=True)
    fp = fingerprint(settings)
    report = parse_report(settings.corpus_path)
    model = settings.embedding_model
    chunks = build_chunks(
        report,
        settings.model_max_tokens,
        settings.chunk_target_tokens,
        lambda text: count_tokens(model, text),
    )
    sentences = [s for c in chunks for s in c.sentences]
    owner = np.array([i for i, c in enumerate(chunks) for _ in c.sentences], dtype=np.int32)
    slot = np.array([j for c in chunks for j in range(len(c.sentences))], dtype=np.int32)
    bar = _progress(progress, len(chunks) + len(sentences))
    chunk_vectors = _embed_batches([c.embed_text for c in chunks], settings, bar)
    sentence_vectors = _embed_batches(sentences, settings, bar)
    bar.close()

    name = f"{fp['corpus_sha256'][:10]}-{int(time.time())}-{uuid.uuid4().hex[:6]}"
    tmp = builds / f".tmp-{name}"
    tmp.mkdir()
    coll_name = collection_name(settings, fp)
    client = open_client(settings, tmp / "chroma")
    if settings.chroma_host:
        with contextlib.suppress(Exception):  # absent is fine
            client.delete_collection(coll_name)
    collection = client.create_collection(
        coll_name,
        embedding_function=embedding_function(model),
        metadata={"hnsw:space": "cosine"},
    )
    step = 128
    for start in range(0, len(chunks), step):
        batch = chunks[start : start + step]
        collection.add(
            ids=[c.chunk_id for c in batch],
            embeddings=chunk_vectors[start : start + step],
            documents=[c.text for c in batch],
            metadatas=[_chunk_metadata(c, report.docs[c.doc_id]) for c in batch],
        )
    del collection, client
    payload = {
        "docs": [_doc_to(d) for d in report.docs.values()],
        "chunks": [asdict(c) for c in chunks],
        "corrections": report.corrections,
    }
    (tmp / "chunks.json").write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    np.savez(
        tmp / "vectors.npz",
        chunk_vectors=chunk_vectors,
        sentence_vectors=sentence_vectors,
        sentence_owner=owner,
        sentence_slot=slot,
    )
    manifest = {
        "fingerprint": fp,
        "collection": coll_name,
        "chunks": len(chunks),
        "sentences": len(sentences),
        "documents": len(report.docs),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    final = builds / name
    os.replace(tmp, final)
    pointer = index_dir / "CURRENT.tmp"
    pointer.write_text(name)
    os.replace(pointer, index_dir / "CURRENT")
    for old in builds.iterdir():
        if old.name != name and not old.name.startswith(".tmp-"):
            shutil.rmtree(old, ignore_errors=True)
    log.info("Index built in %.1f s: %d chunks", time.perf_counter() - started, len(chunks))
    return final


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(enabled: bool, total: int) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="Embedding the report", unit="text")


def _embed_batches(texts: list[str], settings: Settings, bar: Any) -> np.ndarray:
    out = []
    step = settings.embedding_batch_size * 4
    for start in range(0, len(texts), step):
        batch = texts[start : start + step]
        out.append(embed(settings.embedding_model, batch, settings.embedding_batch_size))
        bar.update(len(batch))
    return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)


def _chunk_metadata(chunk: Chunk, doc: SourceDoc) -> dict[str, str | int]:
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


def _doc_to(doc: SourceDoc) -> dict[str, Any]:
    return asdict(doc)


def _doc_from(data: dict[str, Any]) -> SourceDoc:
    for key in ("authors", "notes", "sections"):
        data[key] = tuple(data[key])
    return SourceDoc(**data)


def _chunk_from(data: dict[str, Any]) -> Chunk:
    data["sentences"] = tuple(data["sentences"])
    return Chunk(**data)
