"""From signals to a 0-10 score: a calibrated logistic curve, then a few hard rules.

score = 10 * sigmoid(bias + sum(weight_i * feature_i)), with weights fitted by
`evals/fit_grader.py` on the fit split of evals/graded_dev.jsonl and stored as package data
(calibration.json), so the mapping is data, reviewable in a diff and refit by one command.
The rules come after the curve and only ever lower a score: nothing in an answer can talk
its way above what its content earns. Pure functions; the same signals give the same score.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coach.errors import ConfigError
from coach.grading.screening import Screened

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")

# Hard rules (policy, not fitted): what an answer of that kind can at most score.
INJECTION_CAP = 1.0  # an answer that instructs its grader forfeits the benefit of the doubt
STUFFING_CAP = 2.0  # naming terms without saying how they relate shows recognition only
STUFFING_AT = 0.5
# A statement that contradicts the guide caps the score: one means the answer is at best
# partly right; contradictions in two statements, or in half of them, mean it is wrong.
# An answer that shares almost none of the guide answer's vocabulary, matches none of its key
# points and whose whole meaning is not close to it either is most likely an answer to another
# question. The meaning test spares an excellent answer put entirely in plain words: on the fit
# split the two such answers had question-demoted similarity 0.37 and 0.54, the off-topic answers
# the cap caught at most 0.14. Against a reference the row gives, the rule does not apply: one or
# two sentences are too few words for sharing none of them to mean another question. On the two
# reference dev sets it fired 9 times, 5 of them on right or partly right short answers (one a
# paraphrase scored 9.0 by its human, capped from 6.3 to 1.5).
OFF_TOPIC_CAP = 1.5
OFF_TOPIC_TERMS = 0.01
OFF_TOPIC_BEST = 0.15
OFF_TOPIC_MEANING = 0.25
ONE_CONFLICT_CAP = 6.5
MANY_CONFLICTS_CAP = 3.0


@dataclass(frozen=True)
class Calibration:
    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    info: dict[str, Any] = field(default_factory=dict)  # how and on what it was fitted

    def logit(self, signals: Mapping[str, float]) -> float:
        return self.bias + sum(w * float(signals.get(f, 0.0)) for f, w in zip(self.features, self.weights, strict=False))

    def curve(self, signals: Mapping[str, float]) -> float:
        """The fitted score before rules, 0-10."""
        z = max(-30.0, min(30.0, self.logit(signals)))
        return 10.0 / (1.0 + math.exp(-z))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "weights": [round(w, 6) for w in self.weights],
                "bias": round(self.bias, 6), "info": self.info}


# Used when no calibration file exists yet: hand-set, monotone in the obvious directions.
DEFAULT = Calibration(
    features=("coverage", "covered_share", "relevance", "conflicts", "overclaims", "stuffing", "off_topic"),
    weights=(5.0, 2.0, 2.0, -3.0, -1.0, -2.0, -3.0),
    bias=-4.0,
    info={"source": "hand-set default"},
)


def load_calibration(path: Path | None = None) -> Calibration:
    path = path or CALIBRATION_PATH
    if not path.is_file():
        return DEFAULT
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        calibration = Calibration(
            features=tuple(data["features"]),
            weights=tuple(float(w) for w in data["weights"]),
            bias=float(data["bias"]),
            info=dict(data.get("info", {})),
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"The grading calibration {path} is malformed ({exc}); rerun evals/fit_grader.py.") from None
    if len(calibration.features) != len(calibration.weights):
        raise ConfigError(f"The grading calibration {path} has {len(calibration.features)} features but "
                          f"{len(calibration.weights)} weights; rerun evals/fit_grader.py.")
    return calibration


def save_calibration(calibration: Calibration, path: Path | None = None) -> Path:
    path = path or CALIBRATION_PATH
    path.write_text(json.dumps(calibration.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Scored:
    score: float  # 0-10, one decimal
    curve: float  # the calibrated value before rules
    rules: tuple[str, ...]  # which caps applied


def apply_rules(curve: float, signals: Mapping[str, float], screened: Screened) -> Scored:
    if screened.empty or screened.declined:
        return Scored(0.0, curve, ("no answer",))
    score, rules = curve, []
    if screened.injection and score > INJECTION_CAP:
        score, rules = INJECTION_CAP, rules + ["injection cap"]
    if signals.get("stuffing", screened.stuffing) >= STUFFING_AT and score > STUFFING_CAP:
        score, rules = STUFFING_CAP, rules + ["stuffing cap"]
    if (not signals.get("given_reference") and signals.get("on_topic_terms", 1.0) < OFF_TOPIC_TERMS
            and signals.get("best_points", 1.0) < OFF_TOPIC_BEST
            and signals.get("demoted_similarity", 0.0) < OFF_TOPIC_MEANING and score > OFF_TOPIC_CAP):
        score, rules = OFF_TOPIC_CAP, rules + ["off-topic cap"]
    n_conflicts = round(signals.get("conflicts", 0.0) * 3)
    if (n_conflicts >= 2 or signals.get("conflict_share", 0.0) >= 0.5) and score > MANY_CONFLICTS_CAP:
        score, rules = MANY_CONFLICTS_CAP, rules + ["contradictions cap"]
    elif n_conflicts == 1 and score > ONE_CONFLICT_CAP:
        score, rules = ONE_CONFLICT_CAP, rules + ["contradiction cap"]
    return Scored(round(min(10.0, max(0.0, score)), 1), curve, tuple(rules))


def score_signals(signals: Mapping[str, float], screened: Screened, calibration: Calibration) -> Scored:
    return apply_rules(calibration.curve(signals), signals, screened)


def verdict(scored: Scored, screened: Screened, signals: Mapping[str, float] | None = None) -> str:
    """One of model.VERDICTS."""
    if screened.empty or screened.declined:
        return "no answer"
    if "off-topic cap" in scored.rules:
        return "off-topic"
    if scored.score >= 8.5:
        return "strong"
    if scored.score >= 6.5:
        return "good"
    if scored.score >= 4.0:
        return "partial"
    return "weak"


__all__ = [
    "Calibration", "DEFAULT", "load_calibration", "save_calibration", "Scored", "apply_rules", "score_signals",
    "verdict", "CALIBRATION_PATH",
]
