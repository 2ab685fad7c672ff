"""Any OpenAI-compatible chat completions server (vLLM, llama.cpp server, Ollama, TGI).

Streaming uses server-sent events. Every transport or protocol failure becomes a
ModelError naming the URL, so a user can tell "server down" from "bad model".
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import httpx

from coach.errors import ModelError
from coach.llm.base import ChatMessage, GenerationConfig, apply_stops, estimate_tokens

# Connecting should be instant on a LAN; the first token of a long prompt may not be.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=120.0, write=30.0, pool=5.0)


class OpenAIChatLLM:
    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: httpx.Timeout = DEFAULT_TIMEOUT):
        if not base_url:
            raise ModelError("The OpenAI-compatible backend needs llm_base_url, e.g. http://127.0.0.1:8080/v1.")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{model}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _payload(self, messages: Sequence[ChatMessage], config: GenerationConfig, stream: bool) -> dict:
        payload = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "seed": config.seed,
            "stream": stream,
        }
        if config.stop:
            payload["stop"] = list(config.stop)[:4]  # the OpenAI API accepts at most four
        return payload

    def generate(self, messages: Sequence[ChatMessage], config: GenerationConfig) -> str:
        with self._request(self._payload(messages, config, stream=False)) as response:
            try:
                response.read()
            except httpx.HTTPError as exc:
                raise ModelError(f"Reading the reply from {self._url()} failed: {exc!r}") from None
            try:
                text = response.json()["choices"][0]["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError):
                raise ModelError(f"{self._url()} returned a reply that is not an OpenAI chat completion.") from None
        # Servers differ in how they treat stop sequences; applying them again is harmless.
        return "".join(apply_stops(iter([text]), config.stop))

    def stream(self, messages: Sequence[ChatMessage], config: GenerationConfig) -> Iterator[str]:
        return apply_stops(self._events(self._payload(messages, config, stream=True)), config.stop)

    def _events(self, payload: dict) -> Iterator[str]:
        with self._request(payload) as response:
            try:
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue  # comments, event names, keep-alives
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    piece = _delta(data, self._url())
                    if piece:
                        yield piece
            except httpx.TimeoutException:
                raise ModelError(f"{self._url()} stopped sending tokens (read timeout).") from None
            except httpx.TransportError as exc:
                raise ModelError(f"The connection to {self._url()} broke while streaming: {exc}") from None

    def _request(self, payload: dict):
        """An open streaming response with a 2xx status, as a context manager."""
        return _CheckedResponse(self, payload)

    def _url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)  # the API has no tokenizer endpoint in common


def _delta(data: str, url: str) -> str:
    try:
        event = json.loads(data)
    except ValueError:
        raise ModelError(f"{url} sent a stream event that is not JSON: {data[:200]!r}") from None
    if "error" in event:
        raise ModelError(f"{url} reported an error mid-stream: {event['error']}")
    choices = event.get("choices") or [{}]
    return (choices[0].get("delta") or {}).get("content") or ""


class _CheckedResponse:
    def __init__(self, llm: OpenAIChatLLM, payload: dict):
        self._llm = llm
        self._payload = payload
        self._cm = None

    def __enter__(self) -> httpx.Response:
        url = self._llm._url()
        self._cm = self._llm._client.stream("POST", "/chat/completions", json=self._payload)
        try:
            response = self._cm.__enter__()
        except httpx.ConnectError as exc:
            raise ModelError(f"Cannot connect to the model server at {url} ({exc}). Is it running? Check llm_base_url.") from None
        except httpx.TimeoutException:
            raise ModelError(f"The model server at {url} did not answer in time.") from None
        except httpx.HTTPError as exc:
            raise ModelError(f"Request to the model server at {url} failed: {exc}") from None
        if not response.is_success:
            body = response.read().decode("utf-8", "replace")[:300]
            self._cm.__exit__(None, None, None)
            hint = " Check llm_api_key." if response.status_code in (401, 403) else ""
            hint = hint or (" Check llm_model and llm_base_url." if response.status_code == 404 else "")
            raise ModelError(f"The model server at {url} answered HTTP {response.status_code}: {body}{hint}")
        return response

    def __exit__(self, *exc_info) -> None:
        self._cm.__exit__(*exc_info)


__all__ = ["OpenAIChatLLM", "DEFAULT_TIMEOUT"]
