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

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import pickle
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .chunk import build_chunks
from .embed import count_tokens, embed
from .errors import AssistantError, IndexUnavailable
from .parse import Report, parse_report
from .settings import Settings
from .types import Chunk, SourceDoc

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
    root = Path(__file__).parent
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
    if settings.chroma_host:
        from .index_server import server_client

        return server_client(settings)
    assert path is not None
    return local_client(path)


def local_client(path: Path) -> Any:
    """The Chroma store inside a build directory."""
    import chromadb

    return chromadb.PersistentClient(path=str(path), settings=_chroma_settings())


def collection_name(settings: Settings, fp: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:12]
    return f"{settings.collection_name}-{digest}"


@contextmanager
def _locked(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    _make_room(index_dir / ".lock", directory=False)
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
    """Open the current build; build it first if it is missing, stale or unreadable.

    On a Chroma server nothing is built here (several app processes starting at once must not
    each build): a missing or stale server index is an ``IndexUnavailable`` naming ``ingest``.
    Whatever state the index directory is in, the result is an index or an ``AssistantError``.
    """
    try:
        return _load(settings, build=build, progress=progress)
    except AssistantError:
        raise
    except OSError as exc:
        raise IndexUnavailable(
            f"The index directory {settings.index_dir} cannot be used ({exc.__class__.__name__}: "
            f"{exc.strerror or exc}); fix its permissions or remove it to rebuild, or set "
            "ASSISTANT_INDEX_DIR to another directory."
        ) from exc


def _load(settings: Settings, *, build: bool, progress: bool) -> Index:
    index_dir = settings.index_dir
    _check_owned(index_dir)
    expected = fingerprint(settings)
    if settings.chroma_host:
        from .index_server import load_from_server

        return load_from_server(settings, expected)
    problem = ""
    try:
        return _open_current(settings, expected)
    except _Stale as exc:
        problem = str(exc)
    writable = _writable(index_dir)
    if not build or not writable:
        previous = _open_previous(settings, expected, problem)
        if previous is not None:
            return previous
        fix = "run: assistant ingest"
        if not writable:
            fix = (
                f"{index_dir} is read-only, so it cannot be rebuilt here; run `assistant ingest` as a "
                "user who can write it, or set ASSISTANT_INDEX_DIR to a writable directory"
            )
        raise IndexUnavailable(f"The index needs building ({problem}); {fix}.")
    log.warning("Building the index: %s", problem)
    try:
        with _locked(index_dir):
            try:  # another process may have built it while we waited for the lock
                return _open_current(settings, expected)
            except _Stale:
                pass
            build_index(settings, progress=progress, _locked_already=True)
    except OSError as exc:  # a full disk, say: an older good build is better than nothing
        previous = _open_previous(settings, expected, f"rebuilding failed: {exc.strerror or exc}")
        if previous is None:
            raise
        return previous
    try:
        return _open_current(settings, expected)
    except _Stale as exc:
        raise IndexUnavailable(f"The index was rebuilt but cannot be opened: {exc}") from exc


class _Stale(Exception):
    """The current build is missing, stale or unreadable (internal)."""


def _writable(directory: Path) -> bool:
    """Whether files can be created in ``directory`` (or it can be created): tried, not guessed."""
    if not directory.exists():
        return directory.parent != directory and _writable(directory.parent)
    try:
        handle, probe = tempfile.mkstemp(prefix=".probe-", dir=directory)
    except OSError:
        return False
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def _make_room(path: Path, *, directory: bool) -> None:
    """Remove what stands where this index keeps a file (or a directory) of another type."""
    if path.is_symlink() or not path.exists():
        return
    if directory and not path.is_dir():
        path.unlink()
    elif not directory and path.is_dir():
        shutil.rmtree(path)


def _pointer(index_dir: Path, name: str) -> str:
    """The build named in ``CURRENT`` or ``PREVIOUS``; ``_Stale`` when there is none or it is garbage."""
    try:
        build = (index_dir / name).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise _Stale("no index yet") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _Stale(f"{name} is unreadable ({exc.__class__.__name__})") from exc
    if not build or build != Path(build).name or build.startswith("."):
        raise _Stale(f"{name} names no build")
    return build


def _open_current(settings: Settings, expected: dict[str, Any]) -> Index:
    index_dir = settings.index_dir
    return _open_build(settings, index_dir / "builds" / _pointer(index_dir, "CURRENT"), expected)


def _open_previous(settings: Settings, expected: dict[str, Any], problem: str) -> Index | None:
    """The build served before the current one, when it is intact and made from these settings."""
    try:
        build_dir = settings.index_dir / "builds" / _pointer(settings.index_dir, "PREVIOUS")
        index = _open_build(settings, build_dir, expected)
    except (_Stale, OSError):
        return None
    log.warning(
        "Serving the previous build %s: the current one cannot be used (%s) and cannot be rebuilt "
        "here; run: assistant ingest",
        build_dir.name,
        problem,
    )
    return index


def _open_build(settings: Settings, build_dir: Path, expected: dict[str, Any]) -> Index:
    try:
        manifest = json.loads((build_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _Stale(f"the index manifest is unreadable ({exc.__class__.__name__})") from exc
    fields = {"collection": str, "chunks": int, "built_at": str}
    if not isinstance(manifest, dict) or any(not isinstance(manifest.get(k), t) for k, t in fields.items()):
        raise _Stale("the index manifest is damaged")
    check_fingerprint(manifest, expected)
    try:
        chunks_json = (build_dir / "chunks.json").read_text(encoding="utf-8")
        vectors = (build_dir / "vectors.npz").read_bytes()
    except (OSError, UnicodeDecodeError) as exc:
        raise _Stale(f"the index files are damaged ({exc.__class__.__name__})") from exc
    build = read_build(chunks_json, vectors)
    if len(build[1]) != manifest["chunks"]:
        raise _Stale("the index files disagree with the manifest")
    collection, location = _open_collection(settings, build_dir, manifest, len(build[1]))
    return Index.from_build(
        build, collection=collection, manifest=manifest, path=build_dir, location=location
    )


def check_fingerprint(manifest: dict[str, Any], expected: dict[str, Any]) -> None:
    """``_Stale`` naming what changed when a build was made from something else."""
    found = manifest.get("fingerprint")
    if not isinstance(found, dict):
        raise _Stale("the index manifest has no fingerprint")
    if found != expected:
        changed = [k for k, v in expected.items() if found.get(k) != v] or ["its settings"]
        raise _Stale(f"the index is out of date ({', '.join(changed)} changed)")


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
        raise _Stale(f"the index files are damaged ({exc.__class__.__name__})") from exc
    if not agree:
        raise _Stale("the index files disagree with each other")
    return docs, chunks, arrays


def _open_collection(
    settings: Settings, build_dir: Path, manifest: dict[str, Any], n_chunks: int
) -> tuple[Any, str]:
    """The build's Chroma collection and where it is served from, for people."""
    store, location = build_dir / "chroma", str(build_dir)
    try:
        if not _store_writable(store):  # Chroma opens its store for writing, even to read it
            store = _private_copy(store, build_dir.name)
            location = f"{build_dir} (read-only; Chroma store served from a private copy in {store})"
        client = local_client(store)
        collection = client.get_collection(
            manifest["collection"], embedding_function=embedding_function(settings.embedding_model)
        )
        count = collection.count()
    except Exception as exc:
        raise _Stale(f"the Chroma store is damaged ({exc.__class__.__name__})") from exc
    if count != n_chunks:
        raise _Stale(f"the Chroma collection holds {count} chunks, expected {n_chunks}")
    return collection, location


def _store_writable(store: Path) -> bool:
    if not store.is_dir():
        raise _Stale("the Chroma store is missing")
    try:
        with open(store / "chroma.sqlite3", "r+b"):
            pass
    except FileNotFoundError:
        raise _Stale("the Chroma store is missing its database") from None
    except OSError:
        return False
    return _writable(store)


def _private_copy(store: Path, build: str) -> Path:
    """A writable copy of a read-only Chroma store, made once per build and user."""
    base = Path(tempfile.gettempdir()) / f"transatlantic-index-{os.getuid()}"
    target = base / build
    if (target / ".complete").exists():
        return target
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = base / f".tmp-{uuid.uuid4().hex}"
    shutil.copytree(store, tmp, copy_function=shutil.copyfile)
    for root, dirs, files in os.walk(tmp):  # copytree copied the directories' read-only modes
        os.chmod(root, 0o700)
        for name in files:
            os.chmod(Path(root) / name, 0o600)
        for name in dirs:
            os.chmod(Path(root) / name, 0o700)
    (tmp / ".complete").write_text(build)
    try:
        os.replace(tmp, target)
    except OSError:  # another process made it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def ingest(settings: Settings, *, force: bool = False, progress: bool = False) -> Index:
    """What ``assistant ingest`` does: build when the index is missing or stale (or ``force``),
    locally or on the Chroma server, then open it."""
    if settings.chroma_host:
        from .index_server import ingest_to_server

        return ingest_to_server(settings, force=force, progress=progress)
    if force:
        build_index(settings, progress=progress)
    index = load_index(settings, progress=progress)
    sweep(settings)
    return index


def sweep(settings: Settings) -> list[Path]:
    """Remove what killed builds left in ``builds/`` (``.tmp-*`` directories, builds that never
    became current, builds older than the previous one), under the build lock so no running build
    loses its files. Returns what went;
    a read-only index directory is left as it is."""
    builds = settings.index_dir / "builds"
    removed: list[Path] = []
    try:
        keep = {_pointer(settings.index_dir, "CURRENT")}
        with contextlib.suppress(_Stale):
            keep.add(_pointer(settings.index_dir, "PREVIOUS"))
        with _locked(settings.index_dir):
            for path in builds.iterdir():
                if path.name not in keep and path.is_dir():
                    shutil.rmtree(path)
                    removed.append(path)
    except (OSError, _Stale) as exc:
        log.info("Not sweeping %s: %s", builds, exc)
    return removed


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
            "docs": [_doc_to(d) for d in self.report.docs.values()],
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
                metadatas=[_chunk_metadata(c, self.report.docs[c.doc_id]) for c in batch],
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
        _check_owned(settings.index_dir)
        with _locked(settings.index_dir):
            return build_index(settings, progress=progress, _locked_already=True)
    index_dir = settings.index_dir
    index_dir.mkdir(parents=True, exist_ok=True)
    for name, directory in ((MARKER, False), ("builds", True), ("CURRENT", False), ("PREVIOUS", False)):
        _make_room(index_dir / name, directory=directory)  # what damage left where a file goes
    for name in ("CURRENT.tmp", "PREVIOUS.tmp"):
        _make_room(index_dir / name, directory=False)
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
        previous = _pointer(index_dir, "CURRENT")
        if (builds / previous / "manifest.json").is_file():
            _write_pointer(index_dir, "PREVIOUS", previous)
            keep.add(previous)
    except _Stale:
        pass
    _write_pointer(index_dir, "CURRENT", name)
    for old in builds.iterdir():
        if old.name not in keep and not old.name.startswith(".tmp-"):
            shutil.rmtree(old, ignore_errors=True)
    log.info("Index built in %.1f s: %d chunks", time.perf_counter() - built.started, len(chunks))
    return final


def _write_pointer(index_dir: Path, name: str, build: str) -> None:
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
