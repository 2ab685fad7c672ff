"""Statements that say the opposite of the guide sentence they line up with.

Sentence embeddings barely notice "high" vs "low" or "increases" vs "reduces", which is
exactly how a confident wrong answer differs from a right one. So each answer sentence is
aligned with its closest key point, and the two are compared on small closed word
classes (direction, speed, order, sides, quality, what is acted on) and on negation. A
conflict counts only when no other key point that the sentence is about as close to
agrees with it, so an answer that talks about the "too high" case while the best match is
the "too low" bullet is not blamed. Pure functions over precomputed similarities.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from coach.grading.model import KeyPoint
from coach.grading.text import content_terms

# Opposed word classes: general English and ML vocabulary, one side each. A sentence that
# uses both sides of a class says nothing checkable about that class.
POLAR_CLASSES: tuple[tuple[str, frozenset[str], frozenset[str]], ...] = tuple(
    (name, frozenset(a.split()), frozenset(b.split()))
    for name, a, b in (
        ("direction",
         "increase increases increased increasing raise raises raising grow grows growing larger bigger higher "
         "high large big more maximum maximize maximise maximizes maximises maximizing expand expands upsample upsamples",
         "decrease decreases decreased decreasing reduce reduces reduced reducing lower lowers lowering shrink "
         "shrinks smaller low small minimum minimize minimise minimizes minimises minimizing compress compresses "
         "downsample downsamples fewer less"),
        ("speed", "fast faster fastest quick quicker quickly speeds speed accelerate accelerates speeding",
         "slow slower slowest slowly slows slowing"),
        ("order", "before beforehand first prior", "after afterwards afterward last later"),
        ("sides", "left unidirectional one-directional causal previous past",
         "both bidirectional two-directional right future"),
        ("quality", "well good better accurate stable stability stabilise stabilize stabilises stabilizes",
         "poorly poor worse inaccurate unstable instability destabilise destabilize fail fails failing"),
        ("operand", "inputs input gradients gradient", "weights weight parameters"),
        ("sameness", "same identical shared", "different separate distinct"),
        ("extent", "entire whole full", "single individual"),
        ("fit", "overfit overfits overfitting", "underfit underfits underfitting"),
        ("supervision", "supervised labeled labelled", "unsupervised unlabeled unlabelled"),
        ("precision", "precision float32 fp32 float64 fp64", "quantized int8 int4 float16 fp16 lower-precision"),
        ("certainty", "probabilistic stochastic random randomly", "deterministic fixed constant"),
    )
)
_NEGATION = frozenset(
    "not no never cannot can't don't doesn't isn't aren't won't without none neither nor fail fails unable lack".split()
)
# How many context terms a flip must share with the guide's word: "direction" words are
# everywhere, so they need the thing they describe to match more closely.
MIN_SHARED = {"direction": 2}
_ABSOLUTES = frozenset("always never only guaranteed guarantees guarantee impossible cannot can't exactly".split())
_WORD = re.compile(r"[a-z0-9_]+(?:[-'][a-z0-9_]+)*")
# Verbs that end a definition's subject ("An epoch refers to ...", "SGD computes ...").
_SUBJECT_END = frozenset(
    """is are was were refers refer means mean occurs occur happens happen computes compute uses use predicts
    predict considers consider assigns assign sets set resets reset updates update looks look takes take
    calculates calculate measures measure determines determine gives give applies apply masks mask
    differentiates has have does do converts convert reduces reduce ensures ensure allows allow""".split()
)
_ALL_POLAR = frozenset(w for _, a, b in POLAR_CLASSES for w in a | b)

ALIGN_MIN = 0.45  # cosine below which a sentence is not about that key point at all
RIVAL_MARGIN = 0.06  # another key point this close also counts as "what the sentence is about"
NEGATION_MIN = 0.80  # negation flips are only trusted on near-paraphrases
CONTEXT = 4  # words either side of a polar word that say what it is about
SWAP_MIN = 2.0  # weighted predicate terms shared with another concept's definition


@dataclass(frozen=True)
class Conflict:
    sentence: str  # the answer sentence
    point: KeyPoint  # the key point it contradicts
    kind: str  # a POLAR_CLASSES name, "negation" or "swap"
    said: str  # the answer's word(s)
    guide: str  # the guide's word(s)


@dataclass(frozen=True)
class _Occurrence:
    cls: str
    sign: int
    word: str
    context: frozenset[str]


def _lower_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _occurrences(tokens: list[str]) -> list[_Occurrence]:
    """Every polar word with the content terms around it (what it says is high, slow, ...).

    Only words of the same class are left out of the context: in "increases the precision of
    the weights", "precision" and "weights" (polar words of other classes) are what is
    increased."""
    out = []
    for i, token in enumerate(tokens):
        if token not in _ALL_POLAR:
            continue
        window = tokens[max(0, i - CONTEXT): i] + tokens[i + 1: i + 1 + CONTEXT]
        for name, a, b in POLAR_CLASSES:
            if token in a or token in b:
                context = frozenset(content_terms(" ".join(w for w in window if w not in a and w not in b)))
                out.append(_Occurrence(name, 1 if token in a else -1, token, context))
    return out


def _polar_conflict(said: list[_Occurrence], guide: list[_Occurrence]) -> tuple[str, str, str] | None:
    """(class, answer word, guide word) when the answer flips what the guide says about the same thing."""
    for s in said:
        best_against, best_for = 0, 0
        against_word = ""
        for g in guide:
            if g.cls != s.cls:
                continue
            shared = len(s.context & g.context)
            if g.sign == s.sign:
                best_for = max(best_for, shared)
            elif shared > best_against:
                best_against, against_word = shared, g.word
        if best_against >= MIN_SHARED.get(s.cls, 1) and best_against > best_for:
            # The answer may also say the guide's side about the same thing: then it is a contrast, not a flip.
            if any(o.cls == s.cls and o.sign != s.sign and o.context & s.context for o in said):
                continue
            return s.cls, s.word, against_word
    return None


def _negated(tokens: list[str]) -> bool:
    text = " ".join(tokens)
    if "not only" in text:  # "not only X but also Y" affirms both
        return False
    return any(t in _NEGATION or t.endswith("n't") for t in tokens)


def subject_and_predicate(text: str) -> tuple[set[str], set[str]]:
    """Content terms before and after the verb that ends a definition's subject."""
    label = re.match(r"^\s*([^:]{2,60}):\s+(.+)$", text)
    if label:
        return set(content_terms(label.group(1))), set(content_terms(label.group(2)))
    tokens = _lower_words(text)
    for i, token in enumerate(tokens[:10]):
        if token in _SUBJECT_END and i > 0:
            return set(content_terms(" ".join(tokens[:i]))), set(content_terms(" ".join(tokens[i + 1:])))
    return set(), set(content_terms(text))


