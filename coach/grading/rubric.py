"""Key points: what a good answer says, taken statement by statement from the guide's answer.

A guide answer is lines (see coach/corpus/guide.py): paragraphs, bullets ("- "), numbered
steps ("1. "), lead-ins ending in ":" and fenced code. Each statement becomes a KeyPoint
with the verbatim sentence as its quote and the sub-chunk it lives in as its citation.
Lead-ins are not points themselves but give the bullets under them their context, and a
run of fragment bullets ("StepLR," "MultiStepLR,") becomes one point, since no single
fragment is a statement. Pure functions: the same text always gives the same rubric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coach.corpus import Chunk
from coach.grading.model import KeyPoint
from coach.grading.text import normalise_space, split_sentences, words

# Weights: what the answer must say counts more than how the guide illustrates it.
WEIGHTS = {"definition": 1.5, "bullet": 1.2, "step": 1.0, "statement": 1.0, "example": 0.5, "code": 0.6}
CODE_ONLY_WEIGHT = 1.0  # when code is all the guide's answer has, it is the answer
FRAGMENT_WORDS = 4  # bullets this short are list items, not statements
MAX_CLAUSE_WORDS = 28  # reference sentences longer than this are split at ";"

_BULLET = re.compile(r"^-\s+(.*)$")
_STEP = re.compile(r"^(\d{1,2})\.\s+(.*)$")
_LABEL = re.compile(r"^([^:.]{2,60}):\s+(\S.*)$")  # "Data augmentation: Enhancing ..."
_EXAMPLE = re.compile(r"^(for (example|instance)|e\.g\.|as an example|in the same example)\b", re.IGNORECASE)
_FILLER = re.compile(
    r"^(here'?s|here is|below is|the following|example( implementation| of)?\b.*:?$|"
    r"(the )?steps include|steps to implement)",
    re.IGNORECASE,
)
_CALL = re.compile(r"([A-Za-z_][\w.]*)\(")
_BORING_CALLS = {"print", "range", "len", "zip", "int", "float", "str", "list", "dict", "super", "format"}


@dataclass(frozen=True)
class _Statement:
    text: str  # what the point says
    quote: str  # verbatim guide text
    context: str  # what is matched against answers: lead-in or bullet subject + text
    kind: str  # a WEIGHTS key


def _is_filler(sentence: str) -> bool:
    if sentence.endswith(":") or _FILLER.match(sentence):
        return True
    tokens = sentence.split()
    alphabetic = sum(1 for t in tokens if re.search(r"[A-Za-z]{2,}", t))
    return not tokens or alphabetic / len(tokens) < 0.5  # arithmetic like "3 × 1 + 5 × 0 = ..."


def _code_statement(code: str, lang: str) -> _Statement:
    calls = []
    for name in _CALL.findall(code):
        if name.split(".")[-1] not in _BORING_CALLS and name not in calls:
            calls.append(name)
    what = f"Code ({lang})" + (f" using {', '.join(calls[:6])}" if calls else "")
    quote = code if len(code) <= 300 else code[:297] + "..."
    return _Statement(what, quote, f"{what}\n{code[:600]}", "code")


def _sentence_kind(sentence: str, default: str) -> str:
    return "example" if _EXAMPLE.match(sentence) else default


def _statements(text: str) -> list[_Statement]:
    """Walk the answer's lines and emit statements in order."""
    out: list[_Statement] = []
    lines = text.splitlines()
    lead_in = ""  # the last line ending in ":", context for the bullets after it
    fragments: list[str] = []  # short bullets waiting to be merged
    first_prose = True

    def flush_fragments() -> None:
        if fragments:
            items = ", ".join(f.rstrip(".,;") for f in fragments)
            text = f"{lead_in.rstrip(':')}: {items}." if lead_in else f"{items}."
            out.append(_Statement(text, "\n".join([lead_in, *fragments]).strip(), text, "bullet"))
            fragments.clear()

    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        if line.startswith("```"):
            lang = line[3:].strip() or "code"
            body = []
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i].strip())
                i += 1
            i += 1  # the closing fence
            flush_fragments()
            if body:
                out.append(_code_statement(" ".join(body), lang))
            continue
        bullet = _BULLET.match(line)
        step = _STEP.match(line)
        if bullet or step:
            item = (bullet.group(1) if bullet else step.group(2)).strip()  # type: ignore[union-attr]
            if len(item.split()) <= FRAGMENT_WORDS:
                fragments.append(item)
                continue
            flush_fragments()
            kind = "bullet" if bullet else "step"
            label = _LABEL.match(item)
            subject = label.group(1) if label else ""
            for n, sentence in enumerate(split_sentences(item)):
                if _is_filler(sentence):
                    continue
                if n == 0:
                    subject = subject or sentence
                    context = f"{lead_in} {sentence}".strip() if lead_in and not label else sentence
                else:
                    context = f"{subject.rstrip('.')}: {sentence}"
                out.append(_Statement(sentence, sentence, context, _sentence_kind(sentence, kind)))
            continue
        flush_fragments()
        sentences = split_sentences(line)
        lead_in = ""
        if line.endswith(":"):  # "... Here are some steps:": the last sentence leads in, the rest teach
            lead_in = sentences.pop()
        for sentence in sentences:
            if _is_filler(sentence):
                continue
            kind = "definition" if first_prose else "statement"
            first_prose = False
            out.append(_Statement(sentence, sentence, sentence, _sentence_kind(sentence, kind)))
    flush_fragments()
    return out


def _weighted(statements: list[_Statement]) -> list[tuple[_Statement, float]]:
    code_only = all(s.kind == "code" for s in statements)
    return [(s, CODE_ONLY_WEIGHT if code_only else WEIGHTS[s.kind]) for s in statements]


def _citation(quote: str, unit: Chunk, pieces: list[Chunk]) -> str:
    first = quote.splitlines()[0] if quote else ""
    for piece in pieces:
        if first and first in piece.text:
            return piece.id
    return unit.id


def guide_rubric(unit: Chunk, pieces: list[Chunk] | tuple[Chunk, ...] = ()) -> list[KeyPoint]:
    """Key points of a guide question unit; `pieces` are its sub-chunks (for citations)."""
    points = []
    seen: set[str] = set()
    for statement, weight in _weighted(_statements(unit.text)):
        key = " ".join(words(statement.text))
        if key in seen:  # the guide sometimes says the same thing twice
            continue
        seen.add(key)
        points.append(
            KeyPoint(
                text=normalise_space(statement.text),
                citation=_citation(statement.quote, unit, list(pieces)),
                quote=statement.quote,
                weight=weight,
                context=normalise_space(statement.context),
                kind=statement.kind,
            )
        )
    return points


def reference_rubric(reference: str, citation: str = "reference") -> list[KeyPoint]:
    """Key points of an arbitrary reference answer (a question the guide does not have)."""
    points = []
    for statement, weight in _weighted(_statements(reference.strip())):
        clauses = [statement.text]
        if len(statement.text.split()) > MAX_CLAUSE_WORDS:
            clauses = [c.strip() for c in statement.text.split(";") if len(c.split()) >= 3] or clauses
        for clause in clauses:
            text = normalise_space(clause)
            points.append(KeyPoint(text=text, citation=citation, quote=statement.quote, weight=weight, context=text,
                                   kind=statement.kind))
    if not points and reference.strip():  # a reference of one fragment is still its own point
        text = normalise_space(reference)
        points.append(KeyPoint(text=text, citation=citation, quote=reference.strip(), weight=1.0, context=text))
    return points


__all__ = ["guide_rubric", "reference_rubric", "WEIGHTS"]
