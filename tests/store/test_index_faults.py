"""The index directory under faults: read-only (for a user without write access), damaged in any
of its files, or with a damaged current build and a good previous one. Every state ends in an
index that answers, or in an ``AssistantError`` that says what to do; never another exception."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from assistant.errors import AssistantError, IndexUnavailable
from assistant.settings import Settings
from assistant.store import load_index
from assistant.store.build import build_index

pytestmark = pytest.mark.slow

QUESTION = "What did Xi and Putin announce in February 2022?"
NO_WRITE_ACCESS = ["--bounding-set", "-dac_override,-dac_read_search,-fowner"]
"""For root, setpriv without these capabilities makes permissions apply as to anyone else."""


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(corpus, index directory) of a small build made once; tests damage copies of it."""
    from tests.conftest import REPORT

    lines = REPORT.read_text(encoding="utf-8").split("\n")
    end = next(
        i for i, line in enumerate(lines) if line.startswith("### Sino-Russian Military-Technological")
    )
    base = tmp_path_factory.mktemp("pristine")
    corpus = base / "small.md"
    corpus.write_text("\n".join(lines[:end]), encoding="utf-8")
    index_dir = base / "ix"
    load_index(Settings(index_dir=index_dir, corpus_path=corpus))
    return corpus, index_dir


@pytest.fixture()
def copy(pristine: tuple[Path, Path], tmp_path: Path) -> Iterator[Settings]:
    corpus, index_dir = pristine
    target = tmp_path / "ix"
    shutil.copytree(index_dir, target, symlinks=True)
    yield Settings(index_dir=target, corpus_path=corpus)
    _writable_again(target)


def _build_dir(settings: Settings) -> Path:
    return settings.index_dir / "builds" / (settings.index_dir / "CURRENT").read_text().strip()


def _read_only(path: Path) -> None:
    for root, dirs, files in os.walk(path):
        for name in files:
            os.chmod(Path(root) / name, 0o444)
        os.chmod(root, 0o555)
        for name in dirs:
            os.chmod(Path(root) / name, 0o555)


def _writable_again(path: Path) -> None:
    if path.exists():
        subprocess.run(["chmod", "-R", "u+w", str(path)], check=False)


