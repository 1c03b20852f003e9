"""When the report cannot answer: the checks behind abstention, on the real report and index, and
the question analysis that feeds them (follow-ups, who-questions, document kinds)."""

from __future__ import annotations

import pytest

from assistant import Assistant
from assistant.compose import (
    ABSTAIN_TEXT,
    asked_measure,
    asks_money,
    asks_who,
    counted_nation,
    counted_thing,
    counts,
    missing_names,
    priced_unit,
    unknown_events,
    unknown_kind,
    unknown_terms,
)
from assistant.query import Query, analyse, detect_kind, detect_perspective, is_followup, prefer_biographies
from assistant.retrieve import Engine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(bot: Assistant) -> Engine:
    return bot._ensure()


def _names(question: str, engine: Engine) -> list[str]:
    return missing_names(Query(question=question, text=question), engine.lexical)


@pytest.mark.parametrize(
    ("question", "missing"),
    [
        ("Who commands the PLA's Eastern Theater Command?", "Eastern Theater Command"),
        ("What is the planned route of the Power of Siberia 2 pipeline?", "Power of Siberia"),
        ("What role does the Wagner Group play in Africa?", "Wagner"),
    ],
)
def test_names_the_report_never_mentions(engine: Engine, question: str, missing: str) -> None:
    assert any(missing in name for name in _names(question, engine))


@pytest.mark.parametrize(
    "question",
    [
        "What did Lavrov demand after Russia's November 2021 ASAT test?",  # 'anti-satellite'
        "What's the biggest gap in the Russia–China PPWT draft treaty?",  # a country qualifies it
        "Besides the U.S. factor, what other motive does Kashin mention?",  # sentence-initial word
        "What did Yermakov say about Zapad/Interaction-2021?",
        "How does the Academy of Military Sciences view joint exercises?",
    ],
)
def test_names_the_report_does_mention(engine: Engine, question: str) -> None:
    assert _names(question, engine) == []


@pytest.mark.parametrize(
    ("question", "unknown"),
    [
        ("What are the details of the Joint Sea 2022 naval exercise?", ["Joint Sea 2022"]),
        ("How many PLA troops joined Vostok-2022?", ["Vostok-2022"]),
        ("What is China's stance on the September 2022 annexations?", ["September 2022"]),
        ("What did Japan's December 2022 strategy say about bomber patrols?", ["December 2022"]),
        ("How many Chinese troops took part in Vostok-2018?", []),
        ("Which aircraft took part in the May 2022 joint air patrol?", []),
        ("What did Lavrov say after the November 2021 test?", []),
        # the report has 'July 24' in an article from September 30, 2019
        ("What did China's July 2019 defense white paper say, as cited by Vinokurov?", []),
        ("What happened in 2016?", []),  # a year alone is not a dated name
    ],
)
def test_dated_names(engine: Engine, question: str, unknown: list[str]) -> None:
    assert unknown_events(question, engine.index, engine.lexical) == unknown


def test_counted_things_need_their_number() -> None:
    assert counted_thing("How many Chinese troops took part in Vostok-2018?") == "troop"
    assert counts("China sent about 1,600 soldiers, more than 300 vehicles", "troop")  # same thing
    assert counts("Russia sold China 12 battalions of C-300 missiles.", "battalion")
    assert not counts("There have also been reports of Chinese officers learning Russian.", "officer")
    assert not counts("In 2019, 30 aircraft flew over the sea while officers watched.", "officer")  # too far
    assert priced_unit("How much did China pay per S-400 battalion?") == "battalion"
    assert priced_unit("How much is the cooperation worth per year?") == "year"
    assert priced_unit("How many divisions did Russia sell?") == ""


def test_unknown_kinds_and_words(engine: Engine) -> None:
    lexical = engine.lexical
    assert unknown_kind("Which Chinese banks stopped processing payments?", lexical) == "bank"
    assert unknown_kind("Which regional organizations coordinate against hybrid threats?", lexical) == ""
    assert unknown_kind("What did Bartosh argue?", lexical) == ""
    assert unknown_terms("Has China delivered artillery shells or lethal drones?", lexical) == [
        "delivered",
        "shell",
        "lethal",
    ]
    assert unknown_terms("What does Patalano say about gray zone tactics?", lexical) == []


