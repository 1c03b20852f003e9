"""Known inconsistencies in the report's own citations, and how the product treats them.

Each entry is explained in ``corpus/NOTES.md``. Corrections only touch metadata; the report
text (and so every quote) stays verbatim.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.corpus.parse import Report

# The report prints these two Chinese hybrid-warfare sources with each other's Chinese title
# and URL. The English title, publication, date and excerpts of each entry agree with one
# another, so the assistant keeps those and swaps the Chinese title and URL back.
SWAPPED_ORIGINALS: tuple[tuple[str, str], ...] = (
    (
        "Reflections on the Joint Prevention of ‘Color Revolutions’ in Russia and China",
        "An Analysis of the Foundation and Approach of Sino-Russian Cooperation in Cyberspace Governance",
    ),
)


def apply_corrections(report: Report) -> Report:
    by_title = {doc.title: doc for doc in report.docs.values() if doc.kind == "appendix"}
    for first_title, second_title in SWAPPED_ORIGINALS:
        first, second = by_title.get(first_title), by_title.get(second_title)
        if first is None or second is None:
            continue
        note = (
            "Corrected: the report prints this source with the Chinese title and URL of “{other}”; "
            "the assistant shows the Chinese title and URL that match the English title."
        )
        report.docs[first.doc_id] = replace(
            first,
            original_title=second.original_title,
            url=second.url,
            notes=(*first.notes, note.format(other=second.title)),
        )
        report.docs[second.doc_id] = replace(
            second,
            original_title=first.original_title,
            url=first.url,
            notes=(*second.notes, note.format(other=first.title)),
        )
        report.corrections.append(f"swapped Chinese title and URL: {first_title} <-> {second_title}")
    return report
