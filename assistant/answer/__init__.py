"""Answering: one turn's answer (turn) from metadata answers, the extractive composer with its
answerability model and abstentions, generated answers, and the perspective comparison."""
