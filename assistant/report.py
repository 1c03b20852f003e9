"""What is particular to this report: its title, its four areas and three perspectives, how its
headings name the areas, the spellings it uses for the same person, and what an abstention says.

Everything else in the package works on the parsed report; knowledge of this one document lives
here.
"""

from __future__ import annotations

REPORT_FILE = "broader-transatlantic-security.md"
"""The report's Markdown text, in ``corpus/``."""

REPORT_TITLE = "Broader Transatlantic Security (2022)"

AREAS: tuple[str, ...] = (
    "arms sales and technology transfer",
    "military exercises",
    "space and cyber",
    "hybrid warfare",
)
PERSPECTIVES: tuple[str, ...] = ("Russian sources", "Chinese sources", "Western analysis")

AREA_KEYWORDS: tuple[str, ...] = ("arms sales", "exercises", "space", "hybrid")
"""The words by which appendix group headings name the areas, in ``AREAS`` order; chapters come
in pairs (a chapter on Russian views, then one on Chinese views) in that same order."""

AREA_TOPICS: dict[str, str] = {
    "arms sales and technology transfer": "Sino-Russian arms sales and military-technical cooperation",
    "military exercises": "Sino-Russian joint military exercises",
    "space and cyber": "Sino-Russian cooperation in space and cyberspace",
    "hybrid warfare": "hybrid warfare and Sino-Russian cooperation against it",
}
"""Each area as a topic to ask about (the comparison asked when only an area is given)."""

FINDINGS_SECTION = "Notable Findings"
"""The executive summary's section of findings, one bullet an area."""

NAME_VARIANTS: dict[str, str] = {"vasiliy": "vasily", "vassily": "vasily", "alexandr": "alexander"}
"""Spellings the report uses for the same person ("Vasiliy"/"Vasily" Kashin, "Alexandr" Bartosh)."""

ABSTAIN_TEXT = "The report does not appear to address this question."
