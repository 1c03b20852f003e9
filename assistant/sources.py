"""The source browser: the report's chapters and appendix sources with their bibliographic data,
filtered like answers are, as records (for JSON and the UI) or as a plain-text table (the CLI)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from assistant.report import AREAS
from assistant.retrieve import Filters
from assistant.types import SourceDoc

LISTED_KINDS: tuple[str, ...] = ("chapter", "appendix")
"""What the browser lists unless a ``kind`` filter asks for the summary or the bios."""
SHORT_AREAS: dict[str, str] = dict(zip(AREAS, ("arms sales", "exercises", "space", "hybrid"), strict=True))


def list_sources(docs: Iterable[SourceDoc], filters: Filters) -> list[SourceDoc]:
    """Chapters and appendix sources (or the ``kind`` asked for) that pass ``filters``, in report order."""
    kinds = (filters.kind,) if filters.kind else LISTED_KINDS
    return [d for d in docs if d.kind in kinds and filters.allows(d)]


def source_record(doc: SourceDoc) -> dict[str, Any]:
    """Everything the browser shows about one source, JSON-serialisable."""
    return {
        "doc_id": doc.doc_id,
        "kind": doc.kind,
        "perspective": doc.perspective,
        "authors": list(doc.authors),
        "title": doc.title,
        "subtitle": doc.subtitle,
        "original_title": doc.original_title,
        "publication": doc.publication,
        "date": doc.date,
        "language": doc.language,
        "area": doc.area,
        "analyses": doc.focus,
        "url": doc.url,
        "label": doc.label(),
    }


_KIND_NAMES: dict[str, tuple[str, str]] = {
    "chapter": ("chapter", "chapters"),
    "appendix": ("appendix source", "appendix sources"),
    "bio": ("biography", "biographies"),
    "summary": ("summary part", "summary parts"),
}
_COLUMNS: tuple[tuple[str, int], ...] = (
    # heading, the widest a cell may be when the table must fit a terminal (0: never cut)
    ("PERSPECTIVE", 0),
    ("AREA", 0),
    ("DATE", 0),
    ("AUTHORS", 34),
    ("TITLE", 48),
    ("PUBLICATION", 28),
    ("ID", 0),
)


def _cells(doc: SourceDoc) -> list[str]:
    perspective = doc.perspective.split()[0] if doc.kind in ("appendix", "chapter") else doc.kind
    return [
        perspective,
        SHORT_AREAS.get(doc.area, doc.area or "—"),
        doc.date or "—",
        doc.authors_display or "(no author)",
        f"{doc.title}: {doc.subtitle}" if doc.subtitle else doc.title,
        doc.publication or ("CSIS report" if doc.kind == "chapter" else "—"),
        doc.doc_id,
    ]


def format_table(docs: list[SourceDoc], width: int | None = None) -> str:
    """An aligned plain-text table; with ``width`` (a terminal's), long cells are cut with '…'."""
    if not docs:
        return "No sources match these filters."
    rows = [[h for h, _ in _COLUMNS], *(_cells(d) for d in docs)]
    if width is not None:
        for row in rows[1:]:
            for i, (_, limit) in enumerate(_COLUMNS):
                if limit and len(row[i]) > limit:
                    row[i] = row[i][: limit - 1] + "…"
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    counts = {kind: sum(d.kind == kind for d in docs) for kind in dict.fromkeys(d.kind for d in docs)}
    tally = ", ".join(f"{n} {_KIND_NAMES.get(kind, (kind, kind))[n != 1]}" for kind, n in counts.items())
    lines += ["", f"{tally}. With --json: every field, original titles and links included."]
    return "\n".join(lines)
