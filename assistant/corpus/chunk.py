"""Blocks -> chunks that fit the embedding window, each inside one document and one section."""

from __future__ import annotations

import re
from collections.abc import Callable

from assistant.corpus.parse import Block, Report
from assistant.types import Chunk, SourceDoc

_ABBREVIATIONS = {
    "u.s",
    "u.k",
    "e.g",
    "i.e",
    "dr",
    "mr",
    "mrs",
    "ms",
    "gen",
    "col",
    "lt",
    "no",
    "nos",
    "st",
    "vs",
    "prof",
    "jr",
    "sr",
    "fig",
    "vol",
    "pp",
    "jan",
    "feb",
    "mar",
    "apr",
    "aug",
    "sept",
    "sep",
    "oct",
    "nov",
    "dec",
    "ph.d",
    "a.m",
    "p.m",
    "approx",
    "u.n",
    "e.u",
    "inc",
    "corp",
}
_BOUNDARY = re.compile(r"(?<=[.!?])[”’\"')\]_*]*\s+(?=[“‘\"'(\[_*]*[A-Z0-9А-Я])")


def split_sentences(text: str) -> list[str]:
    """Split into sentences; every sentence is a verbatim substring of ``text``."""
    spans: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.start()
        before = text[start:end]
        token = re.search(r"([\w.]+)[.!?][”’\"')\]_*]*$", text[: m.start() + (m.end() - m.start())].rstrip())
        word = token.group(1).lower() if token else ""
        if word in _ABBREVIATIONS or re.fullmatch(r"[a-z]", word) or re.fullmatch(r"(?:[a-z]\.)+[a-z]", word):
            continue
        if len(before.strip()) < 3:
            continue
        piece = text[start : m.end()].strip()
        spans.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        spans.append(tail)
    return spans


def header_for(doc: SourceDoc, section: str) -> str:
    """Who said it and where, so retrieval can find a passage by author and publication."""
    who = doc.authors_display or doc.publication or "CSIS"
    if doc.kind == "appendix":
        where = ", ".join(p for p in (doc.publication, doc.date) if p)
        lang = f"{doc.language} source on {doc.area}"
        return f"{who}: {doc.title} ({where}). {lang}."
    if doc.kind == "bio":
        return f"About {doc.title}, contributor to the report."
    title = f"{doc.title}: {doc.subtitle}" if doc.subtitle else doc.title
    part = f" — {section}" if section else ""
    area = f" Chapter on {doc.area}, {doc.focus.lower()}." if doc.kind == "chapter" else ""
    return f"{who}: {title}{part}.{area}"


def build_chunks(
    report: Report, max_tokens: int, target_tokens: int, count: Callable[[str], int]
) -> list[Chunk]:
    """Group consecutive blocks of one (document, section) into chunks within the token budget.

    ``max_tokens`` is the model window (header and special tokens included); ``target_tokens`` the
    report text a chunk aims for. A block longer than the budget is split at sentence boundaries.
    """
    chunks: list[Chunk] = []
    groups: dict[tuple[str, str], list[Block]] = {}
    order: list[tuple[str, str]] = []
    for block in report.blocks:
        key = (block.doc_id, block.section)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(block)
    per_doc: dict[str, int] = {}
    for doc_id, section in order:
        doc = report.docs[doc_id]
        header = header_for(doc, section)
        budget = min(target_tokens, max_tokens - 2 - count(header) - 1)
        if budget < 64:
            raise ValueError(f"Header of {doc_id} leaves too little room: {header!r}")
        for pieces in _pack(groups[(doc_id, section)], budget, count):
            n = per_doc.get(doc_id, 0)
            per_doc[doc_id] = n + 1
            text = "\n\n".join(pieces)
            sentences = tuple(s for p in pieces for s in split_sentences(p))
            chunks.append(
                Chunk(
                    chunk_id=f"{doc_id}/{n:03d}",
                    doc_id=doc_id,
                    section=section,
                    text=text,
                    sentences=sentences,
                    header=header,
                    position=len(chunks),
                )
            )
    return chunks


def _pack(blocks: list[Block], budget: int, count: Callable[[str], int]) -> list[list[str]]:
    units: list[tuple[str, int]] = []
    for block in blocks:
        n = count(block.text)
        if n <= budget:
            units.append((block.text, n))
            continue
        for part in _split_long(block.text, budget, count):
            units.append((part, count(part)))
    packed: list[list[str]] = []
    current: list[str] = []
    used = 0
    for text, n in units:
        if current and used + n + 1 > budget:
            packed.append(current)
            current, used = [], 0
        current.append(text)
        used += n + 1
    if current:
        packed.append(current)
    return packed


def _split_long(text: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """Split one long paragraph into verbatim runs of whole sentences that fit ``budget``."""
    parts: list[str] = []
    current = ""
    for sentence in split_sentences(text):
        candidate = f"{current} {sentence}" if current else sentence
        if current and count(candidate) > budget:
            parts.append(current)
            candidate = sentence
        if count(candidate) > budget:  # a single sentence longer than the window
            words = candidate.split(" ")
            piece = ""
            for word in words:
                trial = f"{piece} {word}" if piece else word
                if piece and count(trial) > budget:
                    parts.append(piece)
                    trial = word
                piece = trial
            candidate = piece
        current = candidate
    if current:
        parts.append(current)
    return parts
