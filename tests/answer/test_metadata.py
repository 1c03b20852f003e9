"""Questions about who wrote which chapter: an area has two chapters, one on Russian and one on
Chinese views; a question that fits both names both."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    ("question", "authors"),
    [
        ("Who wrote the chapter on space cooperation?", {"Robert Samuel Wilson", "Marc Julienne"}),
        ("Who wrote the chapters on arms sales?", {"Cecilie Sendstad and Una Hakvåg", "Meia Nouwens"}),
    ],
)
def test_a_question_that_fits_both_chapters_of_an_area_names_both(
    bot: Any, question: str, authors: set[str]
) -> None:
    answer = bot.ask(question)
    assert not answer.abstained and answer.text.startswith("Two chapters cover this:"), answer.text
    assert {c.authors for c in answer.citations} == authors
    assert all(c.kind == "chapter" for c in answer.citations)


@pytest.mark.parametrize(
    ("question", "author"),
    [
        ("Who wrote the chapter on space cooperation from a Chinese perspective?", "Marc Julienne"),
        ("Who wrote the chapter on Chinese views of joint exercises?", "Brian Hart and Bonny Lin"),
        ("Who wrote the chapter on the global hybrid war?", "Katri Pynnöniemi"),
    ],
)
def test_a_question_that_fits_one_chapter_names_one(bot: Any, question: str, author: str) -> None:
    answer = bot.ask(question)
    assert [c.authors for c in answer.citations] == [author], answer.text
    assert answer.text.startswith("The chapter “")


@pytest.mark.parametrize(
    "question", ["When was that published?", "What is its original title?", "Who wrote it?"]
)
def test_a_first_question_that_only_points_back_asks_what_it_means(bot: Any, question: str) -> None:
    answer = bot.ask(question)
    assert answer.abstained and not answer.citations
    assert "Name the source, author or topic you mean." in answer.text


def test_a_described_subject_is_not_a_pointer_back(bot: Any) -> None:
    # "the chapter on …" and "this piece" describe what they mean; only a bare pronoun points back
    for question in (
        "Who wrote the chapter on hybrid warfare?",
        "When was this piece on color revolutions published?",
    ):
        answer = bot.ask(question)
        assert not answer.abstained and answer.citations, (question, answer.text)
