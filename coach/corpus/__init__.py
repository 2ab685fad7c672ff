"""Text in, Chunk objects out: the guide's Q&A structure or a user's documents."""

from __future__ import annotations

import hashlib
from pathlib import Path

from coach.corpus.documents import DOCUMENT_SUFFIXES, chunk_document, document_id_prefix, read_document_text
from coach.corpus.guide import CHUNKER_VERSION, looks_like_guide, parse_guide
from coach.corpus.model import DOCUMENT, GUIDE_TEXT, QUESTION, SUBCHUNK, Chunk, question_id
from coach.errors import CorpusError

__all__ = [
    "Chunk", "QUESTION", "SUBCHUNK", "GUIDE_TEXT", "DOCUMENT", "CHUNKER_VERSION",
    "load_corpus", "corpus_files", "corpus_hash", "question_id",
]


def corpus_files(path: Path) -> list[Path]:
    """The files a corpus path stands for: one file, or every document in a folder."""
    if not path.exists():
        raise CorpusError(f"Corpus path {path} does not exist. Point corpus_path (COACH_CORPUS_PATH) at a file or folder.")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES)
    files = [p for p in files if p.name.lower() != "readme.md"]  # a folder's README describes it
    if not files:
        raise CorpusError(f"No .txt, .md or .pdf documents found in {path}.")
    return files


def corpus_hash(path: Path) -> str:
    """Content hash of the corpus; the index manifest records it to detect staleness."""
    digest = hashlib.sha256()
    base = path if path.is_dir() else path.parent
    for file in corpus_files(path):
        digest.update(str(file.relative_to(base)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def load_corpus(path: Path) -> list[Chunk]:
    """Parse every file: guide-shaped text by its Q&A structure, the rest by headings."""
    chunks: list[Chunk] = []
    base = path if path.is_dir() else path.parent
    for file in corpus_files(path):
        text = read_document_text(file)
        source = str(file.relative_to(base))
        if looks_like_guide(text):
            chunks.extend(parse_guide(text, source=source))
        else:
            chunks.extend(chunk_document(text, source, document_id_prefix(file)))
    ids = [c.id for c in chunks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CorpusError(
            f"Two documents produce the same chunk ids ({', '.join(duplicates[:5])}); "
            "keep one guide-shaped file per corpus or rename a file."
        )
    if not chunks:
        raise CorpusError(f"The corpus at {path} has no text to index.")
    return chunks
