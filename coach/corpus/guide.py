"""Parse an interview guide (numbered Q&A) into question units.

The guide's shape: section headings, then questions `N. Title` at column 0, each
followed by its answer. Traps this parser handles (see corpus/README.md):
numbered steps inside answers are indented, so only column-0 numbers start a
question; code was flattened onto the line after a lone `Python`, and is kept
whole as a fenced block; callouts (`ℹ️` + "This question was asked at ...") and
marketing lines are dropped; duplicate questions become one unit with aliases;
long answers also get sub-chunks `q17.1`, `q17.2` at paragraph boundaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from coach.corpus.model import GUIDE_TEXT, QUESTION, SUBCHUNK, Chunk, question_id

CHUNKER_VERSION = "guide-4"
SUBCHUNK_WORDS = 170  # answers longer than this also get sub-chunks of about this size

_QUESTION_LINE = re.compile(r"^(\d{1,3})\.\s+(\S.*)$")
_CODE_MARKERS = {"python", "bash", "javascript", "sql", "java", "c++"}
_CALLOUT_MARKERS = {"ℹ️", "👋", "💡", "⚠️"}
# Lines that sell rather than teach. Matched case-insensitively anywhere in a line.
_MARKETING = re.compile(
    r"\bexponent\b|sneak peek|^- watch |^watch an? |last updated|create your free account|"
    r"learn everything you need|this guide (is an excerpt|was written)|interview prep platform",
    re.IGNORECASE,
)
_CALLOUT_TEXT = re.compile(r"^(this (interview )?question was asked|watch an? )", re.IGNORECASE)
_SMALL_WORDS = {"and", "or", "of", "the", "a", "an", "in", "for", "to", "on", "with"}


@dataclass
class _Block:
    """A question or a run of non-question text being collected."""

    kind: str
    title: str
    section: str
    start: int
    number: int | None = None
    paragraphs: list[tuple[int, int, str]] = field(default_factory=list)  # (first, last line, text)
    end: int = 0


def looks_like_guide(text: str) -> bool:
    """True when the text has at least three column-0 numbered questions."""
    return sum(1 for line in text.splitlines() if _QUESTION_LINE.match(line)) >= 3


def _is_heading(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    words = line.split()
    if not 1 <= len(words) <= 5 or line.lower() in _CODE_MARKERS or lines[i] != line:
        return False
    if line[-1] in ".:?!,;)" or any(ch.isdigit() for ch in line):
        return False
    if not all(w[0].isupper() or w in _SMALL_WORDS for w in words):
        return False
    before = i == 0 or not lines[i - 1].strip()
    after = i + 1 >= len(lines) or not lines[i + 1].strip() or bool(_MARKETING.search(lines[i + 1]))
    return before and after


def _clean_item(line: str) -> str:
    """Bullets become '- ', indented numbered steps keep their number."""
    stripped = line.strip()
    stripped = re.sub(r"^[•·▪●◦]\s*", "- ", stripped)
    return re.sub(r"\s+", " ", stripped)


def parse_guide(text: str, source: str = "guide.txt") -> list[Chunk]:
    """Return the question units, sub-chunks and guide-text chunks of a guide."""
    lines = text.splitlines()
    blocks: list[_Block] = []
    section = ""
    current: _Block | None = None
    title_seen = False
    i = 0
    while i < len(lines):
        raw = lines[i]
        line = raw.strip()
        lineno = i + 1
        if not line:
            i += 1
            continue
        if not title_seen:
            title_seen = True  # the document title itself is not content
            i += 1
            continue
        if line in _CALLOUT_MARKERS:
            i += 2 if i + 1 < len(lines) and _CALLOUT_TEXT.match(lines[i + 1].strip()) else 1
            continue
        if _MARKETING.search(line) or _CALLOUT_TEXT.match(line):
            i += 1
            continue
        match = _QUESTION_LINE.match(raw)
        if match:
            current = _Block(QUESTION, match.group(2).strip(), section, lineno, int(match.group(1)))
            current.end = lineno
            blocks.append(current)
            i += 1
            continue
        if _is_heading(lines, i):
            section = line
            current = None
            i += 1
            continue
        if current is None:
            current = _Block(GUIDE_TEXT, section or "Introduction", section, lineno)
            blocks.append(current)
        if line.lower() in _CODE_MARKERS and i + 1 < len(lines) and lines[i + 1].strip():
            code = lines[i + 1].strip()
            current.paragraphs.append((lineno, lineno + 1, f"```{line.lower()}\n{code}\n```"))
            current.end = i + 2
            i += 2
            continue
        current.paragraphs.append((lineno, lineno, _clean_item(raw)))
        current.end = lineno
        i += 1
    return _to_chunks(blocks, source)


def _to_chunks(blocks: list[_Block], source: str) -> list[Chunk]:
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}  # normalised content -> index of the unit in `chunks`
    text_counter: dict[str, int] = {}
    for block in blocks:
        body = "\n".join(text for _, _, text in block.paragraphs).strip()
        if block.kind == QUESTION:
            assert block.number is not None
            key = _normalise(block.title + " " + body)
            if key in seen:  # a repeated question: one unit, answerable by both numbers
                first = chunks[seen[key]]
                chunks[seen[key]] = replace(first, aliases=first.aliases + (block.number,))
                continue
            unit = Chunk(
                id=question_id(block.number),
                kind=QUESTION,
                title=block.title,
                section=block.section,
                text=body,
                source=source,
                span=(block.start, block.end),
                question=block.number,
            )
            seen[key] = len(chunks)
            chunks.append(unit)
            chunks.extend(_subchunks(unit, block.paragraphs))
        elif body:
            prefix = "tips" if "tip" in block.section.lower() else "intro"
            text_counter[prefix] = text_counter.get(prefix, 0) + 1
            chunks.append(
                Chunk(
                    id=f"{prefix}-{text_counter[prefix]}",
                    kind=GUIDE_TEXT,
                    title=block.section or "Introduction",
                    section=block.section or "Introduction",
                    text=body,
                    source=source,
                    span=(block.start, block.end),
                )
            )
    # Sub-chunks were appended before a later duplicate could add aliases; refresh them.
    units = {c.id: c for c in chunks if c.kind == QUESTION}
    return [
        replace(c, aliases=units[c.parent].aliases) if c.kind == SUBCHUNK and c.parent else c
        for c in chunks
    ]


def _subchunks(unit: Chunk, paragraphs: list[tuple[int, int, str]]) -> list[Chunk]:
    """Split a long answer at paragraph boundaries; code blocks are never cut."""
    if len(unit.text.split()) <= SUBCHUNK_WORDS:
        return []
    pieces: list[list[tuple[int, int, str]]] = [[]]
    words = 0
    for paragraph in paragraphs:
        size = len(paragraph[2].split())
        if pieces[-1] and words + size > SUBCHUNK_WORDS:
            pieces.append([])
            words = 0
        pieces[-1].append(paragraph)
        words += size
    # A short tail reads better as part of the piece before it.
    if len(pieces) >= 2 and sum(len(p[2].split()) for p in pieces[-1]) < SUBCHUNK_WORDS // 3:
        pieces[-2].extend(pieces.pop())
    if len(pieces) < 2:
        return []
    return [
        Chunk(
            id=f"{unit.id}.{n}",
            kind=SUBCHUNK,
            title=unit.title,
            section=unit.section,
            text="\n".join(text for _, _, text in piece),
            source=unit.source,
            span=(piece[0][0], piece[-1][1]),
            question=unit.question,
            parent=unit.id,
        )
        for n, piece in enumerate(pieces, start=1)
    ]


def _normalise(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def load_guide(path: Path) -> list[Chunk]:
    return parse_guide(path.read_text(encoding="utf-8"), source=path.name)
