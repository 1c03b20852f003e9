"""The index on a Chroma server, shared by every app process (``ASSISTANT_CHROMA_HOST``).

``assistant ingest`` builds and publishes; app processes load the published build, verify its
fingerprint, and keep only dense search on the server. Layout on the server::

    <name>-<digest>-<build>   the chunk collection: vectors, texts and citation metadata
    <name>-files              each build's chunks.json and vectors.npz (in parts), and for each
                              fingerprint digest the manifest of its current build

``<digest>`` hashes the fingerprint (report, model, chunking, pipeline version), so builds made
from different settings live side by side. The manifest record is written last, so a build that
failed mid-way is never served; the build before the current one is kept for processes still
using it, older ones are deleted.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
import uuid
from typing import Any

from assistant.errors import IndexUnavailable
from assistant.settings import Settings
from assistant.store.build import Built, compute_build
from assistant.store.chroma import chroma_settings, embedding_function
from assistant.store.index import (
    MARKER,
    Index,
    Stale,
    check_fingerprint,
    collection_name,
    fingerprint,
    read_build,
)

log = logging.getLogger(__name__)

PART_CHARS = 1_000_000
"""Files are stored as documents of at most this many characters (vectors.npz as base64)."""
_PLACEHOLDER = [0.0]
"""The files collection holds files, not text to search; Chroma still wants a vector per record."""


class NotBuilt(IndexUnavailable):
    """The server answers but holds no usable index for these settings: ``ingest`` builds one."""


def where(settings: Settings) -> str:
    return f"{settings.chroma_host}:{settings.chroma_port}"


def _brief(exc: BaseException) -> str:
    """An exception as a short single line, for one-line messages."""
    text = " ".join(str(exc).split())
    return text[:160] or exc.__class__.__name__


def unreachable(settings: Settings, exc: BaseException) -> str:
    return (
        f"The Chroma server at {where(settings)} is not answering ({_brief(exc)}); start it, or check "
        "ASSISTANT_CHROMA_HOST and ASSISTANT_CHROMA_PORT. The next question tries again."
    )


def server_client(settings: Settings) -> Any:
    """A client for the Chroma server in settings; ``IndexUnavailable`` when it does not answer.

    Every network wait is bounded by ``chroma_timeout``, creating the client included: chromadb
    asks the server who the user is before it returns a client, on a session that waits forever,
    so a hung server (up but not answering) is first probed with a bounded heartbeat, and the
    client is made in a worker thread that is given up on after the timeout.
    """
    import chromadb

    headers = {"Authorization": f"Bearer {settings.chroma_token}"} if settings.chroma_token else None
    _heartbeat(settings, headers)

    def make() -> Any:
        return chromadb.HttpClient(
            host=settings.chroma_host,
            port=settings.chroma_port,
            headers=headers,
            settings=chroma_settings(),
        )

    client = _bounded(settings, make)
    _limit_session(client, settings.chroma_timeout)
    return client


def _heartbeat(settings: Settings, headers: dict[str, str] | None) -> None:
    import httpx

    url = f"http://{settings.chroma_host}:{settings.chroma_port}/api/v2/heartbeat"
    try:
        httpx.get(url, headers=headers, timeout=settings.chroma_timeout).raise_for_status()
    except httpx.HTTPError as exc:
        raise IndexUnavailable(unreachable(settings, exc)) from exc


def _bounded(settings: Settings, make: Any) -> Any:
    """``make()`` in a daemon thread, waited for at most ``chroma_timeout`` seconds."""
    done = threading.Event()
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = make()
        except Exception as exc:  # handed to the caller below
            result["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="chroma-connect", daemon=True).start()
    if not done.wait(settings.chroma_timeout):
        raise IndexUnavailable(
            unreachable(settings, TimeoutError(f"no answer in {settings.chroma_timeout:g} s"))
        )
    if "error" in result:
        raise IndexUnavailable(unreachable(settings, result["error"])) from result["error"]
    return result["value"]


def _limit_session(client: Any, seconds: float) -> None:
    """chromadb's HTTP session waits forever by default: bound every later call too."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(seconds)


def _failure(settings: Settings, exc: Exception) -> IndexUnavailable:
    import httpx

    if isinstance(exc, IndexUnavailable):
        return exc
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return IndexUnavailable(unreachable(settings, exc))
    return IndexUnavailable(f"The Chroma server at {where(settings)} failed to answer ({_brief(exc)}).")


