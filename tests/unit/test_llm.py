"""The LLM layer without weights: config, stop handling, the scripted fake, the
factory's choices, the LangChain wrapper, and the OpenAI-compatible client against
a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from coach.config import load_settings
from coach.errors import ModelError
from coach.llm import factory
from coach.llm.base import ChatMessage, GenerationConfig, StopScanner, apply_stops
from coach.llm.fake import RetainingLLM, ScriptedLLM, default_reply

USER = [ChatMessage("system", "Be brief."), ChatMessage("user", "What is dropout?")]


@pytest.fixture
def settings(tmp_path):
    def make(**overrides):
        base = {"index_dir": tmp_path / "index", "data_dir": tmp_path / "data"}
        return load_settings(overrides=base | overrides, environ={})

    factory.clear_llm_cache()
    yield make
    factory.clear_llm_cache()


# --- base -----------------------------------------------------------------


def test_generation_config_normalises_stop_and_rejects_nonsense():
    assert GenerationConfig(stop=None).stop == ()
    assert GenerationConfig(stop=["a", "", "b"]).stop == ("a", "b")
    with pytest.raises(ValueError):
        GenerationConfig(max_tokens=0)
    with pytest.raises(ValueError):
        GenerationConfig(temperature=-1)
    with pytest.raises(ValueError):
        ChatMessage("tool", "x")


@pytest.mark.parametrize("pieces", [["Hello wor", "ld\nQues", "tion: more"], list("Hello world\nQuestion: more"),
                                    ["Hello world\nQuestion: more"]])
def test_stop_scanner_cuts_at_a_stop_split_across_pieces(pieces):
    assert "".join(apply_stops(iter(pieces), ["\nQuestion"])) == "Hello world"


def test_stop_scanner_releases_a_near_miss_at_the_end():
    scanner = StopScanner(["<|im_end|>"])
    assert scanner.feed("done <|im") == "done "
    assert scanner.finish() == "<|im"
    assert not scanner.stopped


def test_stop_scanner_picks_the_earliest_of_several_stops():
    assert "".join(apply_stops(iter(["a. b\nc"]), ["\n", "."])) == "a"


# --- fake -----------------------------------------------------------------


def test_scripted_llm_replies_in_order_then_derives_a_deterministic_reply():
    llm = ScriptedLLM(["first", "second"])
    config = GenerationConfig()
    assert llm.generate(USER, config) == "first"
    assert "".join(llm.stream(USER, config)) == "second"
    assert llm.generate(USER, config) == llm.generate(USER, config) == default_reply(USER)
    assert "What is dropout?" in default_reply(USER)
    assert default_reply(USER) != default_reply([ChatMessage("user", "What is dropout?")])
    assert len(llm.history) == 4 and llm.history[0].messages == tuple(USER) and llm.history[0].config is config


def test_scripted_llm_honours_max_tokens_and_stop():
    llm = ScriptedLLM(["one two three four", "answer [1]\nQuestion: next"])
    assert llm.generate(USER, GenerationConfig(max_tokens=2)) == "one two "
    assert llm.generate(USER, GenerationConfig(stop=("\nQuestion",))) == "answer [1]"
    assert llm.count_tokens("a b c") == 3


# --- factory --------------------------------------------------------------


def test_factory_builds_the_fake_once_per_settings(settings):
    s = settings(llm_backend="fake")
    assert isinstance(factory.build_llm(s), ScriptedLLM)
    assert factory.build_llm(s) is factory.build_llm(s)
    assert factory.build_llm(settings(llm_backend="fake", max_new_tokens=5)) is factory.build_llm(s)  # not a key
    factory.clear_llm_cache()
    assert factory.build_llm(s) is not None


def test_factory_builds_the_openai_client_without_connecting(settings):
    llm = factory.build_llm(settings(llm_backend="openai", llm_base_url="http://127.0.0.1:9/v1", llm_model="qwen"))
    assert llm.name == "openai:qwen"


def test_openai_backend_needs_a_model_name(settings):
    with pytest.raises(ModelError, match="model name"):
        factory.build_llm(settings(llm_backend="openai", llm_base_url="http://127.0.0.1:9/v1"))


@pytest.mark.parametrize("backend", ["auto", "llamacpp", "transformers"])
def test_a_missing_model_path_is_a_model_error(settings, tmp_path, backend):
    with pytest.raises(ModelError, match="does not exist"):
        factory.build_llm(settings(llm_backend=backend, llm_model=str(tmp_path / "nope.gguf")))


def test_a_file_that_is_not_gguf_is_a_model_error(settings, tmp_path):
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"\0" * 16)
    with pytest.raises(ModelError, match="not a .gguf"):
        factory.build_llm(settings(llm_model=str(weights)))


def test_a_folder_without_config_is_a_model_error(settings, tmp_path):
    with pytest.raises(ModelError, match="config.json"):
        factory.build_llm(settings(llm_model=str(tmp_path)))


def test_llamacpp_refuses_a_folder(settings, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="needs a .gguf"):
        factory.build_llm(settings(llm_backend="llamacpp", llm_model=str(tmp_path)))


def test_llamacpp_checks_the_gguf_magic_before_loading(tmp_path):
    from coach.llm.llamacpp import LlamaCppLLM

    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"PK\3\4 not a gguf")
    with pytest.raises(ModelError, match="not a GGUF"):
        LlamaCppLLM(fake, threads=1).load()


def test_llamacpp_missing_runtime_is_a_model_error(tmp_path, monkeypatch):
    from coach.llm.llamacpp import LlamaCppLLM

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 16)
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(ModelError, match="llama-cpp-python is not installed"):
        LlamaCppLLM(model, threads=1).load()


class FakeLlama:
    """Stands in for llama_cpp.Llama: streams three pieces and counts the streams it saw closed."""

    def __init__(self):
        self.closed = 0

    def create_chat_completion(self, messages, **kwargs):
        def chunks():
            try:
                for piece in ("Drop", "out ", "helps."):
                    yield {"choices": [{"delta": {"content": piece}}]}
            finally:
                self.closed += 1

        return chunks()


def _llamacpp_over(fake: FakeLlama, tmp_path: Path, **kwargs):
    from coach.llm.llamacpp import LlamaCppLLM

    llm = LlamaCppLLM(tmp_path / "m.gguf", threads=1, **kwargs)
    llm._llama = fake  # load() then has nothing to build
    return llm


def test_an_abandoned_llamacpp_stream_frees_the_model_once_closed(tmp_path):
    fake = FakeLlama()
    llm = _llamacpp_over(fake, tmp_path, busy_timeout_s=0.05)
    abandoned = llm.stream(USER, GenerationConfig())
    assert next(abandoned) == "Drop"  # this stream now holds the model
    abandoned.close()  # what every caller that stops reading early does
    assert fake.closed == 1, "closing our stream closes llama.cpp's"
    assert llm.generate(USER, GenerationConfig()) == "Dropout helps."  # the next caller is not blocked


def test_a_caller_waiting_for_a_model_that_is_never_freed_gets_a_busy_error(tmp_path):
    fake = FakeLlama()
    llm = _llamacpp_over(fake, tmp_path, busy_timeout_s=0.05)
    held = llm.stream(USER, GenerationConfig())
    next(held)  # held and never closed, as a leaked stream would be
    with pytest.raises(ModelError, match="model is busy"):
        llm.generate(USER, GenerationConfig())
    held.close()
    assert llm.generate(USER, GenerationConfig()) == "Dropout helps."


def test_a_busy_transformers_model_is_an_error_not_a_hang(tmp_path):
    from coach.llm.transformers_backend import TransformersLLM

    llm = TransformersLLM(tmp_path, threads=1, dtype="float32", busy_timeout_s=0.05)
    llm._model = llm._tokenizer = object()  # load() then has nothing to build
    assert llm._lock.acquire(timeout=1)  # another generation holds the model
    try:
        with pytest.raises(ModelError, match="model is busy"):
            llm.generate(USER, GenerationConfig())
    finally:
        llm._lock.release()


def test_auto_picks_transformers_for_an_hf_folder(settings, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    llm = factory.build_llm(settings(llm_model=str(tmp_path)))
    assert llm.name.startswith("transformers:")


def test_auto_picks_llamacpp_for_a_gguf_when_it_works(settings, tmp_path, monkeypatch):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setattr(factory, "llamacpp_unusable_reason", lambda path, s: None)
    assert factory.build_llm(settings(llm_model=str(model))).name.startswith("llamacpp:m")


def test_auto_falls_back_to_transformers_and_says_why(settings, tmp_path, monkeypatch, caplog):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setattr(factory, "llamacpp_unusable_reason", lambda path, s: "its smoke test failed (exit code -4)")
    with caplog.at_level("WARNING", logger="coach.llm.factory"):
        llm = factory.build_llm(settings(llm_model=str(model)))
    assert llm.name.startswith("transformers:m")
    assert "exit code -4" in caplog.text


def test_the_llamacpp_probe_verdict_is_cached(settings, tmp_path, monkeypatch):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    calls = []
    monkeypatch.setattr(factory, "_run_probe", lambda path, threads: calls.append(path) or ("it crashed", True))
    monkeypatch.setattr(factory.importlib.util, "find_spec", lambda name: type("S", (), {"submodule_search_locations": [str(tmp_path)]})())
    s = settings()
    assert factory.llamacpp_unusable_reason(model, s) == "it crashed"
    assert factory.llamacpp_unusable_reason(model, s) == "it crashed"
    assert len(calls) == 1


def test_transformers_dtype_is_checked_without_loading(tmp_path):
    from coach.llm.transformers_backend import TransformersLLM

    assert TransformersLLM(tmp_path, threads=1, dtype="float32").name.endswith("@float32")
    with pytest.raises(ModelError, match="dtype"):
        TransformersLLM(tmp_path, threads=1, dtype="int3")


# --- LangChain wrapper ----------------------------------------------------


def test_langchain_wrapper_invokes_and_streams_through_the_llm():
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    from coach.llm.langchain_chat import LLMChatModel

    llm = ScriptedLLM(["Dropout zeroes units [1].", "Streamed reply here"])
    model = LLMChatModel(llm=llm, config=GenerationConfig(max_tokens=50, stop=("\nQuestion",)))
    reply = model.invoke([SystemMessage("Be brief."), HumanMessage("What is dropout?"), AIMessage("ok"), HumanMessage("more")])
    assert reply.content == "Dropout zeroes units [1]."
    sent = llm.history[-1]
    assert [m.role for m in sent.messages] == ["system", "user", "assistant", "user"]
    assert sent.config.stop == ("\nQuestion",) and sent.config.max_tokens == 50

    chunks = list(model.stream("hi", stop=["here"]))
    assert "".join(c.content for c in chunks) == "Streamed reply "
    assert llm.history[-1].config.stop == ("\nQuestion", "here")


def test_langchain_wrapper_closes_the_model_stream_when_its_reader_stops():
    from coach.llm.langchain_chat import LLMChatModel

    llm = RetainingLLM(["one two three four"])
    stream = LLMChatModel(llm=llm).stream("hi")
    assert next(stream).content == "one "
    stream.close()
    assert llm.closed == 1


def test_langchain_wrapper_works_in_a_chain():
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from coach.llm.langchain_chat import LLMChatModel

    llm = ScriptedLLM()
    chain = ChatPromptTemplate.from_messages([("system", "Coach."), ("human", "Q: {q}")]) | LLMChatModel(llm=llm) | StrOutputParser()
    out = chain.invoke({"q": "vanishing gradients?"})
    assert out == default_reply(list(llm.history[-1].messages))
    assert "".join(chain.stream({"q": "vanishing gradients?"})) == out


# --- OpenAI-compatible HTTP ----------------------------------------------


class FakeOpenAI(BaseHTTPRequestHandler):
    """Just enough of /v1/chat/completions; behaviour is set per test on `server.mode`."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, dict(self.headers), body))
        mode = self.server.mode
        if mode == "error":
            return self._send(500, b'{"error": "model exploded"}')
        if mode == "auth" and self.headers.get("Authorization") != "Bearer sekret":
            return self._send(401, b'{"error": "bad key"}')
        if mode == "slow":
            time.sleep(1.0)
        if mode == "garbage":
            return self._send(200, b"<html>not json</html>")
        text = "Batch norm [1] helps.\nQuestion: ignored"
        if not body.get("stream"):
            reply = {"choices": [{"message": {"role": "assistant", "content": text}}]}
            return self._send(200, json.dumps(reply).encode())
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b": keep-alive\n\n")
        for piece in ["Batch", " norm", " [1]", " helps.\nQues", "tion: ignored"]:
            event = {"choices": [{"delta": {"content": piece}}]}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def _send(self, status, payload):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that timed out and left
            super().handle_error(request, client_address)


