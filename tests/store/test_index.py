"""Index lifecycle on a real Chroma store: build, reuse, stale, damaged, foreign, interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.errors import IndexUnavailable
from assistant.settings import Settings
from assistant.store import load_index
from assistant.store.build import build_index
from assistant.store.index import MARKER

pytestmark = pytest.mark.slow


def _current(settings: Settings) -> str:
    return (settings.index_dir / "CURRENT").read_text().strip()


def test_builds_on_first_use_and_records_what_it_was_built_from(tmp_path: Path, small_corpus: Path) -> None:
    settings = Settings(index_dir=tmp_path / "ix", corpus_path=small_corpus)
    index = load_index(settings)
    manifest = json.loads((index.path / "manifest.json").read_text())
    fp = manifest["fingerprint"]
    assert fp["embedding_model"] == "all-MiniLM-L6-v2"
    assert fp["model_max_tokens"] == 256 and fp["chunk_target_tokens"] == 200
    assert len(fp["corpus_sha256"]) == 64
    assert index.collection.count() == len(index.chunks) == manifest["chunks"]
    # opening again reuses the build
    name = _current(settings)
    assert load_index(settings).path == index.path and _current(settings) == name


def test_rebuilds_when_corpus_or_chunking_changes(tmp_path: Path, small_corpus: Path) -> None:
    settings = Settings(index_dir=tmp_path / "ix", corpus_path=small_corpus)
    first = load_index(settings).path
    small_corpus.write_text(
        small_corpus.read_text(encoding="utf-8") + "\nA new closing paragraph.\n", encoding="utf-8"
    )
    second = load_index(settings)
    assert second.path != first and first.exists()  # kept as the previous build
    assert any("A new closing paragraph." in c.text for c in second.chunks)
    rechunked = load_index(
        Settings(index_dir=tmp_path / "ix", corpus_path=small_corpus, chunk_target_tokens=120)
    )
    assert rechunked.path != second.path and second.path.exists() and not first.exists()
    assert rechunked.manifest["fingerprint"]["chunk_target_tokens"] == 120


def test_refuses_to_build_when_told_not_to(tmp_path: Path, small_corpus: Path) -> None:
    settings = Settings(index_dir=tmp_path / "ix", corpus_path=small_corpus)
    with pytest.raises(IndexUnavailable, match="assistant ingest"):
        load_index(settings, build=False)


@pytest.mark.parametrize("damage", ["chunks", "vectors", "chroma", "manifest", "current"])
def test_damaged_index_is_rebuilt(tmp_path: Path, small_corpus: Path, damage: str) -> None:
    settings = Settings(index_dir=tmp_path / "ix", corpus_path=small_corpus)
    path = load_index(settings).path
    if damage == "chunks":
        (path / "chunks.json").write_text("{not json")
    elif damage == "vectors":
        (path / "vectors.npz").write_bytes(b"garbage")
    elif damage == "chroma":
        for f in (path / "chroma").rglob("*"):
            if f.is_file():
                f.write_bytes(b"\0" * 64)
    elif damage == "manifest":
        (path / "manifest.json").unlink()
    else:
        (settings.index_dir / "CURRENT").write_text("no-such-build")
    index = load_index(settings)
    assert index.collection.count() == len(index.chunks) > 0


def test_deleted_index_is_rebuilt(tmp_path: Path, small_corpus: Path) -> None:
    import shutil

    settings = Settings(index_dir=tmp_path / "ix", corpus_path=small_corpus)
    load_index(settings)
    shutil.rmtree(settings.index_dir)
    assert load_index(settings).collection.count() > 0


def test_foreign_directory_is_refused(tmp_path: Path, small_corpus: Path) -> None:
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(IndexUnavailable, match="not an index made by this assistant"):
        load_index(Settings(index_dir=foreign, corpus_path=small_corpus))
    assert (foreign / "holiday.jpg").exists() and not (foreign / MARKER).exists()


def test_killed_build_leaves_previous_index_serving(tmp_path: Path, small_corpus: Path) -> None:
    """A build killed mid-way (SIGKILL) never replaces the build being served."""
    settings = Settings(index_dir=tmp_path / "ix", corpus_path=small_corpus)
    served = load_index(settings).path
    changed = tmp_path / "changed.md"
    changed.write_text(small_corpus.read_text(encoding="utf-8") * 3, encoding="utf-8")
    env = {
        **os.environ,
        "ASSISTANT_INDEX_DIR": str(settings.index_dir),
        "ASSISTANT_CORPUS_PATH": str(changed),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", "from assistant.frontends.cli import main; main(['ingest'])"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until the build is well under way
        if proc.stderr and b"Embedding the report" in proc.stderr.read1(4096):
            break
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _current(settings) == served.name
    again = load_index(settings, build=False)  # the old corpus: still current, nothing to build
    assert again.path == served and again.collection.count() == len(again.chunks)
    # the next real build cleans up the half-written directory
    build_index(Settings(index_dir=settings.index_dir, corpus_path=changed))
    assert not list((settings.index_dir / "builds").glob(".tmp-*"))


def test_derived_files_are_cached_beside_the_build_and_recomputed_when_damaged(
    tmp_path: Path, small_corpus: Path
) -> None:
    from assistant.retrieve import Engine

    settings = Settings(index_dir=tmp_path / "ix", corpus_path=small_corpus)
    index = load_index(settings)
    first = Engine(index, settings)
    cached = sorted(p.name.split("-")[0] for p in (index.path / "derived").glob("*.pickle"))
    assert cached == ["catalog", "facts", "lexical"]
    for path in (index.path / "derived").glob("*.pickle"):
        path.write_bytes(b"not a pickle")
    again = Engine(load_index(settings), settings)
    assert again.lexical.idf("russia") == first.lexical.idf("russia") > 0
    assert again.catalog.names == first.catalog.names
    assert again.facts.sentences == first.facts.sentences and again.facts.vocabulary


def test_ingest_sweeps_what_killed_builds_left(tmp_path: Path, small_corpus: Path) -> None:
    from assistant.store import ingest

    settings = Settings(index_dir=tmp_path / "ix", corpus_path=small_corpus)
    served = load_index(settings).path
    builds = settings.index_dir / "builds"
    (builds / ".tmp-killed" / "chroma").mkdir(parents=True)
    (builds / "orphan-1234").mkdir()
    (builds / "orphan-1234" / "vectors.npz").write_bytes(b"x" * 1000)
    index = ingest(settings)  # the index is current: nothing to build, but the leftovers go
    assert index.path == served and sorted(p.name for p in builds.iterdir()) == [served.name]
