"""Question analysis on spaCy, without an index: tables of questions and their typed fields."""

from __future__ import annotations

import pytest

from assistant.understand import analyse_question


@pytest.mark.parametrize(
    ("question", "answer_type", "noun"),
    [
        ("How much did China pay for the S-400 systems in 2015?", "money", ""),
        ("What was the price of the Su-35 contract?", "money", "price"),
        ("How many PLA troops joined Vostok-2018?", "number", "troop"),
        ("When was Armed Friendship published?", "date", ""),
        ("In what year did Peace Mission begin?", "date", "year"),
        ("Where was Peace Mission 2005 held?", "place", ""),
        ("Who succeeded Rogozin as head of Roscosmos?", "person", ""),
        ("Which Chinese banks stopped processing payments?", "organisation", "bank"),
        ("Which rocket will launch the ILRS?", "other", "rocket"),
        ("What is the combat range of the H-6K bomber?", "quantity", "range"),
        ("Why do Russia and China hold joint exercises?", "reason", ""),
        ("What is the ILRS?", "definition", ""),
        ("Is China supplying weapons to Russia?", "yes/no", ""),
        ("What does the report recommend for NATO?", "recommendation", ""),
        ("Summarize the chapter on hybrid warfare.", "summary", ""),
        ("What are the main findings of the report?", "summary", "finding"),
    ],
)
def test_expected_answer_type(question: str, answer_type: str, noun: str) -> None:
    analysis = analyse_question(question)
    assert (analysis.answer_type, analysis.answer_noun) == (answer_type, noun)


@pytest.mark.parametrize(
    ("question", "names"),
    [
        # an opening adverb is no name, whatever its capital letter
        ("Supposedly, how much did China pay for the S-400 systems?", {"China", "S-400"}),
        ("Apparently Russia-watcher Li Shuyin wrote about what?", {"Li Shuyin"}),
        ("Reportedly, who chairs the CMC?", {"CMC"}),
        ("Whatever happened to the Russia-China PPWT?", {"PPWT"}),
        ("What is Vassily Kashin's view on missile defense?", {"Vassily Kashin"}),
    ],
)
def test_names_not_surface_words(question: str, names: set[str]) -> None:
    analysis = analyse_question(question)
    assert names <= set(analysis.names)
    first = question.split()[0].strip(",")
    assert first not in analysis.names and first.lower() not in analysis.focus


def test_numbers_years_focus_and_scope() -> None:
    a = analyse_question("Did 13,000 PLA troops take part in Zapad/Interaction-2021 in August 2021?")
    assert a.numbers == ("13,000",) and a.years == (2021,)
    assert {"pla", "troop"} <= set(a.focus) and a.scope == "specific"
    broad = analyse_question("What are the main implications for transatlantic security?")
    assert broad.scope == "broad" and "transatlantic" in broad.focus and "main" not in broad.focus
    who = analyse_question("Which Chinese author distinguishes hybrid warfare from gray zone competition?")
    assert who.asks_who and not analyse_question("What does Han Aiyong say about gray zones?").asks_who


def test_entities_carry_spacy_labels() -> None:
    a = analyse_question("What did Lavrov say in Moscow in July 2022?")
    labels = {e.text: e.label for e in a.entities}
    assert labels.get("Lavrov") == "PERSON" and labels.get("Moscow") == "GPE"
    assert labels.get("July 2022") == "DATE"
