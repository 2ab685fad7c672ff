"""Grade an answer to a guide question (or against a given reference answer).

The flow, one direction: resolve the question -> its rubric (key points, cached) ->
screen the answer -> embed answer pieces -> per-point coverage, conflicts, relevance ->
calibrated score and rules -> feedback and model answer. Only this module touches the
embedder; everything it calls is a pure function.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import numpy as np

from coach.config import Settings
from coach.corpus import QUESTION, SUBCHUNK, Chunk
from coach.embed import Embedder
from coach.errors import InputError
from coach.grading.coverage import answer_features, answer_units, idf_table, match_points, unit_vectors
from coach.grading.feedback import llm_feedback, model_answer, template_feedback
from coach.grading.model import Grade, KeyPoint, KeyPointResult
from coach.grading.rubric import guide_rubric, reference_rubric
from coach.grading.score import Calibration, load_calibration, score_signals, verdict
from coach.grading.screening import STUFFING_NOTICE, screen_answer
from coach.grading.text import content_terms, demote_question_words
from coach.retrieve import HybridRetriever
from coach.store import Index

CUSTOM = "custom"
MATCH_MIN_DENSE = 0.55  # free-text question -> guide question: cosine needed to accept the match
MAX_REFERENCE_CHARS = 20_000
# "Two or three sentences" is 50-90 tokens; the bound keeps LLM feedback within the 4 s a
# grade may take here when the small model rambles (a cut-off last sentence is dropped).
FEEDBACK_MAX_TOKENS = 100
MAX_CACHED_VECTORS = 20_000  # ~30 MB of MiniLM vectors
LIST_REFERENCE_TERMS = 12  # content terms below which a reference answer is a list of names
_QUESTION_REF = re.compile(r"^\s*(?:q(?:uestion)?\s*#?\s*)?0*(\d{1,3})\s*$", re.IGNORECASE)


class Grader:
    def __init__(
        self,
        index: Index,
        embedder: Embedder,
        retriever: HybridRetriever,
        settings: Settings,
        llm_provider: Callable[[], object] | None = None,
        calibration: Calibration | None = None,
    ):
        self.index = index
        self.embedder = embedder
        self.retriever = retriever
        self.settings = settings
        self.llm_provider = llm_provider
        self.calibration = calibration or load_calibration()
        self._units = [c for c in index.chunks.values() if c.kind == QUESTION]
        self._by_number = {n: u for u in self._units for n in u.numbers}
        self._rubrics: dict[str, list[KeyPoint]] = {}
        self._vectors: dict[str, np.ndarray] = {}  # embeddings cached per process, by text
        self._lock = threading.Lock()
        self._idf = idf_table([u.text for u in self._units])
        self._unit_matrix: np.ndarray | None = None

    # -- questions and rubrics -------------------------------------------------------

    def resolve_question(self, ref: int | str) -> Chunk:
        """A guide number (4, "4", "q04"; duplicates like 21 -> q15) or free text -> the unit."""
        if isinstance(ref, bool):
            raise InputError("A question must be a guide number like 4 or 'q04', or the question's text.")
        if isinstance(ref, int) or (isinstance(ref, str) and _QUESTION_REF.match(ref)):
            number = ref if isinstance(ref, int) else int(_QUESTION_REF.match(ref).group(1))  # type: ignore[union-attr]
            unit = self._by_number.get(number)
            if unit is None:
                known = ", ".join(str(n) for n in sorted(self._by_number))
                raise InputError(f"Question {number} is not in the guide. Guide questions: {known}.")
            return unit
        text = str(ref).strip()
        if not text:
            raise InputError("The question is empty. Give a guide number like 4 or the question's text.")
        hits = [h for h in self.retriever.search(text, k=3) if h.chunk.kind == QUESTION]
        if not hits or hits[0].dense < MATCH_MIN_DENSE:
            raise InputError(
                f"No guide question matches {text[:80]!r} closely enough. Give a guide number (like 4), "
                "or pass a reference answer to grade against (--reference)."
            )
        return hits[0].chunk

    def rubric(self, question_id: str) -> list[KeyPoint]:
        """Key points of a guide question unit (cached)."""
        with self._lock:
            if question_id not in self._rubrics:
                unit = self.index.chunks.get(question_id)
                if unit is None or unit.kind != QUESTION:
                    raise InputError(f"{question_id!r} is not a guide question id (like 'q04').")
                pieces = [c for c in self.index.chunks.values() if c.kind == SUBCHUNK and c.parent == unit.id]
                self._rubrics[question_id] = guide_rubric(unit, pieces)
            return self._rubrics[question_id]

    def chunk_ids(self, unit: Chunk) -> set[str]:
        return {unit.id} | {c.id for c in self.index.chunks.values() if c.parent == unit.id}

    # -- embeddings ------------------------------------------------------------------

    def _embed_cached(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
            if missing:
                for text, vector in zip(missing, self.embedder.embed(missing), strict=False):
                    self._vectors[text] = vector
            found = np.stack([self._vectors[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)
            # Guide texts are few, but every custom reference adds its own: a long-running
            # server keeps the newest MAX_CACHED_VECTORS (insertion order) so memory stays flat.
            while len(self._vectors) > MAX_CACHED_VECTORS:
                del self._vectors[next(iter(self._vectors))]
            return found

    def _unit_text(self, unit: Chunk) -> str:
        return f"{unit.title}\n{unit.text}"

    def _all_units(self) -> np.ndarray:
        if self._unit_matrix is None:
            self._unit_matrix = self._embed_cached([self._unit_text(u) for u in self._units])
        return self._unit_matrix

    # -- grading ---------------------------------------------------------------------

    def grade(self, question: int | str, answer: str, reference: str | None = None, feedback: str = "template") -> Grade:
        if feedback not in ("template", "llm"):
            raise InputError("feedback must be 'template' or 'llm'.")
        if not isinstance(answer, str):
            raise InputError("The answer must be text.")
        reference = (reference or "").strip() or None
        if reference and len(reference) > MAX_REFERENCE_CHARS:
            raise InputError(f"The reference answer is longer than {MAX_REFERENCE_CHARS} characters; shorten it.")
        unit = self._resolve_for_grading(question, reference)
        if reference:
            points = reference_rubric(reference)
            number, question_id = (unit.question, unit.id) if unit else (None, CUSTOM)
            question_text = unit.title if unit else str(question).strip()
            target_text = f"{question_text}\n{reference}"
            allowed = {"reference"}
        else:
            assert unit is not None
            points = self.rubric(unit.id)
            number, question_id, question_text = unit.question, unit.id, unit.title
            target_text = self._unit_text(unit)
            allowed = self.chunk_ids(unit)
        screened = screen_answer(answer, self.settings.max_answer_chars)
        units = answer_units(screened.text)
        point_vectors = self._embed_cached([p.match_text for p in points])
        sentence_vectors = self.embedder.embed(units.sentences) if units.sentences else point_vectors[:0]
        vectors = unit_vectors(units, sentence_vectors)
        matches, conflicts, claims = match_points(points, point_vectors, units, vectors, question_text, self._idf)
        relevance, off_topic = self._relevance(vectors, target_text, unit if not reference else None)
        prose = " ".join(p.text for p in points if p.kind != "code")
        reference_terms = len(content_terms(prose))
        # A reference that is itself a few terms ("data members and member functions") asks
        # for a list: naming the right terms is then the answer, not stuffing.
        lists_expected = 0 < reference_terms < LIST_REFERENCE_TERMS  # (a code-only reference has no prose)
        stuffing = 0.0 if lists_expected else screened.stuffing
        signals = answer_features(matches, conflicts, claims, units, relevance, off_topic, stuffing,
                                  reference_terms, set(content_terms(target_text)), self._idf,
                                  self._demoted_similarity(screened.text, prose, question_text))
        signals["given_reference"] = 1.0 if reference else 0.0  # not a feature: some rules differ (score.py)
        scored = score_signals(signals, screened, self.calibration)
        no_answer = screened.empty or screened.declined
        results = tuple(
            KeyPointResult(m.point, (not no_answer) and m.coverage >= 0.5 and m.conflict is None,
                           m.evidence if m.coverage >= 0.5 and m.conflict is None else "", round(m.coverage, 3))
            for m in matches
        )
        text = template_feedback(list(results), conflicts, scored.score, no_answer)
        notices = [n for n in screened.notices if not (lists_expected and n == STUFFING_NOTICE)]
        if feedback == "llm" and not no_answer:
            text, used = self._llm_feedback(question_text, screened.text, list(results), allowed, text)
            if not used:
                notices.append("LLM feedback did not pass its checks; template feedback is shown.")
        signals = {k: round(v, 4) for k, v in signals.items()} | {"curve": round(scored.curve, 3)}
        citations = tuple(sorted({p.citation for p in points}))
        return Grade(
            question=number,
            question_id=question_id,
            question_text=question_text,
            score=scored.score,
            verdict=verdict(scored, screened, signals),
            key_points=results,
            feedback=text,
            citations=citations,
            model_answer=model_answer(list(results)),
            notices=tuple(notices) + tuple(f"Rule applied: {r}." for r in scored.rules if r != "no answer"),
            signals=signals,
        )

    def _resolve_for_grading(self, question: int | str, reference: str | None) -> Chunk | None:
        if not reference:
            return self.resolve_question(question)
        # With a reference, a guide number still names the question; free text needs no match.
        if isinstance(question, int) or (isinstance(question, str) and _QUESTION_REF.match(question)):
            return self.resolve_question(question)
        return None

    def _demoted_similarity(self, answer: str, reference: str, question: str) -> float:
        """Cosine of answer and reference once both lose the question's words."""
        if not answer.strip() or not reference.strip():
            return 0.0
        answer_vector = self.embedder.embed([demote_question_words(answer, question)])[0]
        return float(answer_vector @ self._embed_cached([demote_question_words(reference, question)])[0])

    def _relevance(self, unit_vectors: np.ndarray, target_text: str, unit: Chunk | None) -> tuple[float, float]:
        """(cosine of the whole answer to the target, how much closer it is to another question)."""
        if len(unit_vectors) == 0:
            return 0.0, 0.0
        whole = unit_vectors[-1]  # answer_units puts the whole answer last
        relevance = float(self._embed_cached([target_text])[0] @ whole)
        if unit is None:
            return relevance, 0.0
        sims = self._all_units() @ whole
        own = [i for i, u in enumerate(self._units) if u.id == unit.id][0]
        others = np.delete(sims, own)
        best_other = float(others.max()) if len(others) else -1.0
        return relevance, float(min(1.0, max(0.0, (best_other - float(sims[own]) + 0.02) / 0.10)))

    def _llm_feedback(self, question: str, answer: str, results: list[KeyPointResult], allowed: set[str],
                      fallback: str) -> tuple[str, bool]:
        if self.llm_provider is None:
            return fallback, False
        from coach.llm.base import ChatMessage, GenerationConfig  # the LLM is optional; import on use
        from coach.prompts.grading import feedback_messages

        llm = self.llm_provider()
        covered = [(r.point.text, r.point.citation) for r in results if r.covered][:4]
        missed = [(r.point.text, r.point.citation) for r in sorted(results, key=lambda r: -r.point.weight)
                  if not r.covered][:4]
        messages = feedback_messages(question, answer, covered, missed)
        config = GenerationConfig.from_settings(  # greedy: same answer, same words
            self.settings, temperature=0.0, max_tokens=min(self.settings.max_new_tokens, FEEDBACK_MAX_TOKENS))

        def generate(pairs: list[tuple[str, str]]) -> str:
            return llm.generate([ChatMessage(role, content) for role, content in pairs], config)  # type: ignore[attr-defined]

        return llm_feedback(generate, messages, allowed, fallback)


__all__ = ["Grader", "CUSTOM"]
