"""Parse, validate and verify citations against the passages an answer was given.

Pure functions. The small model cites badly (ids it was never shown, quotes it made
up, or nothing at all), so nothing it writes about sources is trusted as is:
- ids not among the retrieved passages are stripped and reported;
- a quotation attributed to a citation must appear in the cited passage, else it
  loses its quotation marks and stays a plain id citation;
- sentences can be matched to passages by lexical support when the model cited nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from coach.lexical import tokenize

# A citation id as the model may write it: starts with a letter, ends in a number, with an
# optional sub-chunk suffix: q04, Q4, q17.2, intro-1, notes-md-3.
_ID = r"[A-Za-z][A-Za-z0-9_\-]*?\d+(?:\.\d+)?"
_PREFIX = r"(?:(?:source|sources|passage|passages|see|ref|id)\s*:?\s*)?"
_GROUP = re.compile(rf"\[\s*{_PREFIX}({_ID}(?:\s*[,;]\s*{_PREFIX}{_ID})*)\s*\]", re.IGNORECASE)
_SPLIT_IDS = re.compile(rf"\s*[,;]\s*{_PREFIX}", re.IGNORECASE)
_STRIP_PREFIX = re.compile(rf"^{_PREFIX}", re.IGNORECASE)
_QUOTE = re.compile(r"\"([^\"]{2,400})\"|\u201c([^\u201d]{2,400})\u201d")
_SUBCHUNK = re.compile(r"\.\d+$")
# Between a quote and the citation that follows it: punctuation and spaces only.
_QUOTE_TO_GROUP = re.compile(r"^[\s,.;:!?)\-\u2013\u2014]*$")
# Between a citation and a quote after it ("[q04] says: "..."): a few words, one sentence.
_GROUP_TO_QUOTE = re.compile(r"^[^.!?\n\[\]\"]{0,40}$")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\u201d]*\s+(?=[\"'(\u201c]?[A-Z0-9])|\n+")

SUPPORT_THRESHOLD = 0.6  # see sentence_support: hand-labelled SmolLM2 answer sentences scored >= 0.72 when
# taken from the passage and <= 0.58 when invented
MIN_TERMS = 3  # sentences with fewer content terms are too short to judge


@dataclass(frozen=True)
class CitationGroup:
    """One bracketed citation in the text, e.g. "[q04, q17.2]"."""

    start: int
    end: int
    ids: tuple[str, ...]  # canonical ids as written ("q17.2")


@dataclass(frozen=True)
class QuoteCheck:
    quote: str
    cited: tuple[str, ...]  # unit ids the quote was attributed to
    verified: bool  # found verbatim (after normalisation) in one of them


@dataclass(frozen=True)
class CitationReport:
    text: str  # the answer with invented ids removed and unverified quotes unquoted
    citations: tuple[str, ...]  # valid unit ids in order of first use
    removed: tuple[str, ...]  # invented ids, as the model wrote them (canonical form)
    quotes: tuple[QuoteCheck, ...]

    @property
    def has_valid_citation(self) -> bool:
        return bool(self.citations)

    @property
    def unverified_quotes(self) -> tuple[QuoteCheck, ...]:
        return tuple(q for q in self.quotes if not q.verified)


def canonical_id(raw: str) -> str:
    """'Q4' -> 'q04', 'q17.2' stays, 'Intro-1' -> 'intro-1'."""
    cid = _STRIP_PREFIX.sub("", raw.strip()).lower()
    match = re.fullmatch(r"q(\d+)((?:\.\d+)?)", cid)
    if match:
        return f"q{int(match.group(1)):02d}{match.group(2)}"
    return cid


def unit_of(cid: str) -> str:
    """A sub-chunk citation counts for its question: 'q17.2' -> 'q17'."""
    return _SUBCHUNK.sub("", cid)


def parse_citations(text: str) -> list[CitationGroup]:
    """Every bracketed citation group in `text`, in order."""
    groups = []
    for match in _GROUP.finditer(text):
        ids = tuple(canonical_id(part) for part in _SPLIT_IDS.split(match.group(1)) if part.strip())
        groups.append(CitationGroup(match.start(), match.end(), ids))
    return groups


def cited_ids(text: str) -> list[str]:
    """Unit ids cited in `text`, in order of first use, unvalidated."""
    return list(dict.fromkeys(unit_of(cid) for group in parse_citations(text) for cid in group.ids))


def normalise(text: str) -> str:
    """For quote matching: case, whitespace, typographic quotes and dashes don't count."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.translate(str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                                         "\u2013": "-", "\u2014": "-", "\u2022": " "}))
    return " ".join(text.split())


def _resolve(cid: str, passage_ids: set[str]) -> str | None:
    if cid in passage_ids:
        return cid
    unit = unit_of(cid)
    return unit if unit in passage_ids else None


def _remove_invented(text: str, passage_ids: set[str]) -> tuple[str, list[str]]:
    """Rewrite each group to its valid unit ids; drop groups with none."""
    out, removed, last = [], [], 0
    for group in parse_citations(text):
        valid = []
        for cid in group.ids:
            unit = _resolve(cid, passage_ids)
            if unit is None:
                removed.append(cid)
            elif unit not in valid:
                valid.append(unit)
        before = text[last:group.start]
        if valid:
            out.append(before + "[" + ", ".join(valid) + "]")
        else:
            out.append(before.rstrip(" ") if text[group.end:group.end + 1] in {"", ".", ",", ";", ":", "!", "?", "\n"} else before)
        last = group.end
    out.append(text[last:])
    return "".join(out), list(dict.fromkeys(removed))


