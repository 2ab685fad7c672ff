"""Grounded chat: from a question (and the conversation so far) to a cited answer.

The flow, with LangChain pieces (CoachRetriever, ChatPromptTemplate, the chat-model
wrapper of our LLM):
  follow-up? -> standalone query (LLM rewrite, checked; else a rule-based fallback)
  -> retrieve -> weak evidence? -> "The guide does not cover this." (no LLM call)
  -> prompt and generate greedily -> validate citations -> if nothing valid is cited,
  cite the passages that lexically support the answer's sentences, or say so. If the
  model declines anyway, the best passage's own sentences are the (cited) answer.
The model only words the answer: which passages exist, which citations stand and
whether the guide covers the question are decided here, not by the model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from typing import Literal

from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser

from coach.citations import (
    attach_supported_citations,
    normalise,
    split_sentences,
    strip_citations,
    supported_sentences,
    validate_citations,
)
from coach.config import Settings
from coach.errors import InputError
from coach.lc_retriever import CoachRetriever
from coach.lexical import tokenize, words
from coach.llm.base import LLM, ChatMessage, GenerationConfig
from coach.llm.langchain_chat import LLMChatModel
from coach.prompts.chat import (
    ANSWER_PROMPT,
    MAX_PROMPT_PASSAGES,
    NOT_COVERED,
    REWRITE_PROMPT,
    PromptPassage,
    TokenCounter,
    answer_variables,
    count_words,
    passage_budgets,
    passage_tokens_available,
    rewrite_variables,
    trim_passage,
)
from coach.retrieve import HybridRetriever

# Retrieval evidence below this means "not in the guide" (see retrieval_strength);
# calibrated on evals/chat_dev.jsonl with the packaged embedder by
# coach.evaluation.chat_eval.calibrate_min_relevance.
MIN_RELEVANCE = 0.502
MAX_QUESTION_CHARS = 2000
REWRITE_MAX_TOKENS = 40
NEAREST_LISTED = 3
EXTRACT_WORDS = 60

_OPENERS = re.compile(r"^\s*(and|but|also|so|then|what about|how about|what else|why not|same for|"
                      r"can you (elaborate|expand|explain more|give an example)|more|example|tell me more)\b", re.I)
_BACK_REFERENCE = frozenset("it its it's this that these those they them their one ones same former latter there".split())
# The model, done answering, tends to start copying the passage list: "\n\n[q13] ...".
ANSWER_STOPS = ("\n\n[", "\nQuestion", "Guide passages:")
_REFUSAL = re.compile(r"(guide|passages?|text) (does|do) not (cover|answer|mention)|not covered", re.I)


@dataclass(frozen=True)
class Passage:
    id: str
    question: int | None
    title: str
    section: str
    score: float
    dense: float
    text: str  # what the model was shown (the best-matching part of a long unit)
    full_text: str = field(repr=False, default="")  # the whole unit: quotes and support are checked here

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("full_text")
        data["score"] = round(self.score, 6)
        data["dense"] = round(self.dense, 4)
        return data


@dataclass(frozen=True)
class ChatTimings:
    retrieve_ms: float
    first_token_ms: float | None  # from the request to the first generated token; None without the LLM
    total_ms: float
    tokens_per_s: float | None  # decoding speed after the first token

    def to_json(self) -> dict:
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class ChatAnswer:
    question: str
    query: str  # the standalone query that was retrieved with
    text: str  # the validated answer
    citations: tuple[str, ...]  # valid passage ids, in order of use
    passages: tuple[Passage, ...]
    grounded: bool  # the answer carries at least one verified citation
    refused: bool  # "the guide does not cover this": retrieval found no close passage
    removed_citations: tuple[str, ...]  # ids the model invented
    notices: tuple[str, ...]  # what was changed or could not be verified, for the user
    timings: ChatTimings
    relevance: float  # retrieval evidence the gate compared with its threshold
    raw_text: str = ""  # the model's words before validation

    def to_json(self) -> dict:
        return {
            "answer": self.text,
            "citations": list(self.citations),
            "passages": [p.to_json() for p in self.passages],
            "grounded": self.grounded,
            "refused": self.refused,
            "removed_citations": list(self.removed_citations),
            "notices": list(self.notices),
            "query": self.query,
            "relevance": round(self.relevance, 4),
            "timings": self.timings.to_json(),
        }


@dataclass(frozen=True)
class ChatEvent:
    kind: Literal["token", "final"]
    text: str = ""
    answer: ChatAnswer | None = None


def check_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InputError("The question is empty: type a question about the guide.")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(f"The question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}.")
    return question.strip()


def retrieval_strength(documents: Sequence[Document]) -> float:
    """Evidence that the guide answers the query: the dense cosine of the top unit.

    RRF scores only rank, so they cannot say "nothing fits"; the cosine can. Adding
    BM25 agreement or query-term coverage did not separate in-guide from off-guide
    questions any better on evals/chat_dev.jsonl or evals/retrieval_dev.jsonl.
    """
    return float(documents[0].metadata["dense"]) if documents else 0.0


def is_follow_up(question: str, history: Sequence[ChatMessage]) -> bool:
    """A question that leans on the conversation: an opener ("what about ..."), a word
    pointing back ("it", "that") before any content word, or almost no content words."""
    if not any(m.role == "user" for m in history):
        return False
    if _OPENERS.match(question):
        return True
    content = tokenize(question)
    if len(content) < 2:
        return True
    for word in words(question):
        if word in _BACK_REFERENCE:
            return True
        if tokenize(word):
            return False  # a content word came first: "it" most likely refers to it
    return False


def topic_of(text: str) -> str:
    """The content words of a question, as written: "What is batch normalization?" -> "batch normalization"."""
    return " ".join(dict.fromkeys(w for w in words(strip_citations(text)) if tokenize(w)))


def previous_topic(history: Sequence[ChatMessage]) -> str:
    """The topic of the latest user question that was not itself a follow-up."""
    users = [m.content for m in history if m.role == "user"]
    for n in range(len(users) - 1, -1, -1):
        if not is_follow_up(users[n], [ChatMessage("user", u) for u in users[:n]]):
            return topic_of(users[n])
    return topic_of(users[-1]) if users else ""


def fallback_query(question: str, history: Sequence[ChatMessage]) -> str:
    topic = previous_topic(history)
    return f"{question} ({topic})" if topic else question


def usable_rewrite(rewrite: str, question: str, topic: str) -> str | None:
    """The LLM's rewrite if it is one short question that keeps the follow-up's content
    words and names the earlier topic; None otherwise (the tiny model often rambles)."""
    line = rewrite.strip().splitlines()[0].strip().strip('"') if rewrite.strip() else ""
    if not line or len(line.split()) > 30 or _REFUSAL.search(line):
        return None
    mine, theirs = set(tokenize(line)), set(tokenize(question))
    if theirs and not mine & theirs:
        return None
    if topic and not mine & set(tokenize(topic)):
        return None
    return line


def tidy_answer(raw: str, hit_limit: bool, headers: Sequence[str] = ()) -> str:
    """Drop echoed passage headers ("[q04] What is batch normalization?"), repeated sentences
    (greedy decoding of a small model loops) and, if generation hit the token limit, the
    unfinished last sentence."""
    lines, seen = [], set()
    for line in raw.strip().removeprefix("Answer:").strip().splitlines():
        for header in headers:
            echoed = re.match(r"\s*" + r"\s+".join(map(re.escape, header.split())), line, re.I)
            if echoed:
                line = line[echoed.end():]
        kept = []
        for sentence in split_sentences(line):
            key = normalise(strip_citations(sentence))
            if key and key not in seen:
                seen.add(key)
                kept.append(sentence)
        if kept:
            lines.append(" ".join(kept))
    text = "\n".join(lines)
    if hit_limit:
        sentences = split_sentences(text)
        if len(sentences) > 1 and not re.search(r"[.!?\]]\W*$", sentences[-1]):
            text = text[: text.rfind(sentences[-1])].rstrip()
    return text


def extract_answer(passage: Passage, query: str) -> str:
    """The passage's sentences that best match the query, cited: used when the model declines
    although retrieval found a close passage (the model words answers; it does not judge coverage)."""
    return f"{trim_passage(passage.text, query, EXTRACT_WORDS)} [{passage.id}]"


def not_covered_text(passages: Sequence[Passage]) -> str:
    nearest = "; ".join(f"{p.id} ({p.title})" for p in passages[:NEAREST_LISTED])
    return f"{NOT_COVERED}\nNearest guide questions: {nearest}" if nearest else NOT_COVERED


def to_passages(documents: Sequence[Document], query: str, count: TokenCounter = count_words) -> list[Passage]:
    """Passages as the model sees them: for a long unit its best-matching piece, trimmed so
    the whole prompt stays near PROMPT_TOKENS."""
    titles = [d.metadata["title"] for d in documents]
    budgets = passage_budgets(len(documents), passage_tokens_available(query, titles, count))
    out = []
    for doc, budget in zip(documents, budgets, strict=True):
        meta = doc.metadata
        source = meta.get("best_chunk_text") or doc.page_content
        out.append(Passage(meta["id"], meta["question"], meta["title"], meta["section"], float(meta["score"]),
                           float(meta["dense"]), trim_passage(source, query, budget, count), doc.page_content))
    return out


class GroundedChat:
    """`answer(question, history)` for a whole ChatAnswer; `stream(...)` for tokens, then the answer."""

    def __init__(self, retriever: HybridRetriever, llm: LLM, settings: Settings,
                 min_relevance: float = MIN_RELEVANCE):
        self.settings = settings
        self.min_relevance = min_relevance
        self.retriever = CoachRetriever(retriever=retriever, k=settings.retrieval_k)
        self.llm = llm
        answer_config = GenerationConfig(max_tokens=settings.max_new_tokens, temperature=0.0, seed=settings.seed,
                                         stop=ANSWER_STOPS)
        rewrite_config = GenerationConfig(max_tokens=REWRITE_MAX_TOKENS, temperature=0.0, seed=settings.seed,
                                          stop=("\n",))
        # No StrOutputParser on the streamed chain: when its reader stops early, that LangChain stage
        # reads the model to the end (to trace its input), which would keep generating for nobody.
        self.answer_chain = ANSWER_PROMPT | LLMChatModel(llm=llm, config=answer_config)
        self.rewrite_chain = REWRITE_PROMPT | LLMChatModel(llm=llm, config=rewrite_config) | StrOutputParser()

    def answer(self, question: str, history: Sequence[ChatMessage] = ()) -> ChatAnswer:
        final = None
        with closing(self.stream(question, history)) as events:
            for event in events:
                final = event.answer or final
        assert final is not None  # stream always ends with a final event
        return final

    def standalone_query(self, question: str, history: Sequence[ChatMessage]) -> tuple[str, str | None]:
        """(query, notice): the question itself, the LLM's checked rewrite, or the rule-based fallback."""
        if not is_follow_up(question, history):
            return question, None
        turns = [("User" if m.role == "user" else "Coach", strip_citations(m.content)) for m in history[-4:]]
        rewrite = self.rewrite_chain.invoke(rewrite_variables(question, turns))
        usable = usable_rewrite(rewrite, question, previous_topic(history))
        if usable:
            return usable, f"Follow-up read as: {usable}"
        query = fallback_query(question, history)
        return query, f"Follow-up read as: {query}"

    def stream(self, question: str, history: Sequence[ChatMessage] = ()) -> Iterator[ChatEvent]:
        """Token events, then one final event. The model is held while this streams: a reader
        that stops early closes it (contextlib.closing), which closes the model's stream."""
        started = time.perf_counter()
        question = check_question(question)
        query, rewrite_notice = self.standalone_query(question, tuple(history))
        retrieve_started = time.perf_counter()
        documents = self.retriever.invoke(query)
        retrieve_ms = (time.perf_counter() - retrieve_started) * 1000
        relevance = retrieval_strength(documents)
        weak = not documents or relevance < self.min_relevance
        # The model sees the best few passages; a refusal lists every retrieved one as "nearest".
        shown = documents if weak else documents[:MAX_PROMPT_PASSAGES]
        passages = to_passages(shown, query, count_words if weak else self.llm.count_tokens)
        notices = [rewrite_notice] if rewrite_notice else []

        def finish(text: str, raw: str, **fields) -> ChatEvent:
            timings = ChatTimings(retrieve_ms, fields.pop("first_token_ms", None),
                                  (time.perf_counter() - started) * 1000, fields.pop("tokens_per_s", None))
            answer = ChatAnswer(question=question, query=query, text=text, passages=tuple(passages),
                                timings=timings, relevance=relevance, raw_text=raw, **fields)
            return ChatEvent("final", answer=answer)

        if weak:
            text = not_covered_text(passages)
            yield ChatEvent("token", text)
            notices.append("Retrieval found no passage close enough to answer from; the model was not asked.")
            yield finish(text, "", citations=(), grounded=False, refused=True, removed_citations=(),
                         notices=tuple(notices))
            return

        variables = answer_variables(query, [PromptPassage(p.id, p.title, p.text) for p in passages])
        pieces: list[str] = []
        first_at = None
        with closing(self.answer_chain.stream(variables)) as chunks:
            for chunk in chunks:
                piece = str(chunk.text)
                if not piece:
                    continue
                if first_at is None:
                    first_at = time.perf_counter()
                pieces.append(piece)
                yield ChatEvent("token", piece)
        ended = time.perf_counter()
        speed = (len(pieces) - 1) / (ended - first_at) if first_at and len(pieces) > 1 and ended > first_at else None
        timing = {"first_token_ms": (first_at - started) * 1000 if first_at else None, "tokens_per_s": speed}
        raw = "".join(pieces)
        headers = [f"[{p.id}] {p.title}" for p in passages]
        text = tidy_answer(raw, hit_limit=len(pieces) >= self.settings.max_new_tokens, headers=headers)
        if not text or _REFUSAL.search(strip_citations(split_sentences(text)[0])):
            text = extract_answer(passages[0], query)
            notices.append("The model did not answer from the passages, although retrieval found a close one; "
                           "this is the guide's own text.")

        full = {p.id: p.full_text for p in passages}
        report = validate_citations(text, full)
        if report.removed:
            ids = ", ".join(f"[{c}]" for c in report.removed)
            notices.append(f"Removed citation(s) {ids}: not among the passages retrieved for this question.")
        for quote in report.unverified_quotes:
            cited = ", ".join(quote.cited)
            notices.append(f"A quotation attributed to [{cited}] is not in that passage; its quotation marks were removed.")
        text, citations = report.text, report.citations
        if not citations:
            text, citations = attach_supported_citations(text, full)
            if citations:
                notices.append("The model cited no passage; citations were added to the sentences whose wording a passage supports.")
            else:
                notices.append("No valid citation: no sentence of this answer could be matched to a guide passage, so check it against the sources below.")
        supported, judged = supported_sentences(text, full)
        if citations and judged > supported:
            notices.append(f"{judged - supported} of {judged} sentences are not supported by a cited passage; check them against the sources.")
        yield finish(text, raw, citations=citations, grounded=bool(citations), refused=False,
                     removed_citations=report.removed, notices=tuple(notices), **timing)
