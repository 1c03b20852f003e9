"""Where a quotation sits in the report, and the text around it.

A citation's location is the paragraph of ``corpus/`` it comes from (its index among the file's
blank-line separated paragraphs) and the character offsets of the quote in the file. ``around``
gives the paragraph with the quote marked, the paragraphs before and after it, and more to read
on, for the UI's "in context" view, ``Assistant.context`` and ``assistant show``.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import lru_cache

from assistant.types import Chunk, Citation

_BLOCK = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class Paragraphs:
    """The corpus's paragraphs as (start, end) character offsets."""

    spans: tuple[tuple[int, int], ...]
    starts: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "starts", tuple(s for s, _ in self.spans))

    @classmethod
    def of(cls, corpus: str) -> Paragraphs:
        spans, start = [], 0
        for gap in _BLOCK.finditer(corpus):
            if corpus[start : gap.start()].strip():
                spans.append((start, gap.start()))
            start = gap.end()
        if corpus[start:].strip():
            spans.append((start, len(corpus)))
        return cls(tuple(spans))

    def at(self, offset: int) -> int:
        """The index of the paragraph holding ``offset`` (the nearest one before it otherwise)."""
        return max(0, bisect.bisect_right(self.starts, offset) - 1)


@lru_cache(maxsize=4)
def paragraphs(corpus: str) -> Paragraphs:
    return Paragraphs.of(corpus)


def locate(corpus: str, chunk: Chunk, quote: str) -> tuple[int, int, int]:
    """(paragraph index, start, end) of ``quote`` in the corpus, searched from its chunk's place
    (a sentence can occur twice in the report); (-1, -1, -1) when it is not there."""
    anchor = corpus.find(chunk.sentences[0]) if chunk.sentences else -1
    start = corpus.find(quote, max(anchor, 0))
    if start < 0:
        start = corpus.find(quote)
    if start < 0:
        return -1, -1, -1
    return paragraphs(corpus).at(start), start, start + len(quote)


@dataclass
class Context:
    """A quotation in its surroundings."""

    citation: Citation
    section: str
    paragraph: str
    """The paragraph holding the quote, verbatim."""
    mark: tuple[int, int]
    """Where the quote is inside ``paragraph``."""
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    read_on: list[str] = field(default_factory=list)
    """The paragraphs after ``after``, to read on through the document."""

    def format_plain(self) -> str:
        """The passage in context as plain text, the quote between » and «."""
        a, b = self.mark
        marked = f"{self.paragraph[:a]}»{self.paragraph[a:b]}«{self.paragraph[b:]}"
        head = f"[{self.citation.number}] {self.citation.label}"
        lines = [head, f"section: {self.section}" if self.section else "", ""]
        lines += [*(f"{p}\n" for p in self.before), f"{marked}\n", *(f"{p}\n" for p in self.after)]
        return "\n".join(line for line in lines).rstrip() + "\n"


def around(
    corpus: str, citation: Citation, before: int = 1, after: int = 1, read_on: int = 3
) -> Context | None:
    """The paragraphs around a citation's quote; None when the citation has no location."""
    if citation.paragraph < 0 or citation.start < 0:
        return None
    spans = paragraphs(corpus).spans
    k = citation.paragraph
    if not 0 <= k < len(spans):
        return None
    start, end = spans[k]

    def text(lo: int, hi: int) -> list[str]:  # only the paragraphs shown, never the whole report
        return [corpus[s:e].strip("\n") for s, e in spans[max(0, lo) : hi]]

    lead = len(corpus[start:end]) - len(corpus[start:end].lstrip("\n"))
    a = citation.start - start - lead
    return Context(
        citation=citation,
        section=citation.section,
        paragraph=text(k, k + 1)[0],
        mark=(a, a + (citation.end - citation.start)),
        before=text(k - before, k),
        after=text(k + 1, k + 1 + after),
        read_on=text(k + 1 + after, k + 1 + after + read_on),
    )
