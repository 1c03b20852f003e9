"""Building the index: chunks and vectors computed in memory, written into a new build directory
under the lock, then named in ``CURRENT`` (the one before kept as ``PREVIOUS``)."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.corpus.chunk import build_chunks
from assistant.corpus.parse import Report, parse_report
from assistant.embed import count_tokens, embed
from assistant.errors import IndexUnavailable
from assistant.settings import Settings
from assistant.store.chroma import embedding_function, local_client
from assistant.store.index import MARKER, Stale, chunk_metadata, collection_name, doc_record, fingerprint
from assistant.types import Chunk

log = logging.getLogger(__name__)


@contextmanager
def locked(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    make_room(index_dir / ".lock", directory=False)
    with open(index_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_owned(index_dir: Path) -> None:
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


def writable(directory: Path) -> bool:
    """Whether files can be created in ``directory`` (or it can be created): tried, not guessed."""
    if not directory.exists():
        return directory.parent != directory and writable(directory.parent)
    try:
        handle, probe = tempfile.mkstemp(prefix=".probe-", dir=directory)
    except OSError:
        return False
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def make_room(path: Path, *, directory: bool) -> None:
    """Remove what stands where this index keeps a file (or a directory) of another type."""
    if path.is_symlink() or not path.exists():
        return
    if directory and not path.is_dir():
        path.unlink()
    elif not directory and path.is_dir():
        shutil.rmtree(path)


def pointer(index_dir: Path, name: str) -> str:
    """The build named in ``CURRENT`` or ``PREVIOUS``; ``Stale`` when there is none or it is garbage."""
    try:
        build = (index_dir / name).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise Stale("no index yet") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise Stale(f"{name} is unreadable ({exc.__class__.__name__})") from exc
    if not build or build != Path(build).name or build.startswith("."):
        raise Stale(f"{name} names no build")
    return build


@dataclass
class Built:
    """A build computed in memory: what gets written to a directory or a Chroma server."""

    fingerprint: dict[str, Any]
    report: Report
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    sentence_owner: np.ndarray
    sentence_slot: np.ndarray
    started: float

    def chunks_json(self) -> str:
        """``chunks.json``: the documents with their citation metadata, and the chunks."""
        payload = {
            "docs": [doc_record(d) for d in self.report.docs.values()],
            "chunks": [asdict(c) for c in self.chunks],
            "corrections": self.report.corrections,
        }
        return json.dumps(payload, ensure_ascii=False)

    def vectors_npz(self) -> bytes:
        """``vectors.npz``: chunk and sentence vectors, and which chunk each sentence belongs to."""
        out = io.BytesIO()
        np.savez(
            out,
            chunk_vectors=self.chunk_vectors,
            sentence_vectors=self.sentence_vectors,
            sentence_owner=self.sentence_owner,
            sentence_slot=self.sentence_slot,
        )
        return out.getvalue()

    def manifest(self, collection: str) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "collection": collection,
            "chunks": len(self.chunks),
            "sentences": len(self.sentence_vectors),
            "documents": len(self.report.docs),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.perf_counter() - self.started, 2),
        }

    def collection_metadata(self) -> dict[str, Any]:
        """Chroma's settings for the chunk collection. Its HNSW graph is approximate and differs from
        process to process: with the default search breadth (100) a fifth of the evaluation questions
        missed one of their exact top 40 chunks, each process missing different ones. Searching
        wider than the collection is large makes it exact (none missed) for 0.4 ms a question."""
        return {"hnsw:space": "cosine", "hnsw:search_ef": max(100, len(self.chunks) + 1)}

    def add_chunks(self, collection: Any, step: int = 128) -> None:
        """Chunk vectors, texts and citation metadata into a Chroma collection."""
        chunks = self.chunks
        for start in range(0, len(chunks), step):
            batch = chunks[start : start + step]
            collection.add(
                ids=[c.chunk_id for c in batch],
                embeddings=self.chunk_vectors[start : start + step],
                documents=[c.text for c in batch],
                metadatas=[chunk_metadata(c, self.report.docs[c.doc_id]) for c in batch],
            )


def compute_build(settings: Settings, progress: bool = False) -> Built:
    """Parse, chunk and embed the report."""
    started = time.perf_counter()
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
    return Built(fp, report, chunks, chunk_vectors, sentence_vectors, owner, slot, started)


def build_index(settings: Settings, *, progress: bool = False, _locked_already: bool = False) -> Path:
    """Parse, chunk, embed and store in ``index_dir``; returns the new build directory, now current."""
    if not _locked_already:
        check_owned(settings.index_dir)
        with locked(settings.index_dir):
            return build_index(settings, progress=progress, _locked_already=True)
    index_dir = settings.index_dir
    index_dir.mkdir(parents=True, exist_ok=True)
    for name, directory in ((MARKER, False), ("builds", True), ("CURRENT", False), ("PREVIOUS", False)):
        make_room(index_dir / name, directory=directory)  # what damage left where a file goes
    for name in ("CURRENT.tmp", "PREVIOUS.tmp"):
        make_room(index_dir / name, directory=False)
    (index_dir / MARKER).write_text("transatlantic assistant index\n")
    builds = index_dir / "builds"
    builds.mkdir(exist_ok=True)
    for stale in builds.glob(".tmp-*"):  # left by a build that crashed
        shutil.rmtree(stale, ignore_errors=True)
    built = compute_build(settings, progress)
    fp, chunks = built.fingerprint, built.chunks

    name = f"{fp['corpus_sha256'][:10]}-{int(time.time())}-{uuid.uuid4().hex[:6]}"
    tmp = builds / f".tmp-{name}"
    tmp.mkdir()
    coll_name = collection_name(settings, fp)
    client = local_client(tmp / "chroma")
    collection = client.create_collection(
        coll_name,
        embedding_function=embedding_function(settings.embedding_model),
        metadata=built.collection_metadata(),
    )
    built.add_chunks(collection)
    del collection, client
    (tmp / "chunks.json").write_text(built.chunks_json(), encoding="utf-8")
    (tmp / "vectors.npz").write_bytes(built.vectors_npz())
    manifest = built.manifest(coll_name)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    final = builds / name
    os.replace(tmp, final)
    keep = {name}
    try:  # the build served until now stays as the fallback, if it was a whole one
        previous = pointer(index_dir, "CURRENT")
        if (builds / previous / "manifest.json").is_file():
            write_pointer(index_dir, "PREVIOUS", previous)
            keep.add(previous)
    except Stale:
        pass
    write_pointer(index_dir, "CURRENT", name)
    for old in builds.iterdir():
        if old.name not in keep and not old.name.startswith(".tmp-"):
            shutil.rmtree(old, ignore_errors=True)
    log.info("Index built in %.1f s: %d chunks", time.perf_counter() - built.started, len(chunks))
    return final


def write_pointer(index_dir: Path, name: str, build: str) -> None:
    pointer = index_dir / f"{name}.tmp"
    pointer.write_text(build, encoding="utf-8")
    os.replace(pointer, index_dir / name)


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
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    # longest first over the whole list, so each batch pads little: a sixth less work in all (a
    # quarter for the sentences) than sorting within each step
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out: np.ndarray | None = None
    step = settings.embedding_batch_size * 4
    for start in range(0, len(texts), step):
        rows = order[start : start + step]
        vectors = embed(
            settings.embedding_model,
            [texts[i] for i in rows],
            settings.embedding_batch_size,
            threads=settings.build_threads,
        )
        if out is None:
            out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        out[rows] = vectors
        bar.update(len(rows))
    assert out is not None
    return out
