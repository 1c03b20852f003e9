"""Question understanding: the question (and the conversation) analysed once, with spaCy.

``analyse_question`` gives the typed linguistic analysis (entities, focus, expected answer type,
numbers, dates, scope); ``query.analyse`` adds what the report's catalog knows (named sources,
follow-up resolution) and carries both to retrieval and answering.
"""

from __future__ import annotations

from assistant.understand.nlp import Entity, SentenceFacts, analyse_sentences, load_nlp
from assistant.understand.question import AnswerType, QuestionAnalysis, Scope, analyse_question

__all__ = [
    "AnswerType",
    "Entity",
    "QuestionAnalysis",
    "Scope",
    "SentenceFacts",
    "analyse_question",
    "analyse_sentences",
    "load_nlp",
]
