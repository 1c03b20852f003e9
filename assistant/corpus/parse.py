"""Parse the report's Markdown into source documents with citation metadata and text blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from assistant.errors import CorpusError
from assistant.report import AREA_KEYWORDS, AREAS
from assistant.types import SourceDoc

_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DATE = re.compile(rf"(?:{_MONTH}(?: \d{{1,2}},)? )?(?:19|20)\d{{2}}")
_CITATION = re.compile(r"^(?P<lead>.*?)\s*\[\[(?P<bib>.+)\]\((?P<url>[^)\s]+)\)\]\.?\s*$")
_BIO = re.compile(r"^__(?P<name>[^_]+)__ (?P<rest>.+)$")
_SUBTITLE = re.compile(r"^__(?P<text>[^_]+)__\s*$")
_CAPS_HEADING = re.compile(r"^[A-Z][A-Z ,:’'\-]{10,}$")
_EDITOR_NOTE = re.compile(r"^Editor’s [Nn]ote:")
_APPENDIX_GROUP = re.compile(r"^(?P<lang>Russian|Chinese) Documents on (?P<topic>.+)$")


@dataclass(frozen=True)
class Block:
    """A paragraph, bullet, quotation, caption or table of the report, verbatim."""

    doc_id: str
    section: str
    text: str
    line: int


@dataclass
class Report:
    docs: dict[str, SourceDoc]
    blocks: list[Block]
    corrections: list[str] = field(default_factory=list)

    def blocks_of(self, doc_id: str) -> list[Block]:
        return [b for b in self.blocks if b.doc_id == doc_id]


def slug(text: str, words: int = 6) -> str:
    tokens = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(tokens[:words])


def split_names(text: str) -> tuple[str, ...]:
    text = text.strip()
    if not text:
        return ()
    return tuple(n.strip() for n in re.split(r",\s*|\s+and\s+", text) if n.strip())


def area_of(heading: str) -> str:
    low = heading.lower()
    for keyword, area in zip(AREA_KEYWORDS, AREAS, strict=True):
        if keyword in low:
            return area
    return ""


def parse_citation(line: str) -> dict[str, str] | None:
    """Split an appendix citation line into its bibliographic fields."""
    m = _CITATION.match(line)
    if not m:
        return None
    lead, bib, url = m.group("lead"), m.group("bib"), m.group("url")
    if lead.startswith("“"):
        authors, original = "", lead
    else:
        authors, _, original = lead.partition(", ")
    original = original.strip().strip(",").strip().strip("“”").rstrip(",").strip()
    title, rest = _split_title(bib)
    date_match = _DATE.search(rest)
    date = date_match.group(0) if date_match else ""
    publication = rest[: date_match.start()] if date_match else rest
    publication = publication.strip().rstrip("(").strip().rstrip(",").strip()
    return {
        "authors": authors.strip(),
        "original_title": original,
        "title": title,
        "publication": publication,
        "date": date,
        "url": url,
        "imprint": rest,
    }


def _split_title(bib: str) -> tuple[str, str]:
    """English title ends at the first comma, or at a '?' followed by a Title-Case publication."""
    comma = bib.find(", ")
    q = bib.find("? ")
    if q != -1 and (comma == -1 or q < comma):
        tail = bib[q + 2 : comma if comma != -1 else len(bib)]
        words = re.findall(r"[A-Za-z][\w’'-]*", tail)
        if words and all(w[0].isupper() for w in words):
            return bib[: q + 1], bib[q + 2 :]
    if comma == -1:
        return bib, ""
    return bib[:comma], bib[comma + 2 :]


def _front_matter(lines: list[str]) -> tuple[dict[str, str], int]:
    meta: dict[str, str] = {}
    if not lines or lines[0].strip() != "---":
        return meta, 0
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return meta, i + 1
        key, sep, value = lines[i].partition(":")
        if sep:
            meta[key.strip()] = value.strip().strip('"')
    raise CorpusError("The report's front matter is not closed with '---'.")


def parse_report(path: Path) -> Report:
    """Read the report and return its documents and blocks. Every text line lands in a block."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CorpusError(f"Cannot read the report at {path}: {exc.strerror or exc}") from exc
    return parse_text(text)


def parse_text(text: str) -> Report:
    lines = text.split("\n")
    meta, start = _front_matter(lines)
    parser = _Parser(meta)
    for number, raw in enumerate(lines[start:], start=start + 1):
        parser.feed(raw.rstrip(), number)
    return parser.finish()


