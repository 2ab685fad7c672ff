"""Plain-text pieces the rubric and the scorer share: sentences, content terms, word classes.

Pure functions, no models. The stemmer is a deliberately small suffix stripper: enough
for "normalizing" to meet "normalization" and "compute" to meet "computed", predictable
enough to reason about.
"""

from __future__ import annotations

import re

# Abbreviations whose period does not end a sentence.
_ABBREVIATIONS = re.compile(r"\b(e\.g|i\.e|etc|vs|approx|fig|eq|cf|resp|incl)\.", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_DOT = "\u2024"  # stands in for protected periods while splitting

FUNCTION_WORDS = frozenset(
    """a an the this that these those it its they them their there here is are was were be been being
    am do does did doing done has have had having can could may might must shall should will would
    of to in on at by for from with without into onto over under about after before between through
    during than then so because since while when where which who whom whose what how why if whether
    and or but nor not no yes as also just only very too more most less least such each every
    all any some many much few one we you i he she our your my me us his her him up down out off
    s t don doesn isn aren wasn weren won shouldn couldn wouldn can't don't doesn't isn't""".split()
)

# Words that carry little meaning of their own in an answer about machine learning.
_GENERIC = frozenset(
    """use used uses using make makes made making help helps helped allow allows allowed
    like well way ways thing things something basically actually really generally typically
    usually often common commonly example include includes including called known
    mean means meaning different difference differ various several specific specifically
    important importantly key main good better best simple simply get gets got take takes
    need needs needed want wants let lets go goes going see seen look looks new kind sort
    able able whole part parts set sets also
    conversely however instead moreover furthermore additionally therefore thus hence""".split()
)
# "For instance" is a discourse phrase; "instance" alone is a concept ("instance segmentation",
# "instance normalization") and stays a content word.
_FOR_INSTANCE = re.compile(r"\bfor instance\b", re.IGNORECASE)

STOPWORDS = FUNCTION_WORDS | _GENERIC
_SUFFIXES = ("izations", "ization", "isations", "isation", "izing", "ising", "ized", "ised", "izes", "ises", "ize",
             "ise", "ations", "ation", "ings", "ing", "ies", "ers", "er", "es", "ed", "ly", "s")


def stem(word: str) -> str:
    """Suffixes stripped to a fixed point: "considering" -> "consider" -> "consid" meets
    "considers", and "processes" meets "process"."""
    for _ in range(3):
        shorter = _strip_once(word)
        if shorter == word:
            break
        word = shorter
    return word


def _strip_once(word: str) -> str:
    base = word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            base = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            # British spelling doubles the l: "modelling", "labelled" meet "modeling", "labeled".
            if base.endswith("ell") and len(base) >= 6:
                base = base[:-1]
            break
    # A final e goes too, so "compute" meets "computed", "instance" meets "instances".
    return base[:-1] if base.endswith("e") and len(base) >= 4 else base


def words(text: str) -> list[str]:
    """Lower-cased word tokens (hyphenated and apostrophe words kept whole)."""
    return _WORD.findall(text.lower())


def content_terms(text: str) -> list[str]:
    """Stemmed content words in order (stopwords and one-letter tokens dropped)."""
    out = []
    for word in words(_FOR_INSTANCE.sub(" ", text)):
        for part in word.replace("'", "").split("-"):
            if len(part) > 1 and part not in STOPWORDS:
                out.append(stem(part))
    return out


def demote_question_words(text: str, question: str) -> str:
    """The text without the question's own words ("question demoting", Mohler et al. 2011;
    Sultan et al. 2016): an answer that repeats the question looks similar to every answer
    to it, so only what it adds is compared. Falls back to the text when nothing is left."""
    asked = {stem(w) for w in words(question)}
    kept = [w for w in words(text) if stem(w) not in asked]
    return " ".join(kept) if kept else text


def term_set(text: str) -> set[str]:
    """Content terms plus adjacent-term bigrams ("batch_size"): phrases count as evidence."""
    terms = content_terms(text)
    return set(terms) | {f"{a}_{b}" for a, b in zip(terms, terms[1:], strict=False)}


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph or an answer; newlines always end a sentence."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        protected = _ABBREVIATIONS.sub(lambda m: m.group(0).replace(".", _DOT), line)
        protected = re.sub(r"(?<=\d)\.(?=\d)", _DOT, protected)  # decimals: 0.5, 2.0
        for piece in _SENTENCE_END.split(protected):
            piece = piece.replace(_DOT, ".").strip()
            if piece:
                out.append(piece)
    return out


_CLAUSE_BREAK = re.compile(r";\s+|,?\s+(?=(?:while|whereas|but|although)\s)|\s+-{1,2}\s+|\s+—\s+", re.IGNORECASE)


def split_clauses(text: str) -> list[str]:
    """Sentences, further cut where a contrast starts ("..., while SGD uses ..."): each side of
    a contrast is its own claim, and a flipped pair must not hide inside one sentence."""
    out = []
    for sentence in split_sentences(text):
        pieces = [p.strip(" ,") for p in _CLAUSE_BREAK.split(sentence)]
        merged: list[str] = []
        for piece in pieces:
            if merged and len(piece.split()) < 4:  # too short to be a claim of its own
                merged[-1] = f"{merged[-1]} {piece}"
            elif piece:
                merged.append(piece)
        out.extend(merged)
    return out


def normalise_space(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


__all__ = [
    "FUNCTION_WORDS", "STOPWORDS", "stem", "words", "content_terms", "demote_question_words", "term_set", "split_sentences", "split_clauses", "normalise_space",
]