def _as_reader(args: list[str], settings: Settings, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user who cannot write the index directory."""
    prefix = ["setpriv", *NO_WRITE_ACCESS] if os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "ASSISTANT_INDEX_DIR": str(settings.index_dir),
            "ASSISTANT_CORPUS_PATH": str(settings.corpus_path),
            **env,
        },
    )


@pytest.mark.skipif(shutil.which("setpriv") is None and os.geteuid() == 0, reason="needs setpriv")
def test_a_read_only_index_is_served_as_it_is(copy: Settings) -> None:
    before = sorted(str(p) for p in copy.index_dir.rglob("*"))
    _read_only(copy.index_dir)
    probe = _as_reader(["ask", "--json", QUESTION], copy)
    assert probe.returncode == 0, probe.stderr
    answer = json.loads(probe.stdout)
    assert answer["citations"] and not answer["abstained"]
    assert "Traceback" not in probe.stderr
    info = _as_reader(["info"], copy)
    assert "read-only; Chroma store served from a private copy" in info.stdout and "(current)" in info.stdout
    _writable_again(copy.index_dir)
    assert sorted(str(p) for p in copy.index_dir.rglob("*")) == before  # nothing written into it


@pytest.mark.skipif(shutil.which("setpriv") is None and os.geteuid() == 0, reason="needs setpriv")
def test_a_stale_read_only_index_says_it_cannot_be_rebuilt_and_how_to_fix_it(copy: Settings) -> None:
    _read_only(copy.index_dir)
    out = _as_reader(["ask", QUESTION], copy, ASSISTANT_CHUNK_TARGET_TOKENS="120")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "out of date (chunk_target_tokens changed)" in line
    assert "is read-only, so it cannot be rebuilt here" in line and "ASSISTANT_INDEX_DIR" in line


DAMAGES: dict[str, Callable[[Settings], None]] = {
    "CURRENT not UTF-8": lambda s: (s.index_dir / "CURRENT").write_bytes(b"\xff\xfe\x00build"),
    "CURRENT a directory": lambda s: _replace_with_dir(s.index_dir / "CURRENT"),
    "CURRENT names a path": lambda s: (s.index_dir / "CURRENT").write_text("../../etc"),
    "manifest []": lambda s: (_build_dir(s) / "manifest.json").write_text("[]"),
    "manifest null": lambda s: (_build_dir(s) / "manifest.json").write_text("null"),
    "manifest fingerprint a string": lambda s: (_build_dir(s) / "manifest.json").write_text(
        '{"fingerprint": "x"}'
    ),
    "builds a file": lambda s: _replace_with_file(s.index_dir / "builds"),
    ".lock a directory": lambda s: _replace_with_dir(s.index_dir / ".lock"),
    "vectors truncated": lambda s: _truncate(_build_dir(s) / "vectors.npz"),
    "chunks.json not UTF-8": lambda s: (_build_dir(s) / "chunks.json").write_bytes(b"\xff" * 10),
    "chroma store gone": lambda s: shutil.rmtree(_build_dir(s) / "chroma"),
}


def _replace_with_dir(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    (path / "inner").mkdir(parents=True)


def _replace_with_file(path: Path) -> None:
    shutil.rmtree(path)
    path.write_text("not a directory")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_each_damaged_state_rebuilds(copy: Settings, damage: str) -> None:
    DAMAGES[damage](copy)
    index = load_index(copy)
    assert index.collection.count() == len(index.chunks) > 0
    assert load_index(copy, build=False).path == index.path  # and it is the current build now


def test_a_damaged_build_that_cannot_be_rebuilt_falls_back_to_the_previous_one(copy: Settings) -> None:
    first = _build_dir(copy)
    build_index(copy)  # a second build: the first stays as the previous one
    second = _build_dir(copy)
    assert second != first and first.is_dir()
    assert (copy.index_dir / "PREVIOUS").read_text() == first.name
    (second / "chunks.json").write_text("{damaged")
    _read_only(copy.index_dir)
    probe = _as_reader(["ask", "--json", QUESTION], copy)
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout)["citations"]
    assert f"Serving the previous build {first.name}" in probe.stderr


def test_a_third_build_retires_the_oldest(copy: Settings) -> None:
    first = _build_dir(copy)
    build_index(copy)
    build_index(copy)
    assert not first.exists() and len(list((copy.index_dir / "builds").iterdir())) == 2


# --- property: any damage to any file ends in an index or an AssistantError ------------------
TARGETS = (
    ".transatlantic-index",
    "CURRENT",
    "PREVIOUS",
    "builds",
    "{build}",
    "{build}/manifest.json",
    "{build}/chunks.json",
    "{build}/vectors.npz",
    "{build}/chroma",
    "{build}/chroma/chroma.sqlite3",
    "{build}/derived",
)
JSON_SHAPES = ("[]", "null", "1", '"x"', '{"fingerprint": "x"}', '{"fingerprint": {}}', "{}")


def _damage(settings: Settings, target: str, action: str, data: bytes, shape: str) -> None:
    build = "builds/" + (settings.index_dir / "CURRENT").read_text().strip()
    path = settings.index_dir / target.replace("{build}", build)
    if action == "delete":
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    elif action == "truncate" and path.is_file():
        _truncate(path)
    elif action == "garbage" and not path.is_dir():
        path.write_bytes(data)
    elif action == "directory":
        _replace_with_dir(path)
    elif action == "file":
        if path.is_dir():
            shutil.rmtree(path)
        path.write_bytes(data)
    elif action == "json shape" and not path.is_dir():
        path.write_text(shape)


@hypothesis_settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    damages=st.lists(
        st.tuples(
            st.sampled_from(TARGETS),
            st.sampled_from(("delete", "truncate", "garbage", "directory", "file", "json shape")),
            st.binary(max_size=64),
            st.sampled_from(JSON_SHAPES),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_any_damage_rebuilds_or_is_an_assistant_error(
    pristine: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory, damages: list[tuple]
) -> None:
    corpus, index_dir = pristine
    target = tmp_path_factory.mktemp("damaged") / "ix"
    shutil.copytree(index_dir, target)
    settings = Settings(index_dir=target, corpus_path=corpus)
    for what, action, data, shape in damages:
        # when an earlier step damaged CURRENT, the damage below it cannot be placed
        with contextlib.suppress(OSError, UnicodeDecodeError):
            _damage(settings, what, action, data, shape)
    try:
        index = load_index(settings)
    except AssistantError as exc:
        assert str(exc) and "\n" not in str(exc)
        assert isinstance(exc, IndexUnavailable)
    else:
        assert index.collection.count() == len(index.chunks) > 0
    shutil.rmtree(target.parent, ignore_errors=True)
