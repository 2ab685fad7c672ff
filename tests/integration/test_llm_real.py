"""The packaged SmolLM2 through the real runtimes: greedy is deterministic, streaming
joins to the same text, stop sequences are honoured. Few tokens, so it stays fast."""

from __future__ import annotations

import pytest

from coach.llm.base import ChatMessage, GenerationConfig
from coach.llm.factory import build_llm, llm_cache_dir, packaged_gguf_path

pytestmark = pytest.mark.model

QUESTION = [ChatMessage("system", "You are a concise tutor."), ChatMessage("user", "What is the capital of France?")]
GREEDY = GenerationConfig(max_tokens=16, temperature=0.0, seed=0)


@pytest.fixture(scope="module")
def settings(real_settings):
    # The repo's index dir: the converted transformers weights are cached there across runs.
    return real_settings


def _llamacpp(settings):
    pytest.importorskip("llama_cpp")
    from coach.llm.llamacpp import LlamaCppLLM

    return LlamaCppLLM(packaged_gguf_path(), threads=settings.threads, context=1024, cache_dir=llm_cache_dir(settings))


def _transformers(settings):
    pytest.importorskip("transformers")
    from coach.llm.transformers_backend import TransformersLLM

    return TransformersLLM(packaged_gguf_path(), threads=settings.threads, cache_dir=llm_cache_dir(settings))


@pytest.fixture(scope="module", params=["llamacpp", "transformers"])
def llm(request, settings):
    return {"llamacpp": _llamacpp, "transformers": _transformers}[request.param](settings).load()


def test_greedy_is_deterministic_and_sensible(llm):
    first = llm.generate(QUESTION, GREEDY)
    assert first == llm.generate(QUESTION, GREEDY)
    assert "Paris" in first


def test_streaming_joins_to_the_generated_text(llm):
    pieces = list(llm.stream(QUESTION, GREEDY))
    assert len(pieces) > 1
    assert "".join(pieces) == llm.generate(QUESTION, GREEDY)


def test_stop_sequences_end_the_answer_before_them(llm):
    full = llm.generate(QUESTION, GREEDY)
    assert "Paris" in full
    cut = llm.generate(QUESTION, GenerationConfig(max_tokens=16, stop=("Paris",)))
    assert cut == full[: full.index("Paris")]
    assert "".join(llm.stream(QUESTION, GenerationConfig(max_tokens=16, stop=("Paris",)))) == cut


def test_max_tokens_bounds_the_reply(llm):
    reply = llm.generate([ChatMessage("user", "Explain gradient descent in detail.")], GenerationConfig(max_tokens=5))
    assert 1 <= llm.count_tokens(reply) <= 6  # re-tokenizing the text may differ by one


def test_the_default_backend_answers(settings):
    llm = build_llm(settings)
    assert llm.name.split(":")[0] in {"llamacpp", "transformers"}
    assert "Paris" in llm.generate(QUESTION, GREEDY)
