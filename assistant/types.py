"""Shared types used by every stage: source documents, chunks, passages, citations, answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["summary", "chapter", "appendix", "bio"]


@dataclass(frozen=True)
class SourceDoc:
    """One citable unit of the report: the summary, a chapter, an appendix source or a bio."""

    doc_id: str
    kind: Kind
    title: str
    authors: tuple[str, ...] = ()
    subtitle: str = ""
    original_title: str = ""
    publication: str = ""
    date: str = ""
    url: str = ""
    language: str = "English"
    area: str = ""
    focus: str = ""
    notes: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    byline: str = ""
    """Verbatim line of the report that names the authors (chapter byline or citation line)."""
    imprint: str = ""
    """Where and when a source appeared, as the report prints it ("Teaching and Research Journal,
    2022, original version 2019")."""

    @property
    def authors_display(self) -> str:
        return join_names(self.authors)

    @property
    def perspective(self) -> str:
        """Russian sources, Chinese sources, or Western analysis (chapters, summary, bios)."""
        if self.kind == "appendix":
            return f"{self.language} sources"
        return "Western analysis"

    def label(self) -> str:
        """Human-readable citation: who said it and where."""
        parts = [self.authors_display] if self.authors else []
        title = f"*{self.title}*"
        if self.kind == "chapter" and self.subtitle:
            title = f"*{self.title}: {self.subtitle}*"
        if self.kind == "bio":
            return f"Contributor biography of {self.title}, in CSIS, *Broader Transatlantic Security* (2022)"
        parts.append(title)
        if self.kind == "appendix":
            parts += [p for p in (self.publication, self.date) if p]
        else:
            parts.append("in CSIS, *Broader Transatlantic Security* (2022)")
        return ", ".join(parts)


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage: verbatim report text inside one document and one section."""

    chunk_id: str
    doc_id: str
    section: str
    text: str
    """Verbatim report text; paragraphs joined by blank lines."""
    sentences: tuple[str, ...]
    """Sentences of ``text``; each occurs verbatim in the report."""
    header: str
    """Who/where context prepended for embedding and lexical search."""
    position: int

    @property
    def embed_text(self) -> str:
        return f"{self.header}\n{self.text}"


@dataclass
class Passage:
    """A ranked search result."""

    chunk: Chunk
    doc: SourceDoc
    score: float
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "chunk_id": self.chunk.chunk_id,
            "text": self.chunk.text,
            **citation_fields(self.doc, self.chunk.section),
        }


@dataclass
class Citation:
    """One numbered reference: the verbatim quote and who said it where."""

    number: int
    chunk_id: str
    kind: str
    authors: str
    title: str
    original_title: str
    publication: str
    date: str
    url: str
    language: str
    area: str
    section: str
    quote: str
    doc_id: str = ""
    perspective: str = ""
    label: str = ""
    paragraph: int = -1
    """Where the quote is in ``corpus/``: the index of its paragraph among the file's paragraphs
    (blank-line separated), and its character offsets ``start``–``end`` in the file (-1: unknown)."""
    start: int = -1
    end: int = -1
    reports: str = ""
    """Two-level attribution: when a chapter's passage reports one of the translated sources
    ("According to Bartosh, …"), that source's label (its author, title, publication and date);
    ``authors`` and ``title`` stay those of the chapter that wrote the passage."""
    reports_doc_id: str = ""

    @property
    def attribution(self) -> str:
        """Who said it where, at both levels: 'Alexandr Bartosh, *…*, reported in Katri
        Pynnöniemi, *The Global Hybrid War …*', or the label alone."""
        return f"{self.reports}, reported in {self.label}" if self.reports else self.label

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Section:
    """One labelled part of a comparison answer: what one perspective's documents say."""

    label: str
    """'Russian sources', 'Chinese sources' or 'Western analysis'."""
    text: str
    """The part's text without its label, with ``[n]`` markers numbered across the whole answer."""
    citations: list[int] = field(default_factory=list)
    """Numbers of the answer's citations this part uses, in order of first use."""
    abstained: bool = False
    """True when this perspective's documents do not address the question."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    """What ``Assistant.ask`` returns, whatever front end asked."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    related: list[Passage] = field(default_factory=list)
    notice: str = ""
    mode: str = "extractive"
    sections: list[Section] = field(default_factory=list)
    """Set on comparison answers: one part per perspective, in the order of ``text``."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "text": self.text,
            "abstained": self.abstained,
            "mode": self.mode,
            "notice": self.notice,
            "citations": [c.to_dict() for c in self.citations],
            "related": [p.to_dict() for p in self.related],
            "sections": [s.to_dict() for s in self.sections],
        }

    def format_plain(self) -> str:
        """The answer followed by its numbered source list, as plain text."""
        lines = [self.text]
        if self.notice:
            lines += ["", f"Note: {self.notice}"]
        if self.citations:
            lines += ["", "Sources:"]
            for c in self.citations:
                lines.append(f"[{c.number}] {c.label}" + (f" <{c.url}>" if c.url else ""))
                if c.reports:
                    lines.append(f"    reporting: {c.reports}")
                if c.section:
                    lines.append(f"    section: {c.section}")
                lines.append(f"    “{c.quote}”")
        if self.related:
            lines += ["", "Related reading (not cited):"]
            for p in self.related:
                lines.append(f"- {p.doc.label()} — {p.chunk.section}")
        return "\n".join(lines)


def in_perspective(doc: SourceDoc, perspective: str) -> bool:
    """Whether a document speaks for a perspective when perspectives are compared: an appendix
    source in that language, or for Western analysis a chapter or the executive summary (never
    the report's overview, appendix note or bios)."""
    if perspective == "Western analysis":
        return doc.kind == "chapter" or doc.doc_id == "summary"
    return doc.kind == "appendix" and doc.perspective == perspective


def join_names(names: tuple[str, ...] | list[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def citation_fields(doc: SourceDoc, section: str) -> dict[str, Any]:
    return {
        "doc_id": doc.doc_id,
        "kind": doc.kind,
        "authors": doc.authors_display,
        "title": doc.title,
        "original_title": doc.original_title,
        "publication": doc.publication,
        "date": doc.date,
        "url": doc.url,
        "language": doc.language,
        "area": doc.area,
        "section": section,
        "perspective": doc.perspective,
        "label": doc.label(),
    }


@dataclass(frozen=True)
class Evidence:
    """What a key stands for: a chunk and the verbatim passage that supports the claim."""

    chunk_id: str
    quote: str


@dataclass
class Draft:
    """Text with evidence keys, ready for ``citations.finalize``."""

    text: str
    evidence: dict[str, Evidence] = field(default_factory=dict)
    abstained: bool = False
    related: list[Passage] = field(default_factory=list)


@dataclass
class Scored:
    chunk_index: int
    slot: int
    sentence: str
    score: float
    dense: float
    lexical: float