def _attributed_group(text: str, start: int, end: int, groups: list[CitationGroup]) -> CitationGroup | None:
    """The citation a quote is attributed to: right after it, else just before it."""
    for group in groups:
        if group.start >= end:
            return group if _QUOTE_TO_GROUP.match(text[end:group.start]) else None
    for group in reversed(groups):
        if group.end <= start:
            return group if _GROUP_TO_QUOTE.match(text[group.end:start]) else None
    return None


def _check_quotes(text: str, passages: Mapping[str, str]) -> tuple[str, list[QuoteCheck]]:
    groups = parse_citations(text)
    normalised = {pid: normalise(body) for pid, body in passages.items()}
    out, checks, last = [], [], 0
    for match in _QUOTE.finditer(text):
        quote = match.group(1) if match.group(1) is not None else match.group(2)
        group = _attributed_group(text, match.start(), match.end(), groups)
        if group is None:
            continue  # an unattributed quote ("hill") makes no claim about a source
        cited = tuple(dict.fromkeys(unit_of(cid) for cid in group.ids))
        needle = normalise(quote).strip(" .,;:!?'\"\u2026").removesuffix("...").strip()
        verified = bool(needle) and any(needle in normalised.get(cid, "") for cid in cited)
        checks.append(QuoteCheck(quote, cited, verified))
        if not verified:
            # Not verbatim: keep the words, drop the claim that they are the guide's words.
            out.append(text[last:match.start()] + quote)
            last = match.end()
    out.append(text[last:])
    return "".join(out), checks


def validate_citations(text: str, passages: Mapping[str, str]) -> CitationReport:
    """Check an answer's citations against the passages it was given ({unit id: full text})."""
    passage_ids = set(passages)
    cleaned, removed = _remove_invented(text, passage_ids)
    cleaned, quotes = _check_quotes(cleaned, passages)
    return CitationReport(cleaned, tuple(cited_ids(cleaned)), tuple(removed), tuple(quotes))


def split_sentences(text: str) -> list[str]:
    """Sentences of an answer; a trailing citation stays with the sentence before it."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def strip_citations(text: str) -> str:
    return " ".join(_GROUP.sub(" ", text).split())


def _terms(text: str) -> list[str]:
    return tokenize(strip_citations(text))


def sentence_support(sentence: str, passage: str) -> float | None:
    """How much of a sentence a passage accounts for; None if too short to judge.

    The mean of two recalls of the sentence's content: its stemmed content words found
    in the passage, and its adjacent content-word pairs found as pairs in the passage.
    Words alone let a sentence built from the passage's vocabulary but saying something
    else pass; pairs catch much of that ("reduce computational complexity" is not in a
    passage on batch normalization even though each topic word is).
    """
    words = _terms(sentence)
    if len(words) < MIN_TERMS:
        return None
    source = _terms(passage)
    source_words = set(source)
    source_pairs = set(zip(source, source[1:], strict=False))
    pairs = list(zip(words, words[1:], strict=False))
    word_recall = sum(w in source_words for w in words) / len(words)
    pair_recall = sum(p in source_pairs for p in pairs) / len(pairs)
    return (word_recall + pair_recall) / 2


def best_support(sentence: str, passages: Mapping[str, str]) -> tuple[str | None, float | None]:
    """The passage that supports a sentence most, with its support (ties: first passage)."""
    best_id, best = None, None
    for pid, body in passages.items():
        value = sentence_support(sentence, body)
        if value is not None and (best is None or value > best):
            best_id, best = pid, value
    return best_id, best


def attach_supported_citations(text: str, passages: Mapping[str, str], threshold: float = SUPPORT_THRESHOLD) -> tuple[str, tuple[str, ...]]:
    """Cite each sentence with the passage that supports it (support >= threshold).

    Used when the model cited nothing valid; sentences no passage supports stay uncited.
    Returns the new text and the ids attached.
    """
    lines, attached = [], []
    for line in text.splitlines():
        out = []
        for sentence in split_sentences(line):
            pid, value = best_support(sentence, passages)
            if pid is not None and value is not None and value >= threshold:
                sentence = _append_citation(sentence, pid)
                attached.append(pid)
            out.append(sentence)
        lines.append(" ".join(out))
    return "\n".join(lines).strip(), tuple(dict.fromkeys(attached))


def _append_citation(sentence: str, pid: str) -> str:
    stripped = sentence.rstrip()
    if stripped and stripped[-1] in ".!?":
        return f"{stripped[:-1]} [{pid}]{stripped[-1]}"
    return f"{stripped} [{pid}]"


def supported_sentences(text: str, passages: Mapping[str, str], threshold: float = SUPPORT_THRESHOLD) -> tuple[int, int]:
    """(supported, judged): sentences supported by a passage they cite.

    A sentence is judged against the passages it cites itself, else against every passage
    the answer cites (models often cite once per paragraph). Sentences too short to judge,
    and answers that cite nothing, contribute nothing to `judged`.
    """
    answer_cites = [c for c in cited_ids(text) if c in passages]
    supported = judged = 0
    for sentence in split_sentences(text):
        own = [c for c in cited_ids(sentence) if c in passages]
        sources = own or answer_cites
        if not sources:
            continue
        values = [v for v in (sentence_support(sentence, passages[c]) for c in sources) if v is not None]
        if not values:
            continue
        judged += 1
        supported += max(values) >= threshold
    return supported, judged
