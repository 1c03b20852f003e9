"""Small text helpers shared by retrieval and answering: normalisation and lexical terms."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from assistant.report import NAME_VARIANTS

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in into
    is it its itself just me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    s t don according say says said tell think thinks view views argue argues argued write
    writes wrote report describe describes described explain explains discuss discusses mention
    mentions what's whats does did do anything much many
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def words(text: str) -> frozenset[str]:
    """A word list written as text."""
    return frozenset(text.split())


_WORD = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower-case and strip accents: 'Pynnöniemi' -> 'pynnoniemi'."""
    if text.isascii():  # nothing to decompose
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def canonical_name(text: str) -> str:
    """Folded name with the report's spelling variants merged: 'Vasiliy Kashin' -> 'vasily kashin'."""
    return " ".join(NAME_VARIANTS.get(w, w) for w in fold(text).split())


def stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def terms(text: str, keep_stopwords: bool = False) -> list[str]:
    """Lexical terms for BM25 and overlap scoring."""
    return list(_terms(text, keep_stopwords))


@lru_cache(maxsize=16384)
def _terms(text: str, keep_stopwords: bool) -> tuple[str, ...]:
    # Every answer scores the sentences of its top passages: remembering the report's sentences'
    # terms took half the CPU time of a warm ask() away.
    words = _WORD.findall(fold(text).replace("’", "'").replace("'s ", " "))
    return tuple(stem(w) for w in words if keep_stopwords or w not in STOPWORDS)


def clean_question(text: str) -> str:
    """Normalise user input: NFKC, no control characters, single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def validate_question(question: object, limit: int) -> str:
    """The cleaned question, or ``InvalidQuestion`` with a one-line reason: the rule that ``ask()``,
    ``search()`` and the LangChain retriever share."""
    from assistant.errors import InvalidQuestion

    if not isinstance(question, str):
        raise InvalidQuestion("The question must be text.")
    typed = len(question.strip())  # what the user typed, checked before any work on it
    if typed > limit:
        raise InvalidQuestion(
            f"The question is too long ({typed:,} characters); please keep it under {limit:,}."
        )
    text = clean_question(question)
    if not text:
        raise InvalidQuestion("Please type a question; this one is empty.")
    if not any(ch.isalnum() for ch in text):
        raise InvalidQuestion("The question has no words in it; please rephrase.")
    return text


_LINK = re.compile(r"\[\[(.+?)\]\((?:https?://[^)\s]+)\)\]|\[([^\[\]]+)\]\((?:https?://[^)\s]+)\)")
_TAG = re.compile(r"</?[a-zA-Z][\w-]*\s*/?>")


def plain(text: str) -> str:
    """The quotation as displayed: the report's words without its Markdown or HTML markup (links,
    emphasis, tags such as ``<excerpt/>``); ``Citation.quote`` keeps the exact characters."""
    text = _LINK.sub(lambda m: m.group(1) or m.group(2), text)
    text = _TAG.sub(" ", text)
    text = re.sub(r"(?<!\w)__(.+?)__(?!\w)", r"\1", text)
    text = re.sub(r"(?<![\w])_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", text)
    text = re.sub(r"(?<![\w*])\*{1,2}(?!\s)(.+?)(?<!\s)\*{1,2}(?![\w*])", r"\1", text)
    text = re.sub(r"_(?=\s|$)|(?<=\s)_", "", text)  # an emphasis mark whose pair lies outside the quote
    return re.sub(r"\s{2,}", " ", text).strip()
