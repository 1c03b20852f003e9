"""The index store: one place that chooses a local directory or a Chroma server.

``load_index`` opens the index the way every question sees it, ``ingest`` builds it when needed,
``open_client`` gives the Chroma client of either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.errors import AssistantError, IndexUnavailable
from assistant.settings import Settings
from assistant.store.build import build_index, check_owned
from assistant.store.chroma import local_client
from assistant.store.index import Index, fingerprint
from assistant.store.local import load_local, sweep
from assistant.store.server import ingest_to_server, load_from_server, server_client

__all__ = ["Index", "ingest", "load_index", "open_client"]


def load_index(settings: Settings, *, build: bool = True, progress: bool = False) -> Index:
    """Open the current build; build it first if it is missing, stale or unreadable.

    On a Chroma server nothing is built here (several app processes starting at once must not
    each build): a missing or stale server index is an ``IndexUnavailable`` naming ``ingest``.
    Whatever state the index directory is in, the result is an index or an ``AssistantError``.
    """
    try:
        check_owned(settings.index_dir)
        expected = fingerprint(settings)
        if settings.chroma_host:
            return load_from_server(settings, expected)
        return load_local(settings, expected, build=build, progress=progress)
    except AssistantError:
        raise
    except OSError as exc:
        raise IndexUnavailable(
            f"The index directory {settings.index_dir} cannot be used ({exc.__class__.__name__}: "
            f"{exc.strerror or exc}); fix its permissions or remove it to rebuild, or set "
            "ASSISTANT_INDEX_DIR to another directory."
        ) from exc


def ingest(settings: Settings, *, force: bool = False, progress: bool = False) -> Index:
    """What ``assistant ingest`` does: build when the index is missing or stale (or ``force``),
    locally or on the Chroma server, then open it."""
    if settings.chroma_host:
        return ingest_to_server(settings, force=force, progress=progress)
    if force:
        build_index(settings, progress=progress)
    index = load_index(settings, progress=progress)
    sweep(settings)
    return index


def open_client(settings: Settings, path: Path | None) -> Any:
    """A Chroma client: the server named in settings, or the local store at ``path``."""
    if settings.chroma_host:
        return server_client(settings)
    assert path is not None
    return local_client(path)
