"""Cited answers over the CSIS report *Broader Transatlantic Security* (2022).

>>> from assistant import Assistant
>>> bot = Assistant()
>>> answer = bot.ask("What did Russia agree to sell China in 2015?")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError, IndexUnavailable, InvalidFilter, InvalidQuestion
from assistant.settings import Settings
from assistant.types import Answer, Citation, Passage, SourceDoc

if TYPE_CHECKING:
    from assistant.pipeline import Assistant

__all__ = [
    "Answer",
    "Assistant",
    "AssistantError",
    "Citation",
    "IndexUnavailable",
    "InvalidFilter",
    "InvalidQuestion",
    "Passage",
    "Settings",
    "SourceDoc",
]


def __getattr__(name: str) -> Any:
    if name == "Assistant":  # keeps `import assistant` light: torch loads only when needed
        from assistant.pipeline import Assistant

        return Assistant
    raise AttributeError(name)
