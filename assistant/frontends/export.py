"""Answers and their sources in forms to take elsewhere: Markdown with footnotes, a whole
conversation as Markdown, and the cited documents as BibTeX and RIS."""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant.types import Answer, Citation

REPORT = (
    "Broader Transatlantic Security: Understanding the Broader Transatlantic Security Implications "
    "of Greater Sino-Russian Military Alignment"
)
PUBLISHER = "Center for Strategic and International Studies (CSIS)"
_MARKER = re.compile(r"\[(\d+)\]")


def answer_markdown(answer: Answer) -> str:
    """The answer with every ``[n]`` as a footnote holding the full citation and the quote."""
    body = _MARKER.sub(lambda m: f"[^{m.group(1)}]", _escape(answer.text))
    lines = [body]
    if answer.notice:
        lines += ["", f"*Note: {_escape(answer.notice)}*"]
    if answer.citations:
        lines.append("")
        for c in answer.citations:
            where = f", section “{c.section}”" if c.section else ""
            link = f" <{c.url}>" if c.url else ""
            reports = f", reporting {c.reports}" if c.reports else ""
            lines.append(f"[^{c.number}]: {c.label}{where}{reports}{link}. “{c.quote}”")
    return "\n".join(lines)


def conversation_markdown(answers: Iterable[Answer], title: str = "Conversation") -> str:
    """Every question as a heading, its answer under it with footnotes numbered per answer."""
    parts = [f"# {title}", ""]
    for n, answer in enumerate(answers, 1):
        notes = answer_markdown(answer)
        # footnote labels must be unique in one document: prefix them with the turn
        notes = re.sub(r"\[\^(\d+)\]", lambda m, turn=n: f"[^{turn}-{m.group(1)}]", notes)
        parts += [f"## {_escape(answer.question)}", "", notes, ""]
    return "\n".join(parts).rstrip() + "\n"


def cited_documents(answers: Iterable[Answer]) -> list[Citation]:
    """One citation per cited document, in order of first citation."""
    seen: dict[str, Citation] = {}
    for answer in answers:
        for c in answer.citations:
            seen.setdefault(c.doc_id or c.label, c)
    return list(seen.values())


def _year(date: str) -> str:
    found = re.findall(r"(?:19|20)\d\d", date)
    return found[-1] if found else "2022"


def _key(c: Citation, taken: set[str]) -> str:
    surname = re.sub(r"\W", "", (c.authors.split(" and ")[0].split(",")[0].split() or ["csis"])[-1]).lower()
    word = re.sub(r"\W", "", (c.title.split() or ["report"])[0]).lower()
    key = base = f"{surname or 'anon'}{_year(c.date)}{word}"
    n = 1
    while key in taken:
        n += 1
        key = f"{base}{n}"
    taken.add(key)
    return key


def _bib(value: str) -> str:
    return value.replace("\\", "\\\\").replace("{", "\\{").replace("}", "\\}")


def bibtex(citations: Iterable[Citation]) -> str:
    """BibTeX entries: chapters as @incollection in the CSIS report, sources as @misc with their
    publication, original title and link."""
    taken: set[str] = set()
    entries = []
    for c in citations:
        authors = " and ".join(a.strip() for a in re.split(r",\s*|\s+and\s+", c.authors) if a.strip())
        fields = {"author": authors, "title": c.title, "year": _year(c.date)}
        if c.kind in ("chapter", "summary", "bio"):
            kind = "incollection"
            fields |= {"booktitle": REPORT, "publisher": PUBLISHER}
        else:
            kind = "misc"
            fields |= {
                "howpublished": c.publication,
                "note": f"Original title: {c.original_title}; in {REPORT}",
            }
        if c.url:
            fields["url"] = c.url
        body = ",\n".join(f"  {k} = {{{_bib(v)}}}" for k, v in fields.items() if v)
        entries.append(f"@{kind}{{{_key(c, taken)},\n{body}\n}}")
    return "\n\n".join(entries) + ("\n" if entries else "")


def ris(citations: Iterable[Citation]) -> str:
    """RIS records (Zotero, EndNote): chapters as CHAP of the report, sources as GEN."""
    records = []
    for c in citations:
        chapter = c.kind in ("chapter", "summary", "bio")
        lines = [f"TY  - {'CHAP' if chapter else 'GEN'}"]
        lines += [f"AU  - {a.strip()}" for a in re.split(r",\s*|\s+and\s+", c.authors) if a.strip()]
        lines.append(f"TI  - {c.title}")
        if chapter:
            lines += [f"T2  - {REPORT}", f"PB  - {PUBLISHER}"]
        else:
            lines += [f"T2  - {c.publication}"] if c.publication else []
            lines += [f"OP  - {c.original_title}"] if c.original_title else []
        lines.append(f"PY  - {_year(c.date)}")
        if c.date:
            lines.append(f"DA  - {c.date}")
        if c.url:
            lines.append(f"UR  - {c.url}")
        lines.append("ER  - ")
        records.append("\n".join(lines))
    return "\n".join(records) + ("\n" if records else "")


def _escape(text: str) -> str:
    """Plain text that Markdown shows as written (the answer is the report's words, not markup)."""
    return re.sub(r"([\\`*_<>|])", r"\\\1", text)
