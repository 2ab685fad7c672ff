"""Chunk a user's own documents (.md, .txt, .pdf) by headings and paragraphs."""

from __future__ import annotations

import re
from pathlib import Path

from coach.corpus.model import DOCUMENT, Chunk
from coach.errors import CorpusError

DOCUMENT_SUFFIXES = {".md", ".markdown", ".txt", ".pdf"}
TARGET_WORDS = 180  # paragraphs are packed into pieces of about this many words

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def document_id_prefix(path: Path) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "doc"
    return f"{slug}-{path.suffix.lstrip('.').lower() or 'txt'}"


def read_document_text(path: Path) -> str:
    if path.suffix.lower() == ".pdf":
        try:
            from pypdf import PdfReader  # optional: only needed for PDF documents
        except ImportError:
            raise CorpusError(
                f"{path.name}: reading PDF needs the 'pypdf' package (pip install pypdf), "
                "or convert it to .txt/.md."
            ) from None
        try:
            return "\n\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
        except Exception as exc:  # pypdf raises many types for damaged files
            raise CorpusError(f"{path.name}: cannot read this PDF ({exc}).") from None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return path.read_text(encoding="latin-1")


def chunk_document(text: str, source: str, prefix: str) -> list[Chunk]:
    """Split at Markdown headings, then pack paragraphs into ~TARGET_WORDS pieces."""
    chunks: list[Chunk] = []
    heading = Path(source).stem
    pending: list[tuple[int, str]] = []  # (line number, paragraph)
    paragraph: list[str] = []
    start = 0

    def end_paragraph(lineno: int) -> None:
        nonlocal paragraph
        if paragraph:
            pending.append((start, " ".join(paragraph)))
            paragraph = []

    def flush() -> None:
        words = 0
        piece: list[tuple[int, str]] = []
        for item in pending + [(-1, "")]:
            size = len(item[1].split())
            if item[0] == -1 or (piece and words + size > TARGET_WORDS):
                if piece:
                    chunks.append(
                        Chunk(
                            id=f"{prefix}-{len(chunks) + 1}",
                            kind=DOCUMENT,
                            title=heading,
                            section=heading,
                            text="\n\n".join(p for _, p in piece),
                            source=source,
                            span=(piece[0][0], piece[-1][0]),
                        )
                    )
                piece, words = [], 0
            if item[0] != -1:
                piece.append(item)
                words += size
        pending.clear()

    for lineno, line in enumerate(text.splitlines(), start=1):
        match = _MD_HEADING.match(line)
        if match:
            end_paragraph(lineno)
            flush()
            heading = match.group(2).strip()
            continue
        if not line.strip():
            end_paragraph(lineno)
            continue
        if not paragraph:
            start = lineno
        paragraph.append(line.strip())
    end_paragraph(len(text.splitlines()))
    flush()
    return chunks


def load_documents(folder: Path) -> list[Chunk]:
    chunks: list[Chunk] = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in DOCUMENT_SUFFIXES:
            text = read_document_text(path)
            chunks.extend(chunk_document(text, str(path.relative_to(folder)), document_id_prefix(path)))
    return chunks
