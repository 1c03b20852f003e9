"""Chroma clients over a build's local store, with this assistant's model as the embedding
function (Chroma never falls back to its default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.embed import embed


def chroma_settings() -> Any:
    import chromadb

    return chromadb.Settings(anonymized_telemetry=False, allow_reset=False)


def embedding_function(model: str) -> Any:
    """Our model as a Chroma embedding function, so Chroma never falls back to its default."""
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

    class MiniLM(EmbeddingFunction[Documents]):
        def __init__(self, model: str = model) -> None:
            self.model = model

        def __call__(self, input: Documents) -> Embeddings:
            return list(embed(self.model, list(input)))

        @staticmethod
        def name() -> str:
            return "transatlantic-minilm"

        def get_config(self) -> dict[str, Any]:
            return {"model": self.model}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> MiniLM:
            return MiniLM(config["model"])

    return MiniLM()


def local_client(path: Path) -> Any:
    """The Chroma store inside a build directory."""
    import chromadb

    return chromadb.PersistentClient(path=str(path), settings=chroma_settings())
