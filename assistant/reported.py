"""Two-level attribution: a chapter passage that reports one of the translated sources.

The Western chapters often quote or paraphrase the appendix's authors ("According to Bartosh, …",
"Yermakov notes that …"). A citation of such a passage names both: who wrote it (the chapter's
author) and whom it reports, with that source's entry in the appendix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.store.index import Index
from assistant.text import fold, terms
from assistant.types import SourceDoc


@dataclass(frozen=True)
class _Author:
    name: str
    pattern: re.Pattern[str]
    docs: tuple[str, ...]


@dataclass
class _Tables:
    index: object
    authors: list[_Author]
    words: dict[str, set[str]]


_TABLES: list[_Tables] = []
"""For the few indexes a process opens: the appendix's authors and each document's words."""
_KEEP = 4


def _name_pattern(person: str, language: str) -> re.Pattern[str]:
    """How a chapter names an appendix author: the surname alone for Russian (and other) names
    ("Bartosh", "V. Kashin"), the full name for Chinese ones, whose surnames are short and common."""
    words = re.findall(r"[\w’'-]+", fold(person))
    name = " ".join(words) if language == "Chinese" else words[-1]
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")


def _tables(index: Index) -> _Tables:
    for tables in _TABLES:
        if tables.index is index:
            return tables
    by_name: dict[tuple[str, str], list[str]] = {}
    for doc in index.docs.values():
        if doc.kind == "appendix":
            for person in doc.authors:
                by_name.setdefault((person, doc.language), []).append(doc.doc_id)
    authors = [
        _Author(person, _name_pattern(person, language), tuple(docs))
        for (person, language), docs in by_name.items()
        if len(person.split()) > 1
    ]
    words: dict[str, set[str]] = {}
    for chunk in index.chunks:
        words.setdefault(chunk.doc_id, set()).update(terms(chunk.text))
    tables = _Tables(index, authors, words)
    _TABLES.insert(0, tables)
    del _TABLES[_KEEP:]
    return tables


def reported_source(index: Index, doc: SourceDoc, quote: str) -> SourceDoc | None:
    """The appendix source a chapter (or the executive summary) passage reports, when the
    passage names one of the appendix's authors; of several documents by that author, the one
    whose text shares most words with the passage. None for other passages."""
    if doc.kind != "chapter" and doc.doc_id != "summary":
        return None
    tables = _tables(index)
    text = fold(quote)
    named = [a for a in tables.authors if a.pattern.search(text)]
    if not named:
        return None
    author = min(named, key=lambda a: a.pattern.search(text).start())  # type: ignore[union-attr]
    if len(author.docs) == 1:
        return index.docs[author.docs[0]]
    words = set(terms(quote))
    return index.docs[max(author.docs, key=lambda d: len(words & tables.words.get(d, set())))]