@pytest.fixture
def server():
    httpd = QuietServer(("127.0.0.1", 0), FakeOpenAI)
    httpd.mode, httpd.requests = "ok", []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def client(server, **kw):
    from coach.llm.openai_http import OpenAIChatLLM

    return OpenAIChatLLM(f"http://127.0.0.1:{server.server_address[1]}/v1", "smol", **kw)


STOP = GenerationConfig(max_tokens=20, stop=("\nQuestion",))


def test_openai_generate_sends_an_openai_request_and_applies_stops(server):
    llm = client(server, api_key="sekret")
    assert llm.generate(USER, STOP) == "Batch norm [1] helps."
    path, headers, body = server.requests[-1]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer sekret"
    assert body["model"] == "smol" and body["stream"] is False and body["stop"] == ["\nQuestion"]
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is dropout?"}]
    assert body["temperature"] == 0.0 and body["max_tokens"] == 20


def test_openai_stream_parses_sse_and_joins_to_generate(server):
    pieces = list(client(server).stream(USER, STOP))
    assert len(pieces) > 1
    assert "".join(pieces) == "Batch norm [1] helps."
    assert server.requests[-1][2]["stream"] is True


@pytest.mark.parametrize("mode, match", [("error", "HTTP 500.*model exploded"), ("auth", "HTTP 401.*llm_api_key"),
                                         ("garbage", "not an OpenAI chat completion")])
