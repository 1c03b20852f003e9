"""Errors the front ends turn into one-line messages."""


class AssistantError(Exception):
    """Base class: the message is meant for the user, as is."""


class InvalidQuestion(AssistantError):
    """The question is empty, too long, or otherwise unusable."""


class InvalidConversation(AssistantError):
    """A conversation passed in is not a list of ``{"role", "content"}`` messages."""


class InvalidFilter(AssistantError):
    """A filter names an unknown field or value."""


class IndexUnavailable(AssistantError):
    """The index is missing, corrupted, foreign, or its server cannot be reached."""


class CorpusError(AssistantError):
    """The report file is missing or cannot be parsed."""


class MissingExtra(AssistantError, ImportError):
    """An optional backend was chosen without its extra installed; the message names the extra."""
