"""A LangChain chat model over any coach LLM, so chains (chat.py) can use our backends.

LangChain messages map onto ChatMessage roles. Generation settings come from the
wrapper's `config`; a `stop` passed by a chain is added to its stop sequences, and
`max_tokens` / `temperature` / `seed` keyword arguments override it per call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from coach.llm.base import ChatMessage, GenerationConfig

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}
_OVERRIDABLE = ("max_tokens", "temperature", "seed")


def to_chat_messages(messages: list[BaseMessage]) -> list[ChatMessage]:
    out = []
    for message in messages:
        role = _ROLES.get(message.type)
        if role is None:
            raise ValueError(f"LangChain message type {message.type!r} has no chat role here (tools are not supported)")
        out.append(ChatMessage(role, str(message.text)))
    return out


class LLMChatModel(BaseChatModel):
    """`LLMChatModel(llm=build_llm(settings), config=GenerationConfig(...))`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: Any  # an LLM; Any because pydantic cannot validate a Protocol
    config: GenerationConfig = Field(default_factory=GenerationConfig)

    @property
    def _llm_type(self) -> str:
        return "coach"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.llm.name, "max_tokens": self.config.max_tokens,
                "temperature": self.config.temperature, "seed": self.config.seed}

    def _call_config(self, stop: list[str] | None, kwargs: dict[str, Any]) -> GenerationConfig:
        changes = {k: kwargs[k] for k in _OVERRIDABLE if k in kwargs}
        return replace(self.config, stop=tuple(self.config.stop) + tuple(stop or ()), **changes)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self.llm.generate(to_chat_messages(messages), self._call_config(stop, kwargs))
        message = AIMessage(content=text, response_metadata={"model_name": self.llm.name})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        # Closed explicitly when LangChain stops reading early: a local model is held until then.
        with closing(self.llm.stream(to_chat_messages(messages), self._call_config(stop, kwargs))) as pieces:
            for piece in pieces:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
        last = AIMessageChunk(content="", response_metadata={"model_name": self.llm.name}, chunk_position="last")
        yield ChatGenerationChunk(message=last)


__all__ = ["LLMChatModel", "to_chat_messages"]
