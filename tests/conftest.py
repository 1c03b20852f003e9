"""Shared fixtures: one real index over the real report, built once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.report import REPORT_FILE
from assistant.settings import PROJECT_ROOT, Settings

REPORT = PROJECT_ROOT / "corpus" / REPORT_FILE


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reuse = os.environ.get("ASSISTANT_TEST_INDEX_DIR")  # for quick local runs; CI builds afresh
    return Path(reuse) if reuse else tmp_path_factory.mktemp("index")


@pytest.fixture(scope="session")
def settings(index_dir: Path) -> Settings:
    return Settings(index_dir=index_dir)


@pytest.fixture(scope="session")
def bot(settings: Settings):  # type: ignore[no-untyped-def]
    from assistant import Assistant

    return Assistant(settings).load()


@pytest.fixture(scope="session")
def corpus_text() -> str:
    return REPORT.read_text(encoding="utf-8")


@pytest.fixture()
def small_corpus(tmp_path: Path) -> Iterator[Path]:
    """The report's first chapters only: index mechanics tests build it in seconds."""
    lines = REPORT.read_text(encoding="utf-8").split("\n")
    end = next(
        i for i, line in enumerate(lines) if line.startswith("### Sino-Russian Military-Technological")
    )
    path = tmp_path / "small.md"
    path.write_text("\n".join(lines[:end]), encoding="utf-8")
    yield path


_INDEX_FIXTURES = frozenset({"bot", "index_dir", "settings"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the real index are in the slow tier, whatever their module says: the fast
    tier (``pytest -m "not slow"``) never builds an index."""
    for item in items:
        if _INDEX_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