@pytest.mark.parametrize(
    "question",
    [
        "Who replaced Dmitry Rogozin as head of Roscosmos in 2025?",
        "What are the details of the Joint Sea 2022 naval exercise?",
        "Which Chinese banks stopped processing payments for Russian clients?",
        "How much did China pay per S-400 battalion?",
        "Who commands the PLA's Eastern Theater Command?",
        "What did the February 4, 2022 Xi–Putin joint statement say about Taiwan?",
        "How many CSTO troops were deployed to Kazakhstan in January 2022?",
        "What is the combat range of the Chinese H-6K bomber used in the joint air patrols?",
    ],
)
def test_abstains_when_the_report_lacks_what_the_question_needs(bot: Assistant, question: str) -> None:
    answer = bot.ask(question)
    assert answer.abstained and answer.citations == []
    assert answer.text.startswith(ABSTAIN_TEXT) and len(answer.text) > len(ABSTAIN_TEXT)  # says why
    assert answer.related and all(p.doc.kind != "bio" for p in answer.related)  # no one was named


@pytest.mark.parametrize(
    "question",
    [
        "How many Chinese troops took part in Vostok-2018?",
        "What did Lavrov demand of Washington after Russia's November 2021 ASAT test?",
        "Which aircraft took part in the May 2022 China–Russia joint air patrol?",
        "What does the editor's note say about the Carnegie Moscow Center?",
        "What did Rogozin announce regarding U.S. involvement in Russia's Venus mission?",
    ],
)
def test_answers_what_the_report_does_say(bot: Assistant, question: str) -> None:
    answer = bot.ask(question)
    assert not answer.abstained and answer.citations


def test_who_questions_name_the_speaker(bot: Assistant) -> None:
    question = "Which Chinese author draws the distinction between hybrid warfare and gray zone competition?"
    assert asks_who(question) and not asks_who("What does Han Aiyong say about gray zones?")
    answer = bot.ask(question)
    first = answer.citations[0]
    assert answer.text.startswith(first.authors), answer.text  # "Han Aiyong (…): <quote> [1]"


def test_followups_and_document_kinds(engine: Engine) -> None:
    catalog = engine.catalog
    history = [
        {"role": "user", "content": "What was new about Zapad/Interaction-2021 according to Yermakov?"},
        {"role": "assistant", "content": "Russian units exercised with Chinese systems. [1]"},
    ]
    short = analyse("Which Chinese vehicles exactly?", history, catalog)
    assert short.followup and "Zapad/Interaction-2021" in short.text
    assert not analyse("What is PPWT?", history, catalog).followup  # names its own subject
    named = catalog.named_docs("Do Hart and Lin see it the same way?")
    assert named and is_followup("Do Hart and Lin see it the same way?", named, "Do and see it the same way?")
    assert not is_followup(
        "What do Hart and Lin say about exercises in the Arctic?",
        named,
        "What do and say about exercises in the Arctic?",
    )
    assert detect_kind("Which appendix source discusses that concept directly?") == "appendix"
    assert detect_kind("Who wrote the chapter on hybrid warfare?") == "chapter"
    assert detect_kind("What does Bartosh say?") == ""


def test_owners_measures_and_money() -> None:
    assert counted_nation("How many CSTO troops were deployed to Kazakhstan?") == "csto"
    assert counted_nation("How many Russian troops took part in Zapad/Interaction-2021?") == "ru"
    assert counted_nation("How many satellites does BeiDou have?") == ""
    pla = "Zapad/Interaction-2021 involved 13,000 People’s Liberation Army (PLA) troops"
    assert counts(pla, "troop") and counts(pla, "troop", "cn")
    assert not counts(pla, "troop", "ru") and not counts(pla, "troop", "csto")
    assert asked_measure("What is the combat range of the Chinese H-6K bomber?") == "distance"
    assert asked_measure("How fast are Russia and China adding satellites?") == ""  # a rate, not a speed
    assert asks_money("How much money is each country committing to the ILRS?")
    assert asks_money("How much is Sino-Russian military-technical cooperation worth per year?")
    assert not asks_money("How much of the article deals with technical cooperation?")


def test_perspectives_and_biographies(engine: Engine) -> None:
    assert detect_perspective("What do Chinese strategists think of joint exercises?") == "Chinese sources"
    assert detect_perspective("Have Russian and Chinese strategists looked into counter-space weapons?") == ""
    catalog = engine.catalog
    named = catalog.named_docs("What does Patalano argue?")
    assert prefer_biographies(named, "What does Patalano argue?", catalog) == named
    career = prefer_biographies(named, "What are Patalano's areas of expertise?", catalog)
    assert max(career, key=lambda d: career[d]) == "bio-alessio-patalano"
