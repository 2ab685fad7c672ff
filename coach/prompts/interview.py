"""What the interviewer says: follow-up templates (no LLM is used to word them).

A follow-up asks about the subject a missed key point concerns without stating the point.
`{subject}` is the guide question's subject ("batch normalization"), `{hint}` a term from the
missed point (quoted, so any word class reads as a question). Every filled template goes through
the leak check in coach/interview/asking.py before it is asked; one that leaks is skipped.
"""

from __future__ import annotations

# Which kind of thing a key point says, decided by its words; the first match wins. (Code points,
# the rubric's "Code (python) using ...", are recognised by their kind, not by words.)
ASPECT_KEYWORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("comparison", frozenset("whereas unlike instead contrast compared rather versus".split())),
    ("cause", frozenset("because due cause causes caused leads lead result results resulting".split())),
    ("problem", frozenset(
        "problem problems issue issues drawback drawbacks limitation limitations risk risks fail fails "
        "unstable slow bias biased expensive challenge challenges costly harmful overfit".split()
    )),
    ("benefit", frozenset(
        "improve improves improved benefit benefits advantage advantages faster speeds stabilize stabilizes "
        "reduce reduces reducing prevent prevents avoid avoids helps enable enables efficient better".split()
    )),
    ("process", frozenset(
        "step steps first then process iteratively repeat repeated compute computes computed calculate "
        "calculates update updates updated pass passes".split()
    )),
    ("example", frozenset("example examples instance include includes including".split())),
)

HINT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "default": (
        'Let\'s go one step further on {subject}. Where does "{hint}" come into it?',
        'Staying with {subject}: what can you tell me about "{hint}" here?',
    ),
    "comparison": (
        'How does "{hint}" compare here, when you think about {subject}?',
    ),
    "cause": (
        'Why does this happen? Think about "{hint}" in the context of {subject}.',
        'What is the underlying reason, in terms of "{hint}", when it comes to {subject}?',
    ),
    "problem": (
        'Staying with {subject}: what can go wrong with regard to "{hint}"?',
        'Staying with {subject}: which difficulty around "{hint}" should you keep in mind?',
    ),
    "benefit": (
        'Why does "{hint}" matter when it comes to {subject}? What does it buy you?',
        'Staying with {subject}: what do you gain with respect to "{hint}", and why?',
    ),
    "process": (
        'Staying with {subject}: walk me through what happens where "{hint}" is involved.',
    ),
    "example": (
        'Staying with {subject}: can you give a concrete example? Think of "{hint}".',
    ),
}

# When naming the hint would already give the point away.
ASPECT_TEMPLATES: dict[str, str] = {
    "default": "There is more to {subject} than you covered. What else would a complete answer include?",
    "code": "How would you write that in code? Which functions or classes would you use?",
    "comparison": "Staying with {subject}: how does it compare with the alternatives?",
    "cause": "Why does this happen? What is the underlying cause, in the context of {subject}?",
    "problem": "Staying with {subject}: which problems or pitfalls should you keep in mind?",
    "benefit": "Staying with {subject}: what is the main benefit, and why does it help?",
    "process": "Staying with {subject}: walk me through it step by step. Which step did you skip?",
    "example": "Staying with {subject}: can you give a concrete example?",
}

# Names nothing at all: always passes the leak check.
FALLBACK_FOLLOW_UP = "Is there anything more you would add to your answer?"

SUBJECT_FALLBACK = "this topic"

__all__ = ["ASPECT_KEYWORDS", "HINT_TEMPLATES", "ASPECT_TEMPLATES", "FALLBACK_FOLLOW_UP", "SUBJECT_FALLBACK"]
