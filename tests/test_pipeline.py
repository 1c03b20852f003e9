"""The public API end to end on the real model, store and report."""

from __future__ import annotations

import json
import re

import pytest
from langchain_core.runnables import Runnable

from assistant import Answer, Assistant, InvalidQuestion
from assistant.citations import check
from assistant.report import ABSTAIN_TEXT
from assistant.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

VARIED = [
    "What did Russia agree to sell China in 2015?",
    "Why did Chinese interest in Russian military technology fall in the mid-2000s?",
    "What is the International Lunar Research Station?",
    "How do Russian experts describe the Sino-Russian partnership?",
    "What are battalion tactical groups and why does Jian Feng discuss them?",
    "What role did the Zapad/Interaction-2021 exercise play?",
    "What does Pynnöniemi say about mental warfare?",
    "How does Patalano describe gray zone tactics?",
    "What is the BeiDou-GLONASS cooperation?",
    "What did Xi and Putin announce in February 2022?",
    "Why does China participate in joint exercises with Russia?",
    "What limits technology transfers between Russia and China?",
    "What did Vinokurov write about a military alliance?",
    "How do Chinese scholars see color revolutions?",
    "What does the report say about cyber sovereignty?",
    "How much did Russia sell China in military goods in 2016?",
    "What is the RD-180 engine deal?",
    "Who is Meia Nouwens?",
    "Who wrote the chapter on space cooperation from a Chinese perspective?",
    "When was the Yermakov article published?",
    "Where was Li Shuyin's article published?",
    "What is the original Russian title of Armed Friendship?",
    "What is the link to the Bartosh article on hybrid war?",
    "How does the war in Ukraine affect Sino-Russian alignment?",
    "What are the implications for NATO?",
    "Did China condemn Russia's invasion of Ukraine?",
    "What is the global hybrid war concept?",
    "How does Russia view China's space program?",
    "What happened during the 2019 joint air patrol?",
    "Is there a military alliance between Russia and China?",
]


def test_acceptance_who_wrote_the_chinese_exercises_chapter(bot: Assistant) -> None:
    ans = bot.ask("Who wrote the chapter on Chinese views of joint exercises with Russia?")
    assert "Brian Hart" in ans.text and "Bonny Lin" in ans.text
    assert (
        ans.citations
        and ans.citations[0].title == "Chinese Strategic Views on Joint Military Exercises with Russia"
    )


def test_acceptance_gabuev_and_kashin_cite_armed_friendship(bot: Assistant) -> None:
    ans = bot.ask("What do Gabuev and Kashin say about the 2015 sales?")
    assert not ans.abstained
    cited = {(c.authors, c.title, c.publication, c.date) for c in ans.citations}
    assert (
        "Alexander Gabuev and Vasily Kashin",
        "Armed Friendship: How Russia and China Trade Arms",
        "Moscow: Carnegie Moscow Center",
        "November 2, 2017",
    ) in cited


@pytest.mark.parametrize(
    "question",
    [
        "What was the 2030 US defense budget?",
        "What does the report say about Venezuela's oil exports?",
        "How many aircraft carriers will India build by 2040?",
    ],
)
def test_acceptance_abstains_on_what_the_report_does_not_cover(bot: Assistant, question: str) -> None:
    ans = bot.ask(question)
    assert ans.abstained
    assert ans.text.startswith(ABSTAIN_TEXT)
    # what it cites, if anything, is what the report does say on the topic, and holds like any citation
    assert check(ans, bot.corpus) == [] and len(re.findall(r"\[\d+\]", ans.text)) == len(ans.citations)
    assert ans.related and all(p.doc.title for p in ans.related)


def test_every_marker_resolves_and_every_quote_is_verbatim(bot: Assistant, corpus_text: str) -> None:
    answered = 0
    for question in VARIED:
        ans = bot.ask(question)
        assert check(ans, corpus_text) == [], question
        if not ans.abstained:
            answered += 1
            assert ans.citations, question
            for sentence in re.split(r"(?<=\])\s+", ans.text):
                assert re.search(r"\[\d+\]", sentence), f"uncited sentence in answer to {question!r}"
    assert answered >= len(VARIED) - 3


def test_answers_to_the_benchmark_questions_all_hold(bot: Assistant, corpus_text: str) -> None:
    """Citation validity over the whole question set, follow-ups with their history included."""

    path = PROJECT_ROOT / "evals" / "questions.jsonl"
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(items) >= 200
    for item in items:
        ans = bot.ask(item["question"], history=item["history"])
        assert check(ans, corpus_text) == [], item["id"]


@pytest.mark.parametrize("question", VARIED[:8])
def test_a_word_budget_keeps_the_best_quotation_whole_and_shortens_the_rest(
    bot: Assistant, corpus_text: str, question: str
) -> None:
    """With ``answer_words`` set, the best quotation leads as it does without a budget and the rest
    stays within the budget, in whole sentences of the same passages."""
    unlimited = bot.ask(question)
    short = Assistant(bot.settings.model_copy(update={"answer_words": 60})).ask(question)
    assert check(short, corpus_text) == []
    if unlimited.abstained:
        assert short.abstained
        return
    # the same lead (without a budget a later choice from the same paragraph may merge into it)
    assert short.citations[0].quote in unlimited.citations[0].quote
    words = [len(c.quote.split()) for c in short.citations]
    assert len(words) == 1 or sum(words) <= 60, words
    # the same chosen sentences, fewer of their neighbours: each quotation lies inside one of the
    # unlimited answer's quotations of the same passage
    for c in short.citations:
        assert any(c.chunk_id == u.chunk_id and c.quote in u.quote for u in unlimited.citations), c.quote


