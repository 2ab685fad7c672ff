"""Adaptive mock interviews: engine.py (the session state machine), schedule.py (mastery and
spaced repetition), asking.py (follow-ups and the leak check), db.py (SQLite), summary.py and
export.py (what a session amounts to)."""

from coach.interview.db import InterviewDB
from coach.interview.engine import InterviewEngine
from coach.interview.model import Session, SessionInfo, Summary, Turn, TurnResult
from coach.interview.schedule import TopicMastery

__all__ = ["InterviewEngine", "InterviewDB", "Session", "SessionInfo", "Summary", "Turn", "TurnResult", "TopicMastery"]
