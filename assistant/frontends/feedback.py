"""Feedback on answers, kept in a real database, and exported as draft benchmark questions.

Each record holds the question, the answer's text and citations, the filters, the code version,
the verdict (``up``, ``down``, or ``citation`` for a source marked wrong), the citation numbers
marked wrong and an optional comment. SQLite by default (``Settings.feedback_path``: WAL mode and
a busy timeout, so several server processes on one machine can write at once); any SQLAlchemy
URL (``Settings.feedback_url``, e.g. ``postgresql+pg8000://…``) when several machines serve the UI.

``export`` writes the flagged records (thumbs down, or a citation marked wrong) as JSON lines in
the question-set schema of ``evals/questions.jsonl``, with ``split: "draft"`` and what the user
said, for an evaluator to review and complete into benchmark questions.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from assistant.errors import AssistantError
from assistant.settings import PROJECT_ROOT, Settings
from assistant.types import Answer

Verdict = Literal["up", "down", "citation"]
VERDICTS: tuple[Verdict, ...] = ("up", "down", "citation")
MAX_COMMENT_CHARS = 2000

_metadata = sa.MetaData()
TABLE = sa.Table(
    "feedback",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("citations", sa.Text, nullable=False),
    sa.Column("wrong_citations", sa.Text, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("filters", sa.Text, nullable=False),
    sa.Column("history", sa.Text, nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
)


@dataclass
class Feedback:
    """One user's verdict on one answer."""

    verdict: Verdict
    question: str
    answer: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    wrong_citations: list[int] = field(default_factory=list)
    comment: str = ""
    filters: dict[str, str] = field(default_factory=dict)
    history: list[dict[str, str]] = field(default_factory=list)
    version: str = ""
    created_at: str = ""
    id: int | None = None

    @classmethod
    def of(cls, verdict: Verdict, answer: Answer, **extra: Any) -> Feedback:
        return cls(
            verdict=verdict,
            question=answer.question,
            answer=answer.text,
            citations=[c.to_dict() for c in answer.citations],
            **extra,
        )


def code_version() -> str:
    """The package version and, in a checkout, the commit: what produced the answer."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("transatlantic-assistant")
    except PackageNotFoundError:
        release = "0"
    head = PROJECT_ROOT / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref = (head.parent / ref[5:]).read_text().strip()
        return f"{release}+{ref[:12]}"
    except OSError:
        return release


def database_url(settings: Settings) -> str:
    if settings.feedback_url:
        return settings.feedback_url
    return f"sqlite:///{settings.feedback_path}"


@lru_cache(maxsize=8)
def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _: Any) -> None:  # several writer processes: WAL, and wait
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    for attempt in range(5):  # several processes starting at once may race to create the table
        try:
            _metadata.create_all(engine)
            break
        except sa.exc.DBAPIError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
    return engine


class FeedbackStore:
    """Where feedback goes: ``record`` one, ``flagged`` and ``export`` what needs review."""

    def __init__(self, settings: Settings | None = None, url: str | None = None) -> None:
        self.url = url or database_url(settings or Settings())
        self._lock = threading.Lock()

    @property
    def engine(self) -> sa.Engine:
        try:
            return _engine(self.url)
        except sa.exc.SQLAlchemyError as exc:
            raise AssistantError(f"The feedback database cannot be opened ({_brief(exc)}).") from exc

    def record(self, feedback: Feedback) -> int:
        if feedback.verdict not in VERDICTS:
            raise AssistantError(f"Unknown verdict {feedback.verdict!r}; use one of: {', '.join(VERDICTS)}.")
        row = {
            "created_at": feedback.created_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "verdict": feedback.verdict,
            "question": feedback.question,
            "answer": feedback.answer,
            "citations": json.dumps(feedback.citations, ensure_ascii=False),
            "wrong_citations": json.dumps(sorted(set(feedback.wrong_citations))),
            "comment": feedback.comment.strip()[:MAX_COMMENT_CHARS],
            "filters": json.dumps(feedback.filters, ensure_ascii=False),
            "history": json.dumps(feedback.history, ensure_ascii=False),
            "version": feedback.version or code_version(),
        }
        try:
            with self.engine.begin() as connection:
                result = connection.execute(TABLE.insert().values(**row))
        except sa.exc.SQLAlchemyError as exc:
            raise AssistantError(f"The feedback could not be saved ({_brief(exc)}).") from exc
        key = result.inserted_primary_key
        return int(key[0]) if key else 0

    def all(self) -> Iterator[Feedback]:
        with self.engine.connect() as connection:
            for row in connection.execute(sa.select(TABLE).order_by(TABLE.c.id)):
                yield Feedback(
                    id=row.id,
                    created_at=row.created_at,
                    verdict=row.verdict,
                    question=row.question,
                    answer=row.answer,
                    citations=json.loads(row.citations),
                    wrong_citations=json.loads(row.wrong_citations),
                    comment=row.comment,
                    filters=json.loads(row.filters),
                    history=json.loads(row.history),
                    version=row.version,
                )

    def flagged(self) -> list[Feedback]:
        return [f for f in self.all() if f.verdict in ("down", "citation")]

    def export(self, out: Path) -> int:
        """The flagged feedback as draft question-set items, one JSON object a line; returns how many."""
        items = [draft_item(f) for f in self.flagged()]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
        return len(items)


def draft_item(feedback: Feedback) -> dict[str, Any]:
    """A question-set item to review: the question as asked, with what the answer cited and what
    the user said; gold sources and key facts are left for the evaluator to fill in."""
    wrong = set(feedback.wrong_citations)
    cited = [
        {"authors": c.get("authors", ""), "title": c.get("title", ""), "number": c.get("number")}
        for c in feedback.citations
    ]
    return {
        "id": f"fb{feedback.id:05d}" if feedback.id is not None else "fb",
        "split": "draft",
        "question": feedback.question,
        "type": "fact",
        "answerable": True,
        "history": feedback.history,
        "gold_sources": [],
        "key_facts": [],
        "reference_answer": "",
        "feedback": {
            "verdict": feedback.verdict,
            "comment": feedback.comment,
            "answer": feedback.answer,
            "cited": cited,
            "marked_wrong": [c for c in cited if c["number"] in wrong],
            "filters": feedback.filters,
            "version": feedback.version,
            "created_at": feedback.created_at,
        },
    }


def _brief(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or exc.__class__.__name__
