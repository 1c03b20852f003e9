"""Broad questions get a structured answer: the executive summary's findings, one document's
points, or the points of each document that addresses a topic, each attributed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from assistant.answer.broad import broad_question
from assistant.understand.query import Query


@pytest.mark.parametrize(
    ("question", "broad"),
    [
        ("Summarize the main findings", True),
        ("What does the report recommend for NATO?", True),
        ("What are the implications of joint exercises for NATO?", True),
        ("Summarize the chapter on Chinese views of joint exercises", True),
        ("What are the two main instruments of the global hybrid war according to Bartosh?", False),
        ("Who are the main Russian authors on hybrid warfare?", False),
        ("When did the key exercise take place?", False),
        ("What did Russia agree to sell China in 2015?", False),
    ],
)
def test_which_questions_are_broad(question: str, broad: bool) -> None:
    assert broad_question(Query(question=question, text=question)) is broad


def test_a_broad_follow_up_is_answered_as_a_follow_up() -> None:
    query = Query(question="What did they recommend Russia do instead?", text="…", followup=True)
    assert not broad_question(query)


def _bullets(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("- ")]


def test_the_main_findings_are_the_executive_summarys_one_an_area(bot: Any) -> None:
    answer = bot.ask("Summarize the main findings")
    bullets = _bullets(answer.text)
    assert not answer.abstained and 4 <= len(bullets) <= 5, answer.text
    assert answer.text.splitlines()[0].startswith("The report's main findings, from its executive summary")
    assert {c.title for c in answer.citations} == {"Executive Summary"}
    for area in (
        "Arms sales and technology transfers",
        "Military exercises",
        "Space and cyber",
        "Hybrid warfare",
    ):
        assert any(b.startswith(f"- {area}:") for b in bullets), area
    assert all(b.rstrip().endswith("]") for b in bullets)  # each point cited


def test_a_topic_gets_one_attributed_bullet_per_document(bot: Any) -> None:
    answer = bot.ask("What does the report recommend for NATO?")
    lines = answer.text.splitlines()
    assert lines[0] in (
        "The report makes no explicit recommendations on this; its chapters draw these conclusions "
        "and implications:",
        "What the report's chapters conclude, and recommend:",
    )
    bullets = _bullets(answer.text)
    assert bullets and len(bullets) == len(lines) - 1
    numbers = {c.number: c for c in answer.citations}
    for bullet in bullets:
        speaker, _, quoted = bullet[2:].partition(": ")
        cited = [numbers[int(n)] for n in re.findall(r"\[(\d+)\]", quoted)]
        assert cited and len({c.doc_id for c in cited}) == 1  # one document a bullet
        surname = cited[0].authors.split(" and ")[0].split()[-1] if cited[0].authors else cited[0].title
        assert surname in speaker, (speaker, cited[0].authors)
    assert len({c.doc_id for c in answer.citations}) == len(bullets)


def test_a_chapter_summary_quotes_only_that_chapter(bot: Any) -> None:
    answer = bot.ask("Summarize the chapter on Chinese views of joint exercises")
    assert answer.text.startswith(
        "Hart and Lin (“Chinese Strategic Views on Joint Military Exercises with Russia”) in brief:"
    )
    assert len(_bullets(answer.text)) >= 3
    assert {c.title for c in answer.citations} == {
        "Chinese Strategic Views on Joint Military Exercises with Russia"
    }


def test_an_area_summary_stays_in_the_area(bot: Any) -> None:
    answer = bot.ask("Summarize what the report says about space cooperation")
    assert _bullets(answer.text) and not answer.abstained
    docs = [bot.index.docs[c.doc_id] for c in answer.citations]
    assert all(d.area == "space and cyber" or d.doc_id == "summary" for d in docs), [d.title for d in docs]


def test_specific_questions_keep_the_ordinary_form(bot: Any) -> None:
    answer = bot.ask("What are the two main instruments of the global hybrid war according to Bartosh?")
    assert not _bullets(answer.text) and "proxy wars" in answer.text


def test_broad_answers_can_be_turned_off(bot: Any) -> None:
    from assistant import Assistant

    plain = Assistant(bot.settings.model_copy(update={"broad_answers": False}))
    assert not _bullets(plain.ask("Summarize the main findings").text)