class _Parser:
    def __init__(self, meta: dict[str, str]) -> None:
        self.docs: dict[str, SourceDoc] = {}
        self.blocks: list[Block] = []
        self.sections: dict[str, list[str]] = {}
        self.notes: dict[str, list[str]] = {}
        self.chapter_count = 0
        self.area = ""
        self.language = ""
        self.in_appendix = False
        self.in_bios = False
        self.section = ""
        self.pending_table: list[str] = []
        self.table_line = 0
        overview = SourceDoc(
            doc_id="overview",
            kind="summary",
            title=meta.get("title", "Broader Transatlantic Security"),
            subtitle=meta.get("description", ""),
            authors=split_names(meta.get("author", "").replace("et al.", "")),
            date=meta.get("date", "")[:4],
            publication="CSIS",
        )
        self._add_doc(overview)
        self.doc_id = "overview"

    def _add_doc(self, doc: SourceDoc) -> None:
        self.docs[doc.doc_id] = doc
        self.sections.setdefault(doc.doc_id, [])
        self.notes.setdefault(doc.doc_id, [])

    def _set_section(self, name: str) -> None:
        self.section = name
        secs = self.sections[self.doc_id]
        if name and name not in secs:
            secs.append(name)

    def _block(self, text: str, line: int) -> None:
        self.blocks.append(Block(self.doc_id, self.section, text, line))

    def _flush_table(self) -> None:
        if self.pending_table:
            self._block("\n".join(self.pending_table), self.table_line)
            self.pending_table = []

    def feed(self, line: str, number: int) -> None:
        if line.startswith("|"):
            if not self.pending_table:
                self.table_line = number
            self.pending_table.append(line)
            return
        self._flush_table()
        stripped = line.strip()
        if not stripped:
            return
        if stripped == "---":
            self.in_bios = True
            return
        if stripped.startswith("#image_caption") or stripped.startswith("!["):
            return
        if stripped.startswith("### "):
            self._start_part(stripped[4:].strip())
            return
        if stripped.startswith("> #### "):
            doc = self.docs[self.doc_id]
            self.docs[self.doc_id] = replace(
                doc, authors=split_names(stripped[7:]), byline=stripped[7:].strip()
            )
            return
        if stripped.startswith("#### "):
            heading = stripped[5:].strip()
            group = _APPENDIX_GROUP.match(heading)
            if self.in_appendix and group:
                self.language = group.group("lang")
                self.area = area_of(group.group("topic"))
                self.doc_id = "appendix"
                self.section = heading
            else:
                self._set_section(heading)
            return
        sub = _SUBTITLE.match(stripped)
        if sub and self.docs[self.doc_id].kind == "chapter" and not self.blocks_in(self.doc_id):
            self.docs[self.doc_id] = replace(self.docs[self.doc_id], subtitle=sub.group("text"))
            return
        if self.in_bios:
            bio = _BIO.match(stripped)
            if bio:
                name = bio.group("name").strip()
                self.doc_id = f"bio-{slug(name)}"
                self._add_doc(
                    SourceDoc(doc_id=self.doc_id, kind="bio", title=name, authors=(name,), byline=name)
                )
                self.section = "Contributor biography"
            self._block(stripped, number)
            return
        if self.in_appendix:
            cite = parse_citation(stripped)
            if cite:
                self._start_source(cite, stripped)
                self._block(stripped, number)
                self.section = "Excerpts"
                return
            if _EDITOR_NOTE.match(stripped):
                self.notes[self.doc_id].append(stripped)
        if _CAPS_HEADING.match(stripped) and self.docs[self.doc_id].kind == "chapter":
            self._set_section(stripped)
            return
        text = stripped
        if text.startswith("- ") or text.startswith("> "):
            text = text[2:].strip()
        self._block(text, number)

    def blocks_in(self, doc_id: str) -> bool:
        return any(b.doc_id == doc_id for b in self.blocks)

    def _start_part(self, title: str) -> None:
        self.section = ""
        if title == "Appendix":
            self.in_appendix = True
            self.doc_id = "appendix"
            self._add_doc(SourceDoc(doc_id="appendix", kind="summary", title="Appendix"))
            return
        if title == "Executive Summary":
            self.doc_id = "summary"
            self._add_doc(SourceDoc(doc_id="summary", kind="summary", title=title))
            return
        self.chapter_count += 1
        n = self.chapter_count
        self.doc_id = f"ch{n}"
        self._add_doc(
            SourceDoc(
                doc_id=self.doc_id,
                kind="chapter",
                title=title,
                area=AREAS[(n - 1) // 2] if n <= 2 * len(AREAS) else "",
                focus=("Russian sources", "Chinese sources")[(n - 1) % 2],
            )
        )

    def _start_source(self, cite: dict[str, str], line: str) -> None:
        authors = split_names(cite["authors"])
        lead = authors[0] if authors else cite["publication"]
        doc_id = f"src-{slug(lead, 3)}-{slug(cite['title'], 4)}"
        self.doc_id = doc_id
        self.section = "Citation"
        if doc_id in self.docs:  # the same source cited again for further excerpts
            return
        self._add_doc(
            SourceDoc(
                doc_id=doc_id,
                kind="appendix",
                title=cite["title"],
                authors=authors,
                original_title=cite["original_title"],
                publication=cite["publication"],
                date=cite["date"],
                url=cite["url"],
                imprint=cite["imprint"],
                language=self.language,
                area=self.area,
                byline=line,
            )
        )
        self.section = "Citation"

    def finish(self) -> Report:
        self._flush_table()
        docs = {}
        for doc_id, doc in self.docs.items():
            docs[doc_id] = replace(
                doc,
                sections=tuple(self.sections.get(doc_id, ())),
                notes=tuple(self.notes.get(doc_id, ())),
            )
        if "summary" in docs and "overview" in docs:
            summary = docs["summary"]
            docs["overview"] = replace(docs["overview"], authors=summary.authors)
        report = Report(docs=docs, blocks=self.blocks)
        from assistant.corpus.corrections import apply_corrections

        return apply_corrections(report)