def _point_parts(point: KeyPoint) -> tuple[set[str], set[str]]:
    """A key point's subject and predicate; a sentence that continues a bullet ("It is
    unidirectional.") takes the subject its context (the bullet's first sentence) names."""
    subject, predicate = subject_and_predicate(point.text)
    if not subject and point.context and point.context != point.text:
        subject, lead = subject_and_predicate(point.context)
        predicate = predicate | lead if subject else predicate
    return subject, predicate


def distinct_subjects(parts: list[tuple[set[str], set[str]]]) -> tuple[list[tuple[set[str], set[str]]], set[str]]:
    """The key points' subjects without the head noun every one of them shares (and that
    noun): "semantic segmentation" and "instance segmentation" are told apart by "semantic"
    and "instance" alone, and an answer naming "segmentation" is not thereby about both."""
    subjects = [subj for subj, _ in parts if subj]
    common = set.intersection(*subjects) if len(subjects) >= 2 else set()
    return [(subj - common, predicate) for subj, predicate in parts], common


def _swap(sentence: str, parts: list[tuple[set[str], set[str]]], idf: Mapping[str, float],
          common: set[str] | None = None) -> int | None:
    """Index of the key point whose definition the sentence gives to another concept of the rubric
    ("an iteration is one full pass over the dataset" where the guide says that of an epoch).
    `parts` are the points' distinct subjects and predicates; `common`, the head noun they share."""
    subject, predicate = subject_and_predicate(sentence)
    subject -= common or set()
    if not subject or not predicate:
        return None
    words = set(content_terms(sentence))

    def shared(j: int) -> float:
        return sum(idf.get(t, 1.0) for t in predicate & parts[j][1])

    own = [j for j, (subj, _) in enumerate(parts) if subj and subj & subject]
    others = [j for j, (subj, _) in enumerate(parts) if subj and not subj & words]
    if not own or not others:
        return None
    best_other = max(others, key=shared)
    if shared(best_other) >= SWAP_MIN and shared(best_other) > max(shared(j) for j in own) + 1.0:
        return best_other
    return None