def test_openai_server_errors_are_model_errors(server, mode, match):
    server.mode = mode
    with pytest.raises(ModelError, match=match):
        client(server).generate(USER, STOP)


def test_openai_stream_errors_are_model_errors(server):
    server.mode = "error"
    with pytest.raises(ModelError, match="HTTP 500"):
        list(client(server).stream(USER, STOP))


def test_openai_connection_refused_is_a_model_error():
    from coach.llm.openai_http import OpenAIChatLLM

    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    llm = OpenAIChatLLM(f"http://127.0.0.1:{port}/v1", "smol")
    with pytest.raises(ModelError, match="Cannot connect.*Is it running"):
        llm.generate(USER, STOP)
    with pytest.raises(ModelError, match="Cannot connect"):
        list(llm.stream(USER, STOP))


def test_openai_timeout_is_a_model_error(server):
    server.mode = "slow"
    llm = client(server, timeout=httpx.Timeout(0.2))
    with pytest.raises(ModelError, match="in time|timeout"):
        llm.generate(USER, STOP)


def test_a_probe_timeout_is_not_cached(settings, tmp_path, monkeypatch):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    calls = []
    monkeypatch.setattr(factory, "_run_probe", lambda path, threads: calls.append(path) or ("too slow", False))
    monkeypatch.setattr(factory.importlib.util, "find_spec", lambda name: type("S", (), {"submodule_search_locations": [str(tmp_path)]})())
    s = settings()
    factory.llamacpp_unusable_reason(model, s)
    factory.llamacpp_unusable_reason(model, s)
    assert len(calls) == 2
