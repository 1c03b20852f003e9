"""The benchmark's baseline: a plain LangChain dense-retrieval chain over the assistant's own
Chroma collection, answered by the same turn function, and the child processes that time its
start and builds (``python -m assistant.evaluation.baseline _ask|_build|_open``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.settings import Settings

if TYPE_CHECKING:
    import numpy as np
    from langchain_core.runnables import Runnable

    from assistant.pipeline import Assistant


# --- the baseline -----------------------------------------------------------------------------
def baseline_chain(bot: Assistant) -> Runnable[str, Any]:
    """A plain LangChain dense-retrieval chain over the assistant's own Chroma collection, feeding
    the same extractive composer and citation enforcement: question -> Answer."""
    import numpy as np
    from langchain_chroma import Chroma
    from langchain_core.runnables import RunnableLambda

    from assistant.answer.turn import Turn, answer
    from assistant.embed import LangChainEmbeddings
    from assistant.retrieve import Filters, Retrieved
    from assistant.store import open_client
    from assistant.types import Passage
    from assistant.understand.query import Query

    kb = bot.knowledge
    index, settings = kb.index, bot.settings

    class Remembering(LangChainEmbeddings):
        """Keeps the query vector the retriever computed, for the composer (no second embed)."""

        last: np.ndarray | None = None

        def embed_query(self, text: str) -> list[float]:
            vector = super().embed_query(text)
            self.last = np.asarray(vector, dtype=np.float32)
            return vector

    embeddings = Remembering(settings.embedding_model)
    store = Chroma(
        client=open_client(settings, index.path / "chroma"),
        collection_name=index.manifest["collection"],
        embedding_function=embeddings,
    )
    retriever = store.as_retriever(search_kwargs={"k": 8})

    def retrieve(question: str) -> dict[str, Any]:
        return {"question": question, "documents": retriever.invoke(question)}

    def compose_answer(state: dict[str, Any]) -> Any:
        qvec = embeddings.last
        assert qvec is not None
        rows = [index.chunk_index(str(d.id)) for d in state["documents"]]
        passages = [
            Passage(
                chunk=index.chunks[i],
                doc=index.docs[index.chunks[i].doc_id],
                score=float(index.chunk_vectors[i] @ qvec),
                rank=r + 1,
            )
            for r, i in enumerate(rows)
        ]
        found = Retrieved(
            passages=passages,
            query_vector=qvec,
            dense={i: p.score for i, p in zip(rows, passages, strict=True)},
        )
        query = Query(question=state["question"], text=state["question"])
        return answer(kb, Turn(question=query.question, query=query, filters=Filters(), found=found))

    return RunnableLambda(retrieve, name="dense_retrieve") | RunnableLambda(
        compose_answer, name="compose_cited_answer"
    )


# --- baseline children (``python -m assistant.evaluation.baseline _ask|_build|_open``) ---
def child_main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit("run the benchmark with: assistant bench (this entry point runs its baseline)")
    settings = Settings()
    if argv[0] == "_ask":
        from assistant.pipeline import Assistant

        print(baseline_chain(Assistant(settings)).invoke(argv[1]).text)
        return 0
    if argv[0] == "_open":
        from langchain_chroma import Chroma

        from assistant.embed import LangChainEmbeddings
        from assistant.store.chroma import local_client

        build_dir = settings.index_dir / "builds" / (settings.index_dir / "CURRENT").read_text().strip()
        manifest = json.loads((build_dir / "manifest.json").read_text())
        store = Chroma(
            client=local_client(build_dir / "chroma"),
            collection_name=manifest["collection"],
            embedding_function=LangChainEmbeddings(settings.embedding_model),
        )
        print(len(store.get(include=[])["ids"]))
        return 0
    if argv[0] == "_build":
        from langchain_chroma import Chroma

        from assistant.corpus.chunk import build_chunks
        from assistant.corpus.parse import parse_report
        from assistant.embed import LangChainEmbeddings, count_tokens
        from assistant.store.chroma import local_client

        report = parse_report(settings.corpus_path)
        model = settings.embedding_model
        chunks = build_chunks(
            report, settings.model_max_tokens, settings.chunk_target_tokens, lambda t: count_tokens(model, t)
        )
        Chroma.from_texts(
            [c.embed_text for c in chunks],
            LangChainEmbeddings(model),
            metadatas=[{"doc_id": c.doc_id, "section": c.section} for c in chunks],
            ids=[c.chunk_id for c in chunks],
            client=local_client(Path(argv[1]) / "chroma"),
            collection_name="baseline",
        )
        return 0
    raise SystemExit(f"unknown benchmark child {argv[0]!r}")


if __name__ == "__main__":
    raise SystemExit(child_main(sys.argv[1:]))