def find_conflicts(
    sentences: list[str], points: list[KeyPoint], similarity: np.ndarray, idf: Mapping[str, float] | None = None
) -> list[Conflict]:
    """`similarity[i, j]`: cosine of answer sentence i and key point j."""
    conflicts: list[Conflict] = []
    if not sentences or not points:
        return conflicts
    idf = idf or {}
    point_tokens = [_lower_words(p.text) for p in points]
    point_occ = [_occurrences(t) for t in point_tokens]
    point_terms = [set(content_terms(p.text)) for p in points]
    parts, common = distinct_subjects([_point_parts(p) for p in points])
    for i, sentence in enumerate(sentences):
        tokens = _lower_words(sentence)
        occ = _occurrences(tokens)
        terms = set(content_terms(sentence))
        order = np.argsort(-similarity[i], kind="stable")
        best = int(order[0])
        top = float(similarity[i, best])
        swapped = _swap(sentence, parts, idf, common)
        if swapped is not None and similarity[i, swapped] >= ALIGN_MIN:
            conflicts.append(Conflict(sentence, points[swapped], "swap", "", ""))
            continue
        if top < ALIGN_MIN or not terms & point_terms[best]:
            continue
        rivals = [int(j) for j in order if similarity[i, j] >= top - RIVAL_MARGIN and terms & point_terms[j]]
        flip = _polar_conflict(occ, point_occ[best]) if occ else None
        if flip and any(_polar_conflict(occ, point_occ[j]) is None and any(
                o.cls == flip[0] for o in point_occ[j]) for j in rivals if j != best):
            flip = None  # another key point the sentence is as much about agrees with it
        if flip:
            conflicts.append(Conflict(sentence, points[best], flip[0], flip[1], flip[2]))
            continue
        if top >= NEGATION_MIN and _negated(tokens) != _negated(point_tokens[best]):
            overlap = len(terms & point_terms[best]) / max(len(point_terms[best]), 1)
            if overlap >= 0.6 and not any(_negated(tokens) == _negated(point_tokens[j]) for j in rivals if j != best):
                conflicts.append(Conflict(sentence, points[best], "negation", "not" if _negated(tokens) else "",
                                          "not" if _negated(point_tokens[best]) else ""))
    return conflicts


def overclaims(sentences: list[str], points: list[KeyPoint], similarity: np.ndarray) -> int:
    """Answer sentences that add an absolute ("always", "never", "only", "guaranteed") the
    key point they match does not make: a common sign of a confident misconception."""
    count = 0
    for i, sentence in enumerate(sentences):
        extra = set(_lower_words(sentence)) & _ABSOLUTES
        if not extra:
            continue
        j = int(np.argmax(similarity[i])) if similarity.shape[1] else -1
        if j < 0 or similarity[i, j] < ALIGN_MIN or not extra <= set(_lower_words(points[j].text)):
            count += 1
    return count


__all__ = ["Conflict", "find_conflicts", "overclaims", "subject_and_predicate", "POLAR_CLASSES"]
