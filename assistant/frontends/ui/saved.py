"""Conversations kept in the browser (Gradio's ``BrowserState``, the browser's local storage):
what is saved of a conversation, how it is listed, reopened and deleted.

A saved conversation holds what the chat shows (its rendered messages), the plain history that
follow-ups resolve against, the answers (as ``Answer.to_dict()``, for feedback and exports) and
the filters. The newest ``MAX_SAVED`` are kept. Nothing here touches the server's disk.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from assistant.types import Answer, Citation, Section

MAX_SAVED = 20
FILTERS = ("area", "perspective", "author", "source")
Store = dict[str, Any]
"""``{"current": id, "conversations": [conversation, ...]}``, newest first."""


def empty() -> Store:
    return {"current": "", "conversations": []}


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def _valid(store: object) -> Store:
    if not isinstance(store, dict) or not isinstance(store.get("conversations"), list):
        return empty()  # nothing saved yet, or written by another version: start afresh
    return store


def keep(
    store: object,
    conversation_id: str,
    chat: list[dict[str, Any]],
    history: list[dict[str, str]],
    turns: list[dict[str, Any]],
    filters: dict[str, str],
) -> tuple[Store, str]:
    """The store with this conversation saved (first, as the newest); returns its id too."""
    store = _valid(store)
    conversation_id = conversation_id or new_id()
    others = [c for c in store["conversations"] if c.get("id") != conversation_id]
    question = next((m["content"] for m in history if m.get("role") == "user"), "") or "(no question yet)"
    record = {
        "id": conversation_id,
        "title": question[:80],
        "updated": time.strftime("%Y-%m-%d %H:%M", time.localtime()),
        "chat": chat,
        "history": history,
        "turns": turns,
        "filters": {k: filters.get(k, "") for k in FILTERS},
    }
    return {"current": conversation_id, "conversations": [record, *others][:MAX_SAVED]}, conversation_id


def choices(store: object) -> list[tuple[str, str]]:
    """(label, id) of every saved conversation, newest first."""
    return [(f"{c['title']} — {c['updated']}", c["id"]) for c in _valid(store)["conversations"]]


def find(store: object, conversation_id: str) -> dict[str, Any] | None:
    return next((c for c in _valid(store)["conversations"] if c.get("id") == conversation_id), None)


def current(store: object) -> dict[str, Any] | None:
    store = _valid(store)
    return find(store, store.get("current", ""))


def delete(store: object, conversation_id: str) -> Store:
    store = _valid(store)
    left = [c for c in store["conversations"] if c.get("id") != conversation_id]
    return {
        "current": "" if store.get("current") == conversation_id else store.get("current", ""),
        "conversations": left,
    }


def answer_record(
    index: int, answer: Answer, filters: dict[str, str], history: list[dict[str, str]]
) -> dict[str, Any]:
    return {"index": index, "answer": answer.to_dict(), "filters": filters, "history": history}


def answer_from(data: dict[str, Any]) -> Answer:
    """An ``Answer`` back from ``Answer.to_dict()`` (without its related reading)."""
    return Answer(
        question=data["question"],
        text=data["text"],
        citations=[Citation(**c) for c in data.get("citations", [])],
        abstained=bool(data.get("abstained")),
        notice=data.get("notice", ""),
        mode=data.get("mode", "extractive"),
        sections=[Section(**s) for s in data.get("sections", [])],
    )