def files_collection_name(settings: Settings) -> str:
    return f"{settings.collection_name}-files"


def _files(client: Any, settings: Settings, create: bool = False) -> Any:
    from chromadb.errors import NotFoundError

    name = files_collection_name(settings)
    if create:
        return client.get_or_create_collection(name, embedding_function=None)
    try:
        return client.get_collection(name, embedding_function=None)
    except NotFoundError:
        return None


def _manifests(files: Any, ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Current manifests on the server (of the given digests), newest first."""
    if ids is not None:
        got = files.get(ids=[f"current/{d}" for d in ids], include=["documents"])
    else:
        got = files.get(where={"kind": "manifest"}, include=["documents"])
    found = [json.loads(doc) for doc in got["documents"] or []]
    return sorted(found, key=lambda m: str(m.get("built_at", "")), reverse=True)


def _digest(settings: Settings, expected: dict[str, Any]) -> str:
    return collection_name(settings, expected).rsplit("-", 1)[-1]


def _read_file(files: Any, manifest: dict[str, Any], name: str) -> str:
    got = files.get(
        where={"$and": [{"build": manifest["build"]}, {"file": name}]}, include=["documents", "metadatas"]
    )
    parts = sorted(
        zip(got["metadatas"] or [], got["documents"] or [], strict=True), key=lambda p: p[0]["part"]
    )
    if len(parts) != manifest.get("parts", {}).get(name):
        raise Stale(f"{name} is incomplete on the server")
    return "".join(doc for _, doc in parts)


def load_from_server(settings: Settings, expected: dict[str, Any]) -> Index:
    """The current build for these settings, from the server; nothing is built here."""
    client = server_client(settings)
    digest = _digest(settings, expected)
    try:
        files = _files(client, settings)
        current = _manifests(files, [digest]) if files is not None else []
        if not current:
            raise _missing(settings, files, expected)
        manifest = current[0]
        check_fingerprint(manifest, expected)
        chunks_json = _read_file(files, manifest, "chunks.json")
        vectors = base64.b64decode(_read_file(files, manifest, "vectors.npz"))
        docs, chunks, arrays = read_build(chunks_json, vectors)
        collection = ServerCollection(settings, manifest["collection"], digest, len(chunks))
        count = collection.count()
    except Stale as exc:
        raise NotBuilt(
            f"The index on the Chroma server at {where(settings)} is unusable ({exc}); "
            "run: assistant ingest --force"
        ) from exc
    except Exception as exc:
        raise _failure(settings, exc) from exc
    if count != len(chunks):
        raise NotBuilt(
            f"The index on the Chroma server at {where(settings)} holds {count} chunks, expected "
            f"{len(chunks)}; run: assistant ingest --force"
        )
    cache = settings.index_dir / "server" / f"{digest}-{manifest['build']}"
    with contextlib.suppress(OSError):  # only derived files are cached here; they are optional
        settings.index_dir.mkdir(parents=True, exist_ok=True)
        (settings.index_dir / MARKER).write_text("transatlantic assistant index\n")
    return Index.from_build(
        (docs, chunks, arrays),
        collection=collection,
        manifest=manifest,
        path=cache,
        location=f"chroma://{where(settings)}/{manifest['collection']}",
    )


def _missing(settings: Settings, files: Any, expected: dict[str, Any]) -> NotBuilt:
    others = _manifests(files) if files is not None else []
    if others:
        try:
            check_fingerprint(others[0], expected)
        except Stale as exc:
            return NotBuilt(f"On the Chroma server at {where(settings)}, {exc}; run: assistant ingest")
    return NotBuilt(
        f"The Chroma server at {where(settings)} holds no index yet; run: assistant ingest "
        "(with the same ASSISTANT_CHROMA_HOST and ASSISTANT_CHROMA_PORT)"
    )


def ingest_to_server(settings: Settings, *, force: bool = False, progress: bool = False) -> Index:
    """Build and publish when the server's index is missing or stale (or ``force``); then load it."""
    expected = fingerprint(settings)
    if not force:
        try:
            return load_from_server(settings, expected)
        except NotBuilt:
            pass
    publish(settings, compute_build(settings, progress))
    return load_from_server(settings, expected)


def publish(settings: Settings, built: Built) -> dict[str, Any]:
    """Write a computed build to the server and make it current; returns its manifest."""
    client = server_client(settings)
    digest = _digest(settings, built.fingerprint)
    build = f"{int(time.time())}-{uuid.uuid4().hex[:6]}"
    prefix = collection_name(settings, built.fingerprint)
    name = f"{prefix}-{build}"
    try:
        collection = client.create_collection(
            name,
            embedding_function=embedding_function(settings.embedding_model),
            metadata=built.collection_metadata(),
        )
        built.add_chunks(collection)
        files = _files(client, settings, create=True)
        previous = _manifests(files, [digest])
        contents = {
            "chunks.json": built.chunks_json(),
            "vectors.npz": base64.b64encode(built.vectors_npz()).decode("ascii"),
        }
        parts = {}
        for file, text in contents.items():
            pieces = [text[i : i + PART_CHARS] for i in range(0, len(text), PART_CHARS)] or [""]
            parts[file] = len(pieces)
            files.upsert(
                ids=[f"{build}/{file}/{k}" for k in range(len(pieces))],
                embeddings=[_PLACEHOLDER] * len(pieces),
                documents=pieces,
                metadatas=[
                    {"kind": "file", "build": build, "file": file, "part": k} for k in range(len(pieces))
                ],
            )
        manifest = {**built.manifest(name), "build": build, "parts": parts}
        files.upsert(  # the commit: from here on, app processes load this build
            ids=[f"current/{digest}"],
            embeddings=[_PLACEHOLDER],
            documents=[json.dumps(manifest)],
            metadatas=[{"kind": "manifest", "digest": digest, "build": build}],
        )
    except Exception as exc:
        raise _failure(settings, exc) from exc
    try:  # the build is served from here on; old builds left behind are pruned by the next ingest
        _prune(client, files, prefix, keep={build} | {m["build"] for m in previous})
    except Exception as exc:
        log.warning("Could not delete old builds on the Chroma server: %s", _brief(exc))
    return manifest


def _prune(client: Any, files: Any, prefix: str, keep: set[str]) -> None:
    """Delete this fingerprint's builds other than ``keep`` (and what a failed build left)."""
    for collection in client.list_collections():
        name = collection if isinstance(collection, str) else collection.name
        build = name.removeprefix(f"{prefix}-")
        if name.startswith(f"{prefix}-") and build not in keep:
            client.delete_collection(name)
            files.delete(where={"build": build})


class ServerCollection:
    """The chunk collection on the server, as retrieval uses it (``query``, ``count``, ``get``).

    A call that fails raises a one-line ``IndexUnavailable`` and drops the connection; the next
    call connects again, so an ``Assistant`` recovers by itself when the server comes back. If its
    build was deleted meanwhile (two newer builds of the same settings), it moves to the current
    one: the same settings give the same chunks.
    """

    def __init__(self, settings: Settings, name: str, digest: str, chunks: int) -> None:
        self.settings = settings
        self.name = name
        self.digest = digest
        self.chunks = chunks
        self._collection: Any = None
        self._lock = threading.Lock()

    def query(self, **kwargs: Any) -> Any:
        return self._call("query", **kwargs)

    def get(self, **kwargs: Any) -> Any:
        return self._call("get", **kwargs)

    def count(self) -> int:
        return int(self._call("count"))

    def _call(self, method: str, **kwargs: Any) -> Any:
        from chromadb.errors import NotFoundError

        for attempt in (1, 2):
            try:
                return getattr(self._open(), method)(**kwargs)
            except NotFoundError as exc:  # its build was deleted: once more, on the current build
                self._collection = None
                if attempt == 2:
                    raise _failure(self.settings, exc) from exc
            except Exception as exc:
                self._collection = None
                raise _failure(self.settings, exc) from exc
        raise AssertionError("unreachable")

    def _open(self) -> Any:
        from chromadb.errors import NotFoundError

        with self._lock:
            if self._collection is not None:
                return self._collection
            client = server_client(self.settings)
            function = embedding_function(self.settings.embedding_model)
            try:
                self._collection = client.get_collection(self.name, embedding_function=function)
            except NotFoundError:
                files = _files(client, self.settings)
                current = _manifests(files, [self.digest]) if files is not None else []
                if not current or current[0].get("chunks") != self.chunks:
                    raise IndexUnavailable(
                        f"The index on the Chroma server at {where(self.settings)} was removed or replaced; "
                        "run: assistant ingest, then restart this process"
                    ) from None
                self.name = current[0]["collection"]
                self._collection = client.get_collection(self.name, embedding_function=function)
            return self._collection
