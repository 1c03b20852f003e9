"""Opening the index from a local directory: the current build, or a rebuild, or the previous
build; a read-only store served from a private copy; sweeping what killed builds left."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from assistant.errors import IndexUnavailable
from assistant.settings import Settings
from assistant.store.build import build_index, locked, pointer, writable
from assistant.store.chroma import embedding_function, local_client
from assistant.store.index import Index, Stale, check_fingerprint, read_build

log = logging.getLogger(__name__)


def load_local(settings: Settings, expected: dict[str, Any], *, build: bool, progress: bool) -> Index:
    """The current build in ``settings.index_dir``: rebuilt when missing or stale (``build``), else the
    previous build, else an ``IndexUnavailable`` that says what to do."""
    index_dir = settings.index_dir
    problem = ""
    try:
        return _open_current(settings, expected)
    except Stale as exc:
        problem = str(exc)
    can_write = writable(index_dir)
    if not build or not can_write:
        previous = _open_previous(settings, expected, problem)
        if previous is not None:
            return previous
        fix = "run: assistant ingest"
        if not can_write:
            fix = (
                f"{index_dir} is read-only, so it cannot be rebuilt here; run `assistant ingest` as a "
                "user who can write it, or set ASSISTANT_INDEX_DIR to a writable directory"
            )
        raise IndexUnavailable(f"The index needs building ({problem}); {fix}.")
    log.warning("Building the index: %s", problem)
    try:
        with locked(index_dir):
            try:  # another process may have built it while we waited for the lock
                return _open_current(settings, expected)
            except Stale:
                pass
            build_index(settings, progress=progress, _locked_already=True)
    except OSError as exc:  # a full disk, say: an older good build is better than nothing
        previous = _open_previous(settings, expected, f"rebuilding failed: {exc.strerror or exc}")
        if previous is None:
            raise
        return previous
    try:
        return _open_current(settings, expected)
    except Stale as exc:
        raise IndexUnavailable(f"The index was rebuilt but cannot be opened: {exc}") from exc


def _open_current(settings: Settings, expected: dict[str, Any]) -> Index:
    index_dir = settings.index_dir
    return open_build(settings, index_dir / "builds" / pointer(index_dir, "CURRENT"), expected)


def _open_previous(settings: Settings, expected: dict[str, Any], problem: str) -> Index | None:
    """The build served before the current one, when it is intact and made from these settings."""
    try:
        build_dir = settings.index_dir / "builds" / pointer(settings.index_dir, "PREVIOUS")
        index = open_build(settings, build_dir, expected)
    except (Stale, OSError):
        return None
    log.warning(
        "Serving the previous build %s: the current one cannot be used (%s) and cannot be rebuilt "
        "here; run: assistant ingest",
        build_dir.name,
        problem,
    )
    return index


def open_build(settings: Settings, build_dir: Path, expected: dict[str, Any]) -> Index:
    try:
        manifest = json.loads((build_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Stale(f"the index manifest is unreadable ({exc.__class__.__name__})") from exc
    fields = {"collection": str, "chunks": int, "built_at": str}
    if not isinstance(manifest, dict) or any(not isinstance(manifest.get(k), t) for k, t in fields.items()):
        raise Stale("the index manifest is damaged")
    check_fingerprint(manifest, expected)
    try:
        chunks_json = (build_dir / "chunks.json").read_text(encoding="utf-8")
        vectors = (build_dir / "vectors.npz").read_bytes()
    except (OSError, UnicodeDecodeError) as exc:
        raise Stale(f"the index files are damaged ({exc.__class__.__name__})") from exc
    build = read_build(chunks_json, vectors)
    if len(build[1]) != manifest["chunks"]:
        raise Stale("the index files disagree with the manifest")
    collection, location = _open_collection(settings, build_dir, manifest, len(build[1]))
    return Index.from_build(
        build, collection=collection, manifest=manifest, path=build_dir, location=location
    )


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
        raise Stale(f"the Chroma store is damaged ({exc.__class__.__name__})") from exc
    if count != n_chunks:
        raise Stale(f"the Chroma collection holds {count} chunks, expected {n_chunks}")
    return collection, location


def _store_writable(store: Path) -> bool:
    if not store.is_dir():
        raise Stale("the Chroma store is missing")
    try:
        with open(store / "chroma.sqlite3", "r+b"):
            pass
    except FileNotFoundError:
        raise Stale("the Chroma store is missing its database") from None
    except OSError:
        return False
    return writable(store)


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


def sweep(settings: Settings) -> list[Path]:
    """Remove what killed builds left in ``builds/`` (``.tmp-*`` directories, builds that never
    became current, builds older than the previous one), under the build lock so no running build
    loses its files. Returns what went;
    a read-only index directory is left as it is."""
    builds = settings.index_dir / "builds"
    removed: list[Path] = []
    try:
        keep = {pointer(settings.index_dir, "CURRENT")}
        with contextlib.suppress(Stale):
            keep.add(pointer(settings.index_dir, "PREVIOUS"))
        with locked(settings.index_dir):
            for path in builds.iterdir():
                if path.name not in keep and path.is_dir():
                    shutil.rmtree(path)
                    removed.append(path)
    except (OSError, Stale) as exc:
        log.info("Not sweeping %s: %s", builds, exc)
    return removed
