"""Look at an answer before grading it: length bound, empty or "I don't know", attempts to
instruct the grader, and keyword stuffing.

The answer is only ever data. Text that addresses the grader ("ignore the rubric", a fake
SYSTEM line, a JSON verdict) is cut out before scoring and recorded as a notice, and the
score is capped (see score.py): an answer that tries to bargain with its grader gets no
credit for the attempt and loses the benefit of the doubt. Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coach.grading.text import FUNCTION_WORDS, content_terms, split_sentences, words

# Phrases that speak to the grader instead of answering the question. Each is an
# instruction or a claimed verdict, never something a technical answer needs to say.
_INJECTION = [
    r"\bignore\b[^.\n]{0,40}\b(instructions?|rubric|rules?|prompt|above|previous|grading|guidelines?|reference)\b",
    r"\b(disregard|forget|override|bypass)\b[^.\n]{0,40}\b(instructions?|rubric|rules?|prompt|grading|guidelines?|"
    r"reference|answer key|criteria)\b",
    r"^\s*[\[(<#*]*\s*(important\s+)?(system|assistant|developer|grader|evaluator|admin|instruction)s?\s*"
    r"(prompt|message|note|notice|override|update)?\s*[:\]>)]",
    r"\bsystem (notice|message|prompt|override|instruction)s?\b",
    r"<\|?\s*(im_start|im_end|system|endoftext)\s*\|?>",
    r"</?\s*(answer|score|grade|verdict|system|instructions?|rubric)\s*>",
    r"\b(give|assign|award|output|return|respond with|receive|(grade|mark|score|rate) (this|it|me|the answer))\b"
    r"[^.\n]{0,50}"
    r"\b(10|ten|full marks?|full points?|full credit|perfect score|maximum|highest|top marks?)\b(?!\s*(%|percent|epochs?|layers?|classes))",
    r"\b(score|grade|rating|mark)s?\b\s*(of|=|:|is|should be|must be|to)?\s*\"?(10|ten|100)\s*(/\s*10|%|out of)?(?![\d.])",
    r"\b(10|ten)\s*(/\s*10|points|punkte|puntos|marks|pts)\b",
    r"[{,]\s*\"(score|grade|verdict|rating|level|feedback)\"\s*:",
    r"\b(note|message|instructions?|hinweis|nota)\s+(to|for|an|para)\s+(the|den|el|la)?\s*"
    r"(grader|graders|evaluator|assessor|scoring|examiner|reviewer|bewerter|prüfer|evaluador)\b",
    r"\b(you are|act as|pretend to be) (now )?(an?|the) (grader|evaluator|examiner)\b",
    r"\b(the )?(grader|evaluator|examiner|scoring model)\s+(must|should|will|shall|has to)\b",
    r"\bpre-?approved\b|\bskip (the )?grading\b|\bgrading override\b|\brubric (has been|was) (updated|changed)\b",
]
_INJECTION_RE = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in _INJECTION]

# Whole answers that decline to answer. Matched against the answer with punctuation removed.
_DECLINE = re.compile(
    r"^(sorry\s*)?(i\s*)?((do\s*n.?t|dont|do not)\s*(really\s*)?know|(have\s*n.?t|have not|never)\s*(really\s*)?"
    r"(worked|used|studied|learned|learnt|seen|heard|done)|can.?t answer)|^(sorry\s*)?(idk|no idea|not sure|i.?m not sure|pass|skip|next|dunno|"
    r"no clue|i have no idea|i can.?t remember|i don.?t remember|i forgot|n/?a|none|nothing|\?+|-+|\.+)\b",
    re.IGNORECASE,
)
DECLINE_MAX_WORDS = 12  # "I'm not sure, can we skip this one?" declines; a real hedge goes on to answer
PROSE_FUNCTION_SHARE = 0.3  # prose is ~40% function words; a term list far fewer
# Telegraphic notes put a symbol where prose has a verb: "merge = merge commit, history kept;
# rebase = replay commits on top". Each symbol followed by a phrase of three or more words counts
# like a sentence end. Terms joined by symbols ("mean + variance + moving average") stay a list.
_RELATION = re.compile(r"(?<=[\w)\]])\s*(?:=>|->|→|=|;|\+)\s*(?=[\w(\[])")
# Stuffing is a run of terms. Below this many distinct terms an answer is stuffing only if it
# reads as a list (see _reads_as_list): a handful of words in phrases is a terse answer ("mitosis
# identical body cells, meiosis gametes"), which students write all the time. The stuffed answers
# in the dev sets name 8 or more terms.
STUFFING_MIN_TERMS = 8
_SEPARATOR = re.compile(r"[,;:/()]|" + _RELATION.pattern)


_CODE_LINE = re.compile(
    r"^\s*(def \w+\(|class \w+[(:]|import \w|from [\w.]+ import|return\b|for \w+ in\b)|[=:{(\[]\s*$|\w\([^)]*\)"
)


@dataclass(frozen=True)
class Screened:
    text: str  # the answer as graded: bounded, injected instructions removed
    notices: tuple[str, ...]
    empty: bool  # nothing to grade (blank or only an injection)
    declined: bool  # "I don't know", "pass", ...
    injection: bool
    truncated: bool
    stuffing: float  # 0-1: how much it reads as a bare list of terms
    code_share: float  # share of lines that look like code


def find_injection(text: str) -> list[tuple[int, int]]:
    """Character spans of text that addresses the grader."""
    return [m.span() for pattern in _INJECTION_RE for m in pattern.finditer(text)]


def _strip_injection(text: str) -> tuple[str, bool]:
    """Drop every sentence (or JSON blob / fenced block) that contains an injection."""
    spans = find_injection(text)
    if not spans:
        return text, False
    # JSON objects and fenced blocks are removed whole: their remainder is no answer.
    text = re.sub(r"```.*?```", lambda m: "" if find_injection(m.group(0)) else m.group(0), text, flags=re.DOTALL)
    text = re.sub(r"\{[^{}]*\}", lambda m: "" if find_injection(m.group(0)) else m.group(0), text)
    kept_lines = []
    for line in text.splitlines():
        sentences = split_sentences(line)
        kept = [s for s in sentences if not find_injection(s)]
        if kept:
            kept_lines.append(" ".join(kept))
    return "\n".join(kept_lines).strip(), True


def code_share(text: str) -> float:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return 0.0
    return sum(1 for line in lines if _CODE_LINE.search(line)) / len(lines)


STUFFING_NOTICE = "The answer reads as a list of terms without explanation."


def _relations(text: str) -> int:
    """How many phrases the answer's relation symbols introduce."""
    return sum(1 for piece in _RELATION.split(text)[1:] if len(words(piece)) >= 3)


