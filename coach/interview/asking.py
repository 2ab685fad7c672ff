"""Asking without telling: the leak check, and follow-ups about a missed key point.

Leak check (`leaks`). A key point's *new* terms are its stemmed content words that the guide's
question title does not already use: the title is the subject everyone may name, what the answer
adds is what must not be said. A text leaks a point when
  * it has a content-word trigram of the point that includes a new term, or
  * it has more than half of the point's new terms.
Both the point's short statement and its verbatim guide quote are checked.

Follow-ups (`follow_up`) ask about the subject a missed point concerns without stating it: the
hint is the point's most specific new term (a two-word phrase when it has one), dropped into a
question template; when naming the hint would already leak, an aspect-only template is used,
and when that leaks too, a question that names nothing. Every candidate goes through the leak
check before it is returned. The templates are data in coach/prompts/interview.py.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from coach.grading.model import KeyPoint
from coach.lexical import stem
from coach.prompts.interview import (
    ASPECT_KEYWORDS,
    ASPECT_TEMPLATES,
    FALLBACK_FOLLOW_UP,
    HINT_TEMPLATES,
    SUBJECT_FALLBACK,
)

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    """a an the this that these those it its they them their there here is are was were be been being
    am do does did doing done has have had having can could may might must shall should will would
    of to in on at by for from with without into onto over under about after before between through
    during than then so because since while when where which who whom whose what how why if whether
    and or but nor not no yes as also just only very too more most less least such each every all any
    some many much few one we you i he she our your my me us his her him up down out off s t
    e g eg ie etc vs via per within across both either neither other others another same own
    else anything something add leave left answer mention part aspect role play plays come comes
    fit fits think go further step let lets stay look bring brings matter matters still yet
    tell explain describe discuss give say said like way ways use used using make makes made
    different difference between important key main well first second""".split()
)
# Leading words of a guide title that are the asking, not the subject; "how"/"why" questions
# keep their shape ("How do you set batch size?" -> "how to set batch size").
_ASKING = re.compile(
    r"^(what is the difference between|what are the differences between|what is the purpose of|"
    r"what problems are solved by|what are some|what are the|what is|what are|explain|describe|discuss|"
    r"implement|write a function that computes|write a function that|write)\s+",
    re.IGNORECASE,
)
_REPHRASE = (
    (re.compile(r"^(how|what) do you\s+", re.IGNORECASE), r"\1 to "),
    (re.compile(r"^(how|why) (do|does|would)\s+", re.IGNORECASE), r"\1 "),
    (re.compile(r"^(how|why) (are|is) (\S+)\s+", re.IGNORECASE), r"\1 \3 \2 "),
)
MAX_SUBJECT_WORDS = 10
_PUNCTUATION = re.compile(r"[,;:.()\[\]!?\"\u201c\u201d]+")
# Words too vague to be a useful hint on their own.
_HINT_SKIP = frozenset(
    """known several high low large small new typical significant critical crucial various certain
    particular perform performs performed achieve achieves offer offers provide provides ensure ensures
    ensuring allow allows become becomes help helps makes making need needs often done able""".split()
)


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_terms(text: str) -> list[str]:
    """Stemmed content words in order."""
    return [stem(t) for t in _tokens(text) if t not in _STOP and len(t) > 1]


def _trigrams(terms: Sequence[str]) -> set[tuple[str, str, str]]:
    return {tuple(terms[i : i + 3]) for i in range(len(terms) - 2)}  # type: ignore[misc]


def _leaks_statement(text_terms: list[str], statement: str, given: set[str]) -> bool:
    terms = content_terms(statement)
    new = {t for t in terms if t not in given}
    if not new:
        return False  # says nothing beyond the subject itself
    shown = set(text_terms)
    if any(set(tri) & new for tri in _trigrams(terms) & _trigrams(text_terms)):
        return True
    return len(new & shown) / len(new) > 0.5


def leaks(text: str, points: Iterable[KeyPoint], given: str = "") -> bool:
    """True when `text` states any of `points` (see the module docstring); `given` is the title."""
    text_terms = content_terms(text)
    given_terms = set(content_terms(given))
    return any(
        _leaks_statement(text_terms, statement, given_terms)
        for point in points
        for statement in (point.text, point.quote)
        if statement
    )


def question_subject(title: str) -> str:
    """What a guide question is about: "What is batch normalization?" -> "batch normalization",
    "How do you set batch size?" -> "how to set batch size"."""
    first = re.split(r"(?<=[?.])\s+", title.strip())[0].rstrip("?.!").strip()
    subject = _ASKING.sub("", first)
    if subject == first:
        for pattern, replacement in _REPHRASE:
            subject = pattern.sub(replacement, subject, count=1)
        subject = subject[:1].lower() + subject[1:]
    subject = re.sub(r"^(the|a|an)\s+", "", subject, flags=re.IGNORECASE).strip()
    if len(subject.split()) > MAX_SUBJECT_WORDS:
        subject = subject.split(",")[0].strip()
    if not subject or len(subject.split()) > MAX_SUBJECT_WORDS:
        return SUBJECT_FALLBACK
    return subject


def _runs(text: str) -> list[list[str]]:
    """Runs of hint-worthy words: broken at punctuation, function words, adverbs and numbers."""
    runs: list[list[str]] = []
    for segment in _PUNCTUATION.split(text.lower()):
        runs.append([])
        for word in _WORD.findall(segment):
            if word in _STOP or word in _HINT_SKIP or len(word) <= 2 or word.endswith("ly") or any(ch.isdigit() for ch in word):
                runs.append([])
            else:
                runs[-1].append(word)
    return [run for run in runs if run]


def hint_phrases(point: KeyPoint, title: str, idf: dict[str, float]) -> list[str]:
    """Candidate hints, most specific first: two-word phrases and single words from the point,
    the head of a phrase (its last words, as in "image classification") preferred, words the
    title already uses counted against."""
    given = set(content_terms(title))
    scored: dict[str, float] = {}
    for run in _runs(point.text):
        for size in (2, 1):
            for i in range(len(run) - size + 1):
                phrase = run[i : i + size]
                stems = [stem(w) for w in phrase]
                if all(s in given for s in stems):
                    continue
                weight = sum(idf.get(s, 1.0) - (1.0 if s in given else 0.0) for s in stems)
                weight += (1.0 if i + size == len(run) else 0.0) + (0.5 if size == 2 else 0.0)
                key = " ".join(phrase)
                scored[key] = max(scored.get(key, 0.0), weight)
    return [p for p, _ in sorted(scored.items(), key=lambda item: (-item[1], item[0]))]


def is_code_point(point: KeyPoint) -> bool:
    return getattr(point, "kind", "") == "code" or point.text.startswith("Code (")


def aspect_of(point: KeyPoint) -> str:
    """Which kind of thing the point says (benefit, cause, process, ...), by its wording."""
    if is_code_point(point):
        return "code"
    terms = set(_tokens(point.text))
    for aspect, keywords in ASPECT_KEYWORDS:
        if terms & keywords:
            return aspect
    return "default"


@dataclass(frozen=True)
class FollowUp:
    text: str
    point: KeyPoint  # the missed point it is about (never shown to the user before they answer)
    strategy: str  # "hint", "aspect" or "fallback"


def follow_up(title: str, point: KeyPoint, avoid: Sequence[KeyPoint], idf: dict[str, float], variant: int = 0) -> FollowUp:
    """A question about `point` that states none of `avoid` (which includes `point`)."""
    subject = question_subject(title)
    avoid = list(avoid) if point in avoid else [point, *avoid]
    aspect = aspect_of(point)
    hints = [] if aspect == "code" else hint_phrases(point, title, idf)[:4]  # API names are the answer
    for hint in hints:
        template = HINT_TEMPLATES[aspect][variant % len(HINT_TEMPLATES[aspect])]
        text = template.format(subject=subject, hint=hint)
        if not leaks(text, avoid, given=title):
            return FollowUp(text, point, "hint")
    text = ASPECT_TEMPLATES[aspect].format(subject=subject)
    if not leaks(text, avoid, given=title):
        return FollowUp(text, point, "aspect")
    return FollowUp(FALLBACK_FOLLOW_UP, point, "fallback")


def term_idf(texts: Iterable[str]) -> dict[str, float]:
    """Inverse document frequency of content terms over the guide's answers (for hint choice)."""
    docs = [set(content_terms(t)) for t in texts]
    df = Counter(term for doc in docs for term in doc)
    n = max(len(docs), 1)
    return {term: math.log((n + 1) / (count + 0.5)) for term, count in df.items()}


__all__ = ["leaks", "content_terms", "question_subject", "hint_phrases", "aspect_of", "follow_up", "FollowUp", "term_idf"]