def test_answer_shape_and_json(bot: Assistant) -> None:
    ans = bot.ask("What did Russia agree to sell China in 2015?")
    assert isinstance(ans, Answer) and not ans.abstained
    c = ans.citations[0]
    assert c.number == 1 and c.kind in ("summary", "chapter", "appendix", "bio")
    for name in (
        "chunk_id",
        "authors",
        "title",
        "original_title",
        "publication",
        "date",
        "url",
        "language",
        "area",
        "section",
        "quote",
    ):
        assert isinstance(getattr(c, name), str)
    data = json.loads(json.dumps(ans.to_dict()))
    assert data["citations"][0]["quote"] == c.quote and data["abstained"] is False


def test_metadata_answers(bot: Assistant) -> None:
    published = bot.ask("When and where was Armed Friendship published?")
    assert "Carnegie Moscow Center" in published.text and "November 2, 2017" in published.text
    original = bot.ask("What is the original title of the Li Shuyin article?")
    assert "对中俄军事合作的历史考察与思考" in original.text
    bio = bot.ask("Who is Katri Pynnöniemi?")
    assert "University of Helsinki" in bio.text and bio.citations[0].kind == "bio"
    paper = bot.ask("Who wrote The Paper's interview on the joint exercise?")
    assert "no author" in paper.text
    corrected = bot.ask("What is the Chinese title of Wang Chensheng's article on color revolutions?")
    assert "关于中俄共同防范“颜色革命”的思考" in corrected.text


def test_follow_up_questions_use_the_history(bot: Assistant) -> None:
    first = bot.ask("What do Gabuev and Kashin say about the S-400 sale?")
    history = [
        {"role": "user", "content": "What do Gabuev and Kashin say about the S-400 sale?"},
        {"role": "assistant", "content": first.text},
    ]
    when = bot.ask("When was that published?", history=history)
    assert "November 2, 2017" in when.text
    chinese = bot.ask("And what do the Chinese authors say about arms sales?", history=history)
    assert any(c.language == "Chinese" or "Chinese" in c.title for c in chinese.citations)


@pytest.mark.parametrize("question", ["", "   \n\t ", "x" * 100_000, "?!?!", None, 42])
def test_bad_questions_get_clear_errors(bot: Assistant, question: object) -> None:
    with pytest.raises(InvalidQuestion) as err:
        bot.ask(question)  # type: ignore[arg-type]
    assert len(str(err.value)) < 120 and "Traceback" not in str(err.value)


@pytest.mark.parametrize(
    "question",
    [
        "Wh\u0430t did Russi\u0430 sell Chin\u0430?",  # Cyrillic look-alike letters
        "S\u200b-400\u202e sale\x00 in 2015?",
        "中俄联演 exercise highlights",
        "Что Россия продала Китаю?",
        "<script>alert(1)</script> What is the ILRS?",
        "🚀🛰️ space cooperation 🚀",
        "'; DROP TABLE chunks; -- arms sales",
    ],
)
def test_odd_unicode_and_injection_text_gives_valid_answers(
    bot: Assistant, corpus_text: str, question: str
) -> None:
    ans = bot.ask(question)
    assert check(ans, corpus_text) == []


def test_chain_is_an_lcel_runnable(bot: Assistant) -> None:
    assert isinstance(bot.chain, Runnable)
    ans = bot.chain.invoke({"question": "What is the ILRS?"})
    assert isinstance(ans, Answer) and ans.citations
    batch = bot.chain.batch([{"question": "What is the ILRS?"}, {"question": "Who is Bonny Lin?"}])
    assert [a.question for a in batch] == ["What is the ILRS?", "Who is Bonny Lin?"]


def test_filters_restrict_citations(bot: Assistant) -> None:
    ans = bot.ask("What do the sources say about joint exercises?", filters={"language": "Chinese"})
    assert ans.citations and all(c.language == "Chinese" for c in ans.citations)


def test_filters_that_exclude_the_answer_are_explained(bot, corpus_text: str) -> None:  # type: ignore[no-untyped-def]
    from assistant.citations import check

    question = "What did Russia agree to sell China in 2015?"
    wide = bot.ask(question, filters={"area": "space and cyber"})
    assert not wide.abstained and wide.citations and check(wide, corpus_text) == []
    assert wide.text.startswith(
        "Nothing in the space and cyber area addresses this question; the rest of the report does:"
    )
    assert "The filters (the space and cyber area)" in wide.notice
    assert all(c.area != "space and cyber" for c in wide.citations)  # the sources lie outside them
    one = bot.ask(question, filters={"doc_id": "ch6"})
    assert one.text.startswith("Nothing in “") and one.citations
    # filters that do hold the answer answer as before; a question nothing answers still abstains
    inside = bot.ask("What is the ILRS?", filters={"area": "space and cyber"})
    assert not inside.text.startswith("Nothing in") and not inside.notice
    nowhere = bot.ask("Who is the mayor of Shanghai?", filters={"area": "space and cyber"})
    assert nowhere.abstained and not nowhere.notice
