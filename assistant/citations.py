"""Citation enforcement: keys in, numbers out, unknown keys dropped, every quote verbatim.

Composers (extractive or generated) write text with evidence keys such as ``[e3]`` and hand
over the evidence each key stands for. ``finalize`` is the only way an ``Answer`` with
citations is made, whatever produced the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .index import Index
from .types import Answer, Citation, citation_fields

_KEY = re.compile(r"\[([A-Za-z0-9_:/#.-]+)\]")


@dataclass(frozen=True)
class Evidence:
    """What a key stands for: a chunk and the verbatim passage that supports the claim."""

    chunk_id: str
    quote: str


def finalize(
    question: str,
    text: str,
    evidence: dict[str, Evidence],
    index: Index,
    corpus: str,
    **extra: object,
) -> Answer:
    """Resolve keys to numbered citations in order of first use; drop anything unverifiable."""
    valid: dict[str, Evidence] = {}
    for key, ev in evidence.items():
        if ev.quote and ev.quote in corpus and _known(index, ev.chunk_id):
            valid[key] = ev
    numbers: dict[str, int] = {}
    citations: list[Citation] = []

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        ev = valid.get(key)
        if ev is None:
            return ""
        if key not in numbers:
            numbers[key] = len(numbers) + 1
            chunk = index.chunk(ev.chunk_id)
            doc = index.docs[chunk.doc_id]
            fields = citation_fields(doc, chunk.section)
            citations.append(Citation(number=numbers[key], chunk_id=ev.chunk_id, quote=ev.quote, **fields))
        return f"[{numbers[key]}]"

    resolved = _KEY.sub(replace, text)
    resolved = re.sub(r"[ \t]+([.,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", resolved)).strip()
    return Answer(question=question, text=resolved, citations=citations, **extra)  # type: ignore[arg-type]


def _known(index: Index, chunk_id: str) -> bool:
    try:
        index.chunk(chunk_id)
    except KeyError:
        return False
    return True


def check(answer: Answer, corpus: str) -> list[str]:
    """Problems with an answer's citations (empty when every marker and quote holds)."""
    problems = []
    numbers = {c.number for c in answer.citations}
    used = [int(n) for n in re.findall(r"\[(\d+)\]", answer.text)]
    for n in used:
        if n not in numbers:
            problems.append(f"marker [{n}] has no citation")
    first_use = list(dict.fromkeys(used))
    if first_use != list(range(1, len(answer.citations) + 1)):
        problems.append(f"citations are not numbered 1..N in order of first use: {first_use}")
    for c in answer.citations:
        if c.quote not in corpus:
            problems.append(f"quote of [{c.number}] is not verbatim in the report")
    if answer.abstained and answer.citations:
        problems.append("an abstention carries citations")
    return problems