def _reads_as_list(text: str, tokens: list[str], function_share: float) -> bool:
    """No function word, and either one bare run of words ("epoch batch iteration pass subset")
    or single terms between separators ("epoch, batch, iteration, pass")."""
    if function_share > 0:
        return False
    groups = [g for g in _SEPARATOR.split(text) if words(g)]
    return len(groups) <= 1 or len(tokens) / len(groups) < 2


def stuffing_score(text: str) -> float:
    """0-1: a run of terms with no sentences around them ("mean variance gamma beta ...").

    Prose is about 40% function words and has verbs and sentence punctuation; a bare
    term list has almost none. Code is exempt: it is terse for other reasons, and so is a
    short answer in phrases (fewer than STUFFING_MIN_TERMS terms that do not read as a list).
    """
    tokens = words(text)
    if len(tokens) < 6 or code_share(text) > 0.3:
        return 0.0
    function_share = sum(1 for t in tokens if t in FUNCTION_WORDS) / len(tokens)
    terms = content_terms(text)
    if len(set(terms)) < STUFFING_MIN_TERMS and not _reads_as_list(text, tokens, function_share):
        return 0.0
    ends = len(re.findall(r"[.!?](\s|$)", text)) + _relations(text)
    if ends == 0:
        structure = 1.0  # no sentence anywhere
    elif len(tokens) / ends > 15:
        structure = 0.6  # long runs between full stops
    else:
        structure = 0.2  # short sentences: terse notes, not a bare list
    score = min(1.0, max(0.0, (0.22 - function_share) / 0.14)) * structure
    # The same words again and again, without the function words of prose (an answer that
    # contrasts two things in parallel sentences repeats its terms too, but reads as prose).
    if len(terms) >= 10 and len(set(terms)) / len(terms) < 0.5 and function_share < PROSE_FUNCTION_SHARE:
        score = max(score, 0.8)
    return round(score, 4)


def screen_answer(answer: str, max_chars: int) -> Screened:
    notices: list[str] = []
    text = (answer or "").replace("\r\n", "\n").replace("\x00", "").strip()
    truncated = len(text) > max_chars
    if truncated:
        text = text[:max_chars]
        notices.append(f"The answer was cut to its first {max_chars} characters before grading.")
    text, injection = _strip_injection(text)
    if injection:
        notices.append(
            "Parts of the answer addressed the grader (instructions or a claimed score); they were "
            "ignored and the score is capped."
        )
    bare = re.sub(r"[^\w\s']", " ", text).strip()
    n_words = len(words(text))
    decline = _DECLINE.match(bare) if bare and n_words <= DECLINE_MAX_WORDS else None
    # "Not sure, but it normalises the inputs" still answers: only a bare decline counts.
    declined = decline is not None and len(content_terms(bare[decline.end():])) < 3
    # Only an answer with no word at all is empty: "main", "O(n)" or "one" can be the whole
    # right answer even though none of them is a content term.
    empty = not words(text)
    if declined:
        notices.append("The answer declines to answer; it scores 0.")
    stuffing = 0.0 if empty or declined else stuffing_score(text)
    if stuffing >= 0.5:
        notices.append(STUFFING_NOTICE)
    return Screened(text, tuple(notices), empty, declined, injection, truncated, stuffing, code_share(text))


__all__ = ["STUFFING_NOTICE", "Screened", "screen_answer", "find_injection", "stuffing_score", "code_share"]
