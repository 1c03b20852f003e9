"""``bot.conversation()``: follow-ups resolve against earlier turns' cited documents and named
subjects; ``clear`` starts over; plain ``history`` keeps working (real index)."""

from __future__ import annotations

from typing import Any

from assistant.conversation import Conversation, Exchange
from assistant.types import Answer, Citation


def _cited_kinds(answer: Answer, bot: Any) -> list[str]:
    return [bot.index.docs[c.doc_id].kind for c in answer.citations]


def test_a_conversation_keeps_the_documents_it_cited(bot: Any) -> None:
    chat = bot.conversation()
    first = chat.ask("Who wrote Armed Friendship?")
    assert "Gabuev" in first.text
    chat.ask("What does it say about the S-400?")
    authors = chat.ask("And who are its authors?")
    # two turns on, "its" is still the book: the metadata answer names it and its authors
    assert "Armed Friendship" in authors.text and "Kashin" in authors.text
    assert {c.title for c in authors.citations} == {"Armed Friendship: How Russia and China Trade Arms"}
    assert len(chat) == 3 and [t.question for t in chat] == [
        "Who wrote Armed Friendship?",
        "What does it say about the S-400?",
        "And who are its authors?",
    ]
    sources = [m["sources"] for m in chat.history if m["role"] == "assistant"]
    assert all(sources) and all(isinstance(d, str) for s in sources for d in s)


def test_a_person_named_earlier_stays_the_subject_of_follow_ups(bot: Any) -> None:
    chat = bot.conversation()
    chat.ask("What does Meia Nouwens argue about technology transfer?")
    work = chat.ask("Where does she work?")
    assert "International Institute for Strategic Studies" in work.text
    assert _cited_kinds(work, bot)[0] == "bio"
    concluded = chat.ask("What does she conclude?")
    # her chapter, not her biography: the biography answers questions about her career only
    assert concluded.citations and not concluded.abstained
    assert _cited_kinds(concluded, bot)[0] == "chapter"
    assert "Meia Nouwens" in concluded.citations[0].authors
    assert "bio" not in _cited_kinds(concluded, bot)


def test_clear_starts_over(bot: Any) -> None:
    chat = bot.conversation()
    chat.ask("What do Gabuev and Kashin say about the S-400 sale?")
    assert "2017" in chat.ask("When was that published?").text
    chat.clear()
    assert chat.turns == [] and chat.history == []
    alone = chat.ask("When was that published?")
    assert alone.abstained and not alone.citations
    assert "nothing was asked before it" in alone.text


def test_plain_history_and_conversation_history_agree(bot: Any) -> None:
    chat = bot.conversation()
    chat.ask("What did Russia agree to sell China in 2015?")
    plain = [{"role": m["role"], "content": m["content"]} for m in chat.history]
    question = "When was it delivered?"
    with_sources = bot.ask(question, history=chat.history)
    assert with_sources.to_dict() == chat.ask(question).to_dict()
    # plain messages still resolve the follow-up (from the quotations of the earlier answer)
    assert not bot.ask(question, history=plain).abstained


def test_a_conversation_streams_and_records_the_turn(bot: Any) -> None:
    chat = Conversation(bot)
    pieces = list(chat.stream("What is the ILRS?"))
    final = pieces[-1]
    assert isinstance(final, Answer) and "".join(p for p in pieces[:-1] if isinstance(p, str)).strip()
    assert chat.turns == [Exchange("What is the ILRS?", final)]


def test_an_exchange_lists_each_cited_document_once() -> None:
    def cite(n: int, doc_id: str) -> Citation:
        return Citation(n, f"{doc_id}-0", "chapter", "A", "T", "", "", "", "", "", "", "", "q", doc_id=doc_id)

    answer = Answer("q", "a [1] b [2] c [3]", [cite(1, "ch1"), cite(2, "ch2"), cite(3, "ch1")])
    user, reply = Exchange("q", answer).messages()
    assert user == {"role": "user", "content": "q"}
    assert reply == {"role": "assistant", "content": answer.text, "sources": ["ch1", "ch2"]}
