"""A conversation with the assistant: ``bot.conversation()``.

Each question is answered by ``Assistant.ask`` (or ``stream``) with the conversation so far. The
history it passes is the plain messages format plus, on each answer, the documents that answer
cited (``"sources"``), so a follow-up ("When was it published?", "What does she conclude?")
resolves against what was actually cited, not only against the words of the earlier answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.types import Answer

if TYPE_CHECKING:
    from assistant.pipeline import Assistant
    from assistant.retrieve import Filters


@dataclass(frozen=True)
class Exchange:
    """One turn of a conversation: the question as asked and its answer."""

    question: str
    answer: Answer

    def messages(self) -> list[dict[str, Any]]:
        """The turn in the messages format, the answer with the documents it cited."""
        cited = list(dict.fromkeys(c.doc_id for c in self.answer.citations if c.doc_id))
        return [
            {"role": "user", "content": self.question},
            {"role": "assistant", "content": self.answer.text, "sources": cited},
        ]


class Conversation:
    """Questions asked in order, each resolved against the turns before it.

    >>> chat = bot.conversation()
    >>> chat.ask("Who wrote Armed Friendship?")
    >>> chat.ask("When was it published?")      # about Armed Friendship
    >>> chat.turns[-1].answer.citations
    >>> chat.clear()                            # starts over: nothing earlier is carried
    """

    def __init__(self, assistant: Assistant, filters: dict[str, Any] | Filters | None = None) -> None:
        self.assistant = assistant
        self.filters = filters
        self.turns: list[Exchange] = []

    @property
    def history(self) -> list[dict[str, Any]]:
        """The conversation so far in the messages format ``Assistant.ask`` takes."""
        return [m for turn in self.turns for m in turn.messages()]

    def ask(self, question: str, filters: dict[str, Any] | Filters | None = None) -> Answer:
        """Answer ``question`` in the context of the earlier turns, and add it to them.

        ``filters`` apply to this question only; without them, the conversation's own apply."""
        answer = self.assistant.ask(question, history=self.history, filters=self._filters(filters))
        self.turns.append(Exchange(question, answer))
        return answer

    def stream(
        self, question: str, filters: dict[str, Any] | Filters | None = None
    ) -> Iterator[str | Answer]:
        """Like ``ask``, yielding the answer's text in pieces and then the ``Answer``; the turn is
        added once the answer is complete."""
        for piece in self.assistant.stream(question, history=self.history, filters=self._filters(filters)):
            if isinstance(piece, Answer):
                self.turns.append(Exchange(question, piece))
            yield piece

    def clear(self) -> None:
        """Start over: later questions are answered as if nothing had been asked."""
        self.turns.clear()

    def __len__(self) -> int:
        return len(self.turns)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.turns)

    def _filters(self, filters: dict[str, Any] | Filters | None) -> dict[str, Any] | Filters | None:
        return filters if filters is not None else self.filters
