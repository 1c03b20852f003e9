"""Small fixed values that several test modules build answers from."""

from __future__ import annotations

from typing import Any

from assistant.types import Citation


def sample_citation(**overrides: Any) -> Citation:
    """A citation of Gabuev and Kashin's *Armed Friendship*, with any field replaced."""
    fields: dict[str, Any] = {
        "number": 1,
        "chunk_id": "a1/003",
        "kind": "appendix",
        "authors": "Alexander Gabuev and Vasily Kashin",
        "title": "Armed Friendship",
        "original_title": "Вооруженная дружба",
        "publication": "Carnegie Moscow Center",
        "date": "November 2, 2017",
        "url": "https://carnegieendowment.org/files/CP_Gabuev_Kashin_web.pdf",
        "language": "Russian",
        "area": "arms sales and technology transfer",
        "section": "Excerpts",
        "quote": "Russia agreed to sell the S-400.",
        "doc_id": "a1",
        "perspective": "Russian sources",
        "label": "Alexander Gabuev and Vasily Kashin, *Armed Friendship*, Carnegie Moscow Center, November 2, 2017",
    }
    return Citation(**{**fields, **overrides})
