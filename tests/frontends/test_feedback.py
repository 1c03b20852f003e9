"""Feedback storage (SQLite with several writer processes, and a real PostgreSQL server), its
export as draft question-set items, and the exports of answers (Markdown, BibTeX, RIS)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.frontends.feedback import Feedback, FeedbackStore, draft_item
from assistant.settings import Settings
from assistant.types import Answer, Citation
from tests.samples import sample_citation
from tests.ui_browser import free_port

WRITERS = 4
EACH = 25


def _citation(number: int, **overrides: str) -> Citation:
    fields = {"title": "Armed Friendship: How Russia and China Trade Arms", **overrides}
    return sample_citation(number=number, **fields)


ANSWER = Answer(
    question="What did Russia agree to sell China in 2015?",
    text="Russia agreed to sell the S-400. [1] It also sold Su-35 jets. [2]",
    citations=[
        _citation(1),
        _citation(
            2,
            kind="chapter",
            doc_id="ch2",
            authors="Paul Schwartz",
            title="Russia-China Joint Military Exercises",
            quote="It also sold Su-35 jets.",
            label="Paul Schwartz, *Russia-China Joint Military Exercises*",
            url="",
            date="2022",
        ),
    ],
)


def test_feedback_round_trip_and_export_as_draft_items(tmp_path: Path) -> None:
    store = FeedbackStore(Settings(feedback_path=tmp_path / "fb.sqlite3"))
    store.record(Feedback.of("up", ANSWER))
    store.record(
        Feedback.of(
            "citation",
            ANSWER,
            wrong_citations=[2],
            comment=" the jets are wrong ",
            filters={"area": "arms sales and technology transfer"},
        )
    )
    store.record(Feedback.of("down", ANSWER, history=[{"role": "user", "content": "Earlier?"}]))
    records = list(store.all())
    assert [r.verdict for r in records] == ["up", "citation", "down"]
    assert records[1].comment == "the jets are wrong" and records[1].wrong_citations == [2]
    assert records[1].citations[1]["title"] == "Russia-China Joint Military Exercises"
    assert all(r.version for r in records)
    out = tmp_path / "drafts.jsonl"
    assert store.export(out) == 2  # the thumbs-up is not flagged
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert first["split"] == "draft" and first["question"] == ANSWER.question
    assert first["feedback"]["marked_wrong"] == [
        {"authors": "Paul Schwartz", "title": "Russia-China Joint Military Exercises", "number": 2}
    ]
    assert second["history"] == [{"role": "user", "content": "Earlier?"}]
    assert set(first) >= {"id", "question", "type", "answerable", "history", "gold_sources", "key_facts"}


def test_an_unknown_verdict_is_refused(tmp_path: Path) -> None:
    from assistant.errors import AssistantError

    store = FeedbackStore(Settings(feedback_path=tmp_path / "fb.sqlite3"))
    with pytest.raises(AssistantError, match="Unknown verdict"):
        store.record(Feedback(verdict="meh", question="q", answer="a"))  # type: ignore[arg-type]


_WRITER = """
import sys
from assistant.frontends.feedback import Feedback, FeedbackStore
store = FeedbackStore(url=sys.argv[1])
for n in range(int(sys.argv[3])):
    store.record(Feedback(verdict="down", question=f"writer {sys.argv[2]} question {n}", answer="a"))
"""


def _writers(url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, str(w), str(EACH)], stderr=subprocess.PIPE, text=True
        )
        for w in range(WRITERS)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * WRITERS, errors


@pytest.mark.slow
def test_several_writer_processes_on_sqlite_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fb.sqlite3'}"
    _writers(url)
    questions = [f.question for f in FeedbackStore(url=url).all()]
    assert len(questions) == len(set(questions)) == WRITERS * EACH


# --- a real PostgreSQL server on 127.0.0.1 -----------------------------------------------------
def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return str(versions[0] / name) if versions and (versions[0] / name).exists() else None


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`initdb` and `pg_ctl start` in a temporary directory, as an unprivileged user when run as
    root (PostgreSQL refuses root); yields a SQLAlchemy URL."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL is not installed (make test installs it)")
    pytest.importorskip("pg8000")
    # not under pytest's own temporary directory: that is private to this user
    base = Path(tempfile.mkdtemp(prefix="assistant-pg-"))
    data, port = base / "data", free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:
        os.chmod(base, 0o777)
        prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    env = {**os.environ, "HOME": str(base), "LC_ALL": "C"}
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", "assistant", "--auth=trust", "-E", "UTF8", "--locale=C"],
        check=True,
        capture_output=True,
        env=env,
    )
    log = base / "pg.log"
    options = f"-h 127.0.0.1 -p {port} -k {base}"
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        url = f"postgresql+pg8000://assistant@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 30
        while True:
            try:
                FeedbackStore(url=url).engine  # noqa: B018  (connects and creates the table)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield url
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True, env=env)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_feedback_on_a_real_postgresql_server(postgres: str, tmp_path: Path) -> None:
    _writers(postgres)
    store = FeedbackStore(url=postgres)
    store.record(Feedback.of("citation", ANSWER, wrong_citations=[1], comment="not this source"))
    records = list(store.all())
    assert len({r.question for r in records if r.question.startswith("writer")}) == WRITERS * EACH
    assert (
        records[-1].wrong_citations == [1] and records[-1].citations[0]["quote"] == ANSWER.citations[0].quote
    )
    out = tmp_path / "drafts.jsonl"
    assert store.export(out) == WRITERS * EACH + 1
    assert json.loads(out.read_text().splitlines()[-1])["feedback"]["comment"] == "not this source"


# --- exports ---------------------------------------------------------------------------------
def test_markdown_with_footnotes_bibtex_and_ris() -> None:
    from assistant.frontends.export import (
        answer_markdown,
        bibtex,
        cited_documents,
        conversation_markdown,
        ris,
    )

    md = answer_markdown(ANSWER)
    assert md.startswith("Russia agreed to sell the S-400. [^1] It also sold Su-35 jets. [^2]")
    assert (
        "[^1]: Alexander Gabuev and Vasily Kashin, *Armed Friendship*, Carnegie Moscow Center, November 2, 2017, "
        "section “Excerpts” <https://carnegieendowment.org/files/CP_Gabuev_Kashin_web.pdf>. "
        "“Russia agreed to sell the S-400.”"
    ) in md
    whole = conversation_markdown([ANSWER, ANSWER], "Talk")
    assert whole.startswith("# Talk\n\n## What did Russia agree to sell China in 2015?")
    assert "[^1-1]:" in whole and "[^2-1]:" in whole and "[^1]" not in whole
    documents = cited_documents([ANSWER, ANSWER])
    assert [c.doc_id for c in documents] == ["a1", "ch2"]
    bib = bibtex(documents)
    assert "@misc{gabuev2017armed," in bib and "author = {Alexander Gabuev and Vasily Kashin}" in bib
    assert (
        "@incollection{schwartz2022russiachina," in bib
        and "booktitle = {Broader Transatlantic Security" in bib
    )
    records = ris(documents)
    assert records.count("TY  - ") == 2 and records.count("ER  - ") == 2
    assert "AU  - Alexander Gabuev\nAU  - Vasily Kashin" in records and "TY  - CHAP" in records


def test_draft_items_carry_what_the_user_said() -> None:
    item = draft_item(Feedback(verdict="down", question="Q?", answer="A", comment="missing the date", id=7))
    assert item["id"] == "fb00007" and item["feedback"]["comment"] == "missing the date"
    assert item["gold_sources"] == [] and item["key_facts"] == []
