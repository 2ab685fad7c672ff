"""Answer grading: key points from the guide, calibrated coverage scoring, cited feedback."""

from coach.grading.grader import CUSTOM, Grader
from coach.grading.model import VERDICTS, Grade, KeyPoint, KeyPointResult

__all__ = ["Grader", "Grade", "KeyPoint", "KeyPointResult", "VERDICTS", "CUSTOM"]
