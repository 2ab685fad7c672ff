"""The LangChain retriever adapter over HybridRetriever.

Documents carry the whole question unit as page_content and, in metadata, what the
chat needs to label, trim and score passages: id, question number, title, section,
fused score, dense cosine, BM25 score, and the best-matching piece (id and text) of a
long unit.
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from coach.retrieve import Hit, HybridRetriever


def hit_to_document(hit: Hit, best_chunk_text: str) -> Document:
    chunk = hit.chunk
    return Document(
        page_content=chunk.text,
        id=chunk.id,
        metadata={
            "id": chunk.id,
            "question": chunk.question,
            "title": chunk.title,
            "section": chunk.section,
            "score": hit.score,
            "dense": hit.dense,
            "bm25": hit.bm25,
            "best_chunk": hit.best_chunk,
            "best_chunk_text": best_chunk_text,
        },
    )


class CoachRetriever(BaseRetriever):
    """`CoachRetriever(retriever=hybrid, k=4).invoke("what is BN?") -> list[Document]`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: HybridRetriever
    k: int = 4
    mode: str = "hybrid"

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        chunks = self.retriever.index.chunks
        return [
            hit_to_document(hit, chunks[hit.best_chunk].text if hit.best_chunk in chunks else hit.chunk.text)
            for hit in self.retriever.search(query, k=self.k, mode=self.mode)
        ]
