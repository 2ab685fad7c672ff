"""Grounded chat with the real packaged models (embedder + SmolLM2-135M, greedy)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from coach.chat import to_passages
from coach.cli import app
from coach.llm.base import ChatMessage
from coach.prompts.chat import ANSWER_PROMPT, MAX_PROMPT_PASSAGES, PROMPT_TOKENS, PromptPassage, answer_variables

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def chat(real_coach):
    return real_coach.chat


def test_ask_json_cites_only_retrieved_passages(chat):
    # `chat` built the session's Coach; the CLI's settings are equal, so it reuses it.
    result = CliRunner().invoke(app, ["ask", "What is batch normalization?", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    ids = [p["id"] for p in data["passages"]]
    assert ids[0] == "q04"
    assert data["grounded"] is True and data["citations"]
    assert set(data["citations"]) <= set(ids)
    assert all(f"[{c}]" in data["answer"] for c in data["citations"])
    assert data["timings"]["first_token_ms"] is not None


def test_off_guide_question_is_not_grounded(chat):
    answer = chat.answer("What is the capital of France?")
    assert answer.grounded is False and answer.refused
    assert answer.citations == ()
    assert answer.timings.first_token_ms is None  # refused before the model was asked


def test_follow_up_uses_the_conversation(chat):
    first = chat.answer("What is batch normalization?")
    history = [ChatMessage("user", "What is batch normalization?"), ChatMessage("assistant", first.text)]
    follow_up = chat.answer("Why does it help training?", history)
    assert follow_up.query != "Why does it help training?"
    assert "normaliz" in follow_up.query.lower()
    assert "q04" in [p.id for p in follow_up.passages]
    assert not follow_up.refused
    assert set(follow_up.citations) <= {p.id for p in follow_up.passages}


@pytest.mark.parametrize("question", ["What are the different layers in a CNN?", "How would I implement a VAE in Keras?"])
def test_prompt_fits_the_token_budget_with_the_real_tokenizer(chat, question):
    documents = chat.retriever.invoke(question)[:MAX_PROMPT_PASSAGES]
    passages = to_passages(documents, question, chat.llm.count_tokens)
    variables = answer_variables(question, [PromptPassage(p.id, p.title, p.text) for p in passages])
    tokens = sum(chat.llm.count_tokens(m.content) for m in ANSWER_PROMPT.format_messages(**variables))
    assert PROMPT_TOKENS * 0.6 <= tokens <= PROMPT_TOKENS + 20
