"""The Gradio app with the real engine on fakes (hashing embedder, scripted LLM): the
Blocks build, handlers' outputs, escaping, friendly errors, users kept apart, the API."""

from __future__ import annotations

import logging
import re
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
import pytest

from coach.app import access, api, batch_tab, chat_tab, interview_tab, progress_tab, render
from coach.app.failures import GENERIC, friendly
from coach.app.server import build_app
from coach.config import REPO_ROOT, load_settings
from coach.errors import ConfigError, InputError

GUIDE = REPO_ROOT / "corpus" / "deep-learning-interview-guide.txt"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
CITED_REPLY = "Batch normalization normalizes the inputs of a layer using the batch mean and standard deviation [q04]."


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    # As the fake_settings fixture, but built once for the module (the index is the slow part).
    return load_settings(
        overrides={"embedding_model": "hashing", "llm_backend": "fake", "index_dir": tmp / "index",
                   "data_dir": tmp / "data", "corpus_path": GUIDE, "max_upload_mb": 1},
        environ={},
    )


@pytest.fixture(scope="module")
def coach(settings):
    from coach.llm.fake import ScriptedLLM
    from coach.wiring import build_coach

    coach = build_coach(settings)
    coach.__dict__["llm"] = ScriptedLLM()  # the scripted model these tests queue replies on
    return coach


@pytest.fixture
def llm(coach):
    """The coach's scripted LLM, emptied of queued replies and recorded calls."""
    coach.llm.replies.clear()
    coach.llm.history.clear()
    return coach.llm


@pytest.fixture(scope="module")
def demo(coach, settings):
    return build_app(coach, settings)


# -- the Blocks --------------------------------------------------------------------------------

def test_the_app_has_four_tabs_and_exactly_the_named_api_endpoints(demo):
    public = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert public == {"chat", "grade", "interview_start", "interview_answer", "batch_eval"}
    tabs = [block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs == ["Chat", "Mock interview", "Batch evaluation", "Progress"]


def test_batch_runs_queue_apart_from_the_model_slots(demo, settings):
    groups = {fn.api_name: (fn.concurrency_id, fn.concurrency_limit) for fn in demo.fns.values() if fn.api_name}
    assert groups["batch_eval"] == ("batch", 1)
    assert groups["chat"] == ("model", settings.concurrency_limit)
    assert groups["grade"][0] == groups["interview_answer"][0] == "model"


# -- escaping ------------------------------------------------------------------------------------

def test_user_model_and_guide_text_is_escaped_everywhere():
    assert "<script>" not in render.chat_text(XSS) and "&lt;script&gt;" in render.chat_text(XSS)
    assert "!\\[" in render.chat_text("![x](http://example.com/a.png)")  # no image fetch
    passage = {"id": "q04", "title": XSS, "section": XSS, "question": 4, "text": XSS}
    html = render.sources_panel([passage], ["q04"], refused=False, notices=[XSS])
    card = render.grade_card({"score": 5.0, "verdict": "partial", "feedback": XSS, "citations": [XSS], "notices": [XSS],
                              "model_answer": XSS, "key_points": [{"text": XSS, "covered": True, "evidence": XSS,
                                                                   "citation": XSS, "quote": XSS}]},
                             show_model_answer=True)
    for out in (html, card, render.question_card(XSS, 1, 2, XSS, XSS, XSS), render.empty_state(XSS, XSS),
                render.table([XSS], [[XSS]]), render.bar_chart([(XSS, 5.0, XSS)])):
        assert "<script>" not in out and "<img" not in out
        assert "&lt;script&gt;" in out


def test_sources_panel_shows_cited_passages_or_says_plainly_the_guide_does_not_cover_it():
    passages = [{"id": "q04", "title": "What is batch normalization?", "section": "Training", "question": 4, "text": "BN."},
                {"id": "q09", "title": "What is dropout?", "section": "Training", "question": 9, "text": "Dropout."}]
    cited = render.sources_panel(passages, ["q09"], refused=False)
    assert "Sources (1)" in cited and 'data-source="q09"' in cited and 'data-source="q04"' not in cited
    nearest = render.sources_panel(passages, [], refused=True)
    assert "Not covered by the guide" in nearest
    assert 'data-source="q04"' in nearest and 'data-source="q09"' in nearest


# -- chat ------------------------------------------------------------------------------------------

def test_chat_streams_then_shows_a_cited_answer_with_source_cards(coach, llm):
    llm.queue(CITED_REPLY)
    steps = list(chat_tab.respond(coach, "What is batch normalization?", [], []))
    assert len(steps) >= 3  # the pending bubble, at least one token, the final answer
    messages, sources, box, history = steps[-1]
    assert box == ""
    assert messages[0] == {"role": "user", "content": "What is batch normalization?"}
    assert "[q04]" in messages[1]["content"] and "**Sources:** `q04`" in messages[1]["content"]
    assert 'data-source="q04"' in sources and "What is batch normalization?" in sources
    assert 'data-turn="1"' in sources  # numbers the answer, so a page can tell it from the last one
    assert history == [("What is batch normalization?", messages[1]["content"].split("\n\n**Sources")[0])]
    assert len(llm.history) == 1


def test_chat_passes_the_conversation_to_the_engine(coach, llm):
    llm.queue(CITED_REPLY, CITED_REPLY)
    *_, (messages, _, _, history) = chat_tab.respond(coach, "What is batch normalization?", [], [])
    list(chat_tab.respond(coach, "Why does it help training?", history, messages))
    follow_up_prompt = " ".join(m.content for m in llm.history[-1].messages)
    assert "batch" in follow_up_prompt.lower()  # the follow-up was read in the context of the first question


def test_chat_escapes_the_question_in_the_conversation(coach, llm):
    *_, (messages, _, _, _) = chat_tab.respond(coach, f"{XSS} what is dropout?", [], [])
    assert "<script>" not in messages[0]["content"] and "&lt;script&gt;" in messages[0]["content"]


def test_chat_refuses_plainly_when_the_guide_does_not_cover_the_question(coach, llm):
    *_, (messages, sources, _, _) = chat_tab.respond(coach, "zqxj vbnm plokij", [], [])
    assert "Not covered by the guide" in sources and "coach-card" in sources
    assert "Not covered by the guide" in messages[-1]["content"]
    assert llm.history == []  # the retrieval gate answered without the model


def test_a_chat_the_page_stops_reading_closes_the_model_stream(coach, settings):
    from coach.chat import GroundedChat
    from coach.llm.fake import RetainingLLM

    model = RetainingLLM([CITED_REPLY])

    class Coach:
        chat = GroundedChat(coach.retriever, model, settings)

    steps = chat_tab.respond(Coach(), "What is batch normalization?", [], [])
    next(steps)  # the pending bubble
    next(steps)  # the first token: the model is now generating
    steps.close()  # what gradio does when the browser goes away
    assert len(model.history) == 1 and model.closed == 1, "the model's stream was closed, not left to the GC"
    assert model.read < len(CITED_REPLY.split()), "and the model was not read to the end for nobody"


def test_an_empty_question_is_a_hint_not_an_engine_call(coach, llm):
    steps = list(chat_tab.respond(coach, "   ", [], []))
    assert len(steps) == 1 and "Type a question first" in steps[0][1]
    assert llm.history == []


class _Broken:
    def __init__(self, exc):
        self.exc = exc

    def stream(self, question, history=()):
        raise self.exc

    def answer(self, question, history=()):
        raise self.exc


def test_engine_failures_become_friendly_messages_in_the_conversation(caplog):
    class Coach:
        chat = _Broken(InputError("The question is too long: keep it under 2000 characters."))

    *_, (messages, sources, _, _) = chat_tab.respond(Coach(), "hello", [], [])
    assert "keep it under 2000 characters" in messages[-1]["content"] and "keep it under" in sources

    Coach.chat = _Broken(RuntimeError("secret /etc/passwd detail"))
    with caplog.at_level(logging.ERROR, logger="coach.app"):
        *_, (messages, sources, _, _) = chat_tab.respond(Coach(), "hello", [], [])
    shown = messages[-1]["content"] + sources
    assert "secret" not in shown and "Traceback" not in shown and "logged (reference" in shown
    reference = re.search(r"reference ([0-9a-f]{8})", shown).group(1)
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)


def test_friendly_turns_errors_into_escaped_gradio_errors(caplog):
    @friendly
    def bad_input():
        raise InputError("File <b>x.csv</b> is empty.")

    @friendly
    def bug():
        raise KeyError("internal")

    with pytest.raises(gr.Error) as err:
        bad_input()
    assert err.value.message == "File &lt;b&gt;x.csv&lt;/b&gt; is empty."
    with caplog.at_level(logging.ERROR, logger="coach.app"), pytest.raises(gr.Error) as err:
        bug()
    assert "internal" not in err.value.message
    assert err.value.message.startswith(GENERIC.split("{")[0])


def test_friendly_wraps_generators_too():
    @friendly
    def stream():
        yield 1
        raise InputError("stopped")

    gen = stream()
    assert next(gen) == 1
    with pytest.raises(gr.Error, match="stopped"):
        next(gen)


# -- grading -------------------------------------------------------------------------------------

def test_grade_api_is_the_cli_json_for_a_number_or_an_id(coach, settings):
    answer = "Batch normalization normalizes the inputs using the batch mean and standard deviation."
    expected = coach.grader.grade(4, answer, reference=None, feedback="template").to_json()
    assert api.grade_api(coach, settings, "4", answer) == expected
    assert api.grade_api(coach, settings, 4, answer) == expected
    assert api.grade_api(coach, settings, "q04", answer)["question_id"] == "q04"
    with pytest.raises(InputError):
        api.grade_api(coach, settings, "", answer)


# -- interview -------------------------------------------------------------------------------------

ANSWER = "Neural networks adjust their weights to minimize the loss function; the loss should decrease."


def _finish(coach, view):
    """Answer until the session ends; returns the final view and how many turns were graded."""
    graded = 0
    while view.phase != "summary":
        assert view.phase == "asking"
        view = interview_tab.submit(coach, view, ANSWER)
        assert view.phase == "graded"
        graded += 1
        view = interview_tab.advance(coach, view)
    return view, graded


def test_an_interview_goes_from_set_up_to_summary_through_the_page_handlers(coach):
    view = interview_tab.start(coach, "ann", ["Deep Learning Fundamentals"], "any", "2")
    assert view.phase == "asking" and view.planned == 2 and view.main_asked == 1
    out = interview_tab.render_view(view)
    assert out[0] is view and "Question 1 of 2" in out[4] and "Deep Learning Fundamentals" in out[4]
    graded = interview_tab.submit(coach, view, ANSWER)
    card = interview_tab.grade_html(graded)
    assert re.search(r'data-score="\d+\.\d"', card) and "Key points:" in card
    assert "Model answer" not in card
    if not graded.result.follow_up:  # the model answer is offered once the question is done
        assert "Model answer" in interview_tab.grade_html(interview_tab.replace(graded, show_model_answer=True))
    view, turns = _finish(coach, interview_tab.advance(coach, graded))
    assert turns >= 1 and view.summary.questions
    summary = interview_tab.render_view(view)[12]
    assert "Score per topic" in summary and "Deep Learning Fundamentals" in summary
    path = Path(interview_tab.export_file(coach, view, "Markdown"))
    assert path.suffix == ".md" and view.session_id in path.read_text()
    assert Path(interview_tab.export_file(coach, view, "JSON")).read_text().lstrip().startswith("{")


def test_resume_returns_the_pending_question(coach):
    started = interview_tab.start(coach, "rita", [], "any", "3")
    resumed = interview_tab.resume(coach, "rita")
    assert resumed.session_id == started.session_id
    assert resumed.pending.question_id == started.pending.question_id


def test_the_api_runs_a_two_question_interview_and_keeps_users_apart(coach):
    reply = interview_tab.start_api(coach, "bea", {"topics": ["Training and Optimization"], "length": 2})
    assert reply["question"]["topic"] == "Training and Optimization" and reply["planned"] == 2
    session = reply["session_id"]
    with pytest.raises(InputError, match="No interview session"):
        interview_tab.answer_api(coach, "eve", {"session_id": session, "answer": "stealing"})
    with pytest.raises(InputError, match="No interview session"):
        coach.interviews.export(session, "json", user="eve")
    turns = []
    while True:
        out = interview_tab.answer_api(coach, "bea", {"session_id": session, "answer": ANSWER})
        turns.append(out)
        assert 0 <= out["grade"]["score"] <= 10
        if out["finished"]:
            break
    assert out["summary"]["session_id"] == session and len(out["summary"]["questions"]) == 2


def test_interview_input_errors_are_clear(coach):
    with pytest.raises(InputError, match="session_id"):
        interview_tab.answer_api(coach, "bea", {"answer": "x"})
    with pytest.raises(InputError, match="JSON object"):
        interview_tab.as_payload("[1, 2]")
    with pytest.raises(InputError, match="Type your name"):
        access.resolve_user(None, "  ")
    assert access.resolve_user("alice", "mallory") == "alice"  # a login cannot be overridden


# -- progress --------------------------------------------------------------------------------------

def test_progress_shows_mastery_history_and_what_to_study(coach):
    assert "No interviews yet" in progress_tab.progress_html(coach, "nobody-yet")
    view, _ = _finish(coach, interview_tab.start(coach, "paul", [], "any", "1"))
    html = progress_tab.progress_html(coach, "paul")
    assert "Mastery per topic" in html and "What to study next" in html and "Interview history" in html
    assert view.session_id in html
    for topic in coach.interviews.topics():
        assert topic in html


# -- batch evaluation ------------------------------------------------------------------------------

def test_batch_grades_a_file_into_a_report_with_agreement_figures(coach, settings, tmp_path):
    path = tmp_path / "answers.csv"
    path.write_text("question,answer,human_score\n4,Batch normalization normalizes the inputs.,7\n"
                    "3,Gradient descent follows the negative gradient of the loss.,6\n1,I do not know.,1\n")
    seen = []
    outcome = batch_tab.run_batch(coach, settings, str(path), 10, progress=lambda done, total: seen.append((done, total)))
    assert outcome.report["summary"]["n"] == 3 and outcome.report["summary"]["n_with_human"] == 3
    assert seen[-1] == (3, 3)
    assert {"json", "html", "md", "histogram"} <= set(outcome.files)
    assert outcome.run_dir.parent == settings.data_dir / "batch"
    html = batch_tab.summary_html(outcome.report)
    assert "Agreement with the human scores" in html and "Spearman" in html
    rows = batch_tab.table_rows(outcome.report)
    assert [r[1] for r in rows] == ["q04", "q03", "q01"]
    copies = batch_tab.download_copies(outcome.files)
    assert all(Path(c).is_file() and not Path(c).is_relative_to(settings.data_dir) for c in copies)


def test_batch_uploads_over_the_limit_or_of_the_wrong_kind_get_a_clear_message(settings, tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"question,answer\n" + b"4," + b"x" * (settings.max_upload_mb * 2**20 + 10) + b"\n")
    with pytest.raises(InputError, match=r"upload limit is 1 MB"):
        batch_tab.check_upload(str(big), settings.max_upload_mb)
    with pytest.raises(InputError, match="not a CSV"):
        batch_tab.check_upload(str(tmp_path / "a.xlsx"), settings.max_upload_mb)
    with pytest.raises(InputError, match="Choose a CSV"):
        batch_tab.check_upload(None, settings.max_upload_mb)


# -- access and serving ------------------------------------------------------------------------------

def test_auth_setting_is_parsed_or_rejected():
    assert access.parse_auth("") == []
    assert access.parse_auth("alice:pw1, bob:p:w2") == [("alice", "pw1"), ("bob", "p:w2")]
    for bad in ("alice", "alice:", ":pw"):
        with pytest.raises(ConfigError, match="user:password"):
            access.parse_auth(bad)


def test_binding_elsewhere_without_a_login_is_warned_about():
    assert access.binding_warning("127.0.0.1", "") is None
    assert access.binding_warning("localhost", "") is None
    assert access.binding_warning("0.0.0.0", "alice:pw") is None
    assert "without a login" in access.binding_warning("0.0.0.0", "")


def test_serve_loads_models_once_and_launches_with_the_settings(coach, settings, monkeypatch, caplog):
    from coach.app import server

    launched = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: launched.update(kwargs))
    with caplog.at_level(logging.WARNING, logger="coach.app"):
        server.serve(settings, "0.0.0.0", 7999)
    assert launched["server_name"] == "0.0.0.0" and launched["server_port"] == 7999
    assert launched["auth"] is None and launched["max_file_size"] == "1mb" and launched["show_error"] is False
    assert any("without a login" in r.getMessage() for r in caplog.records)


@contextmanager
def served(demo):
    """Launch `demo` in this process on a free port; yield its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_a_served_app_answers_the_named_endpoints_through_gradio_client(demo, coach, llm, tmp_path):
    from gradio_client import Client, handle_file

    demo.queue(default_concurrency_limit=2)
    with served(demo) as url:
        client = Client(url, verbose=False)
        llm.queue(CITED_REPLY)
        answer = client.predict("What is batch normalization?", api_name="/chat")
        assert answer["citations"] and set(answer["citations"]) <= {p["id"] for p in answer["passages"]}
        grade = client.predict("q04", "Batch normalization normalizes the inputs.", api_name="/grade")
        assert grade["question_id"] == "q04" and 0 <= grade["score"] <= 10
        started = client.predict({"user": "api-user", "length": 1}, api_name="/interview_start")
        with pytest.raises(Exception, match="No interview session"):
            client.predict({"user": "someone-else", "session_id": started["session_id"], "answer": "x"},
                           api_name="/interview_answer")
        path = tmp_path / "a.jsonl"
        path.write_text('{"question": 4, "answer": "Batch normalization normalizes inputs.", "human_score": 6}\n')
        report = client.predict(handle_file(str(path)), 10, api_name="/batch_eval")
        assert report["summary"]["n"] == 1 and report["items"][0]["question_id"] == "q04"
        with pytest.raises(Exception, match="Type your name"):
            client.predict({"length": 1}, api_name="/interview_start")


class _HeldGrader:
    """Grades like the real grader, but only once `release` is set."""

    def __init__(self, grader, release: threading.Event):
        self.grader, self.release, self.started = grader, release, threading.Event()

    def grade(self, *args, **kwargs):
        self.started.set()
        assert self.release.wait(HANG_GUARD_S), "the held batch was never released"
        return self.grader.grade(*args, **kwargs)


HANG_GUARD_S = 60  # only stops a broken test from hanging; never decides pass or fail


def test_a_running_batch_does_not_hold_up_chat_even_with_one_model_slot(coach, settings, llm, tmp_path):
    """With one model slot, chat still answers while a batch evaluation is running: batch
    runs queue in their own group."""
    from gradio_client import Client, handle_file

    one_slot = settings.replace(concurrency_limit=1)
    demo = build_app(coach, one_slot)
    demo.queue(default_concurrency_limit=1)
    release = threading.Event()
    real_grader = coach.grader
    coach.__dict__["grader"] = held = _HeldGrader(real_grader, release)
    try:
        with served(demo) as url:
            path = tmp_path / "held.csv"
            path.write_text("question,answer\n4,Batch normalization normalizes inputs.\n")
            batch = Client(url, verbose=False).submit(handle_file(str(path)), 10, api_name="/batch_eval")
            assert held.started.wait(HANG_GUARD_S)
            llm.queue(CITED_REPLY)
            chat = Client(url, verbose=False).submit("What is batch normalization?", api_name="/chat")
            answer = chat.result(timeout=HANG_GUARD_S)  # times out if chat waits behind the batch
            assert answer["answer"] and not batch.done()  # chat answered while the batch was still held
            release.set()
            assert batch.result(timeout=HANG_GUARD_S)["summary"]["n"] == 1
    finally:
        release.set()
        coach.__dict__["grader"] = real_grader


def test_with_a_login_the_api_acts_for_the_signed_in_user_only(coach, settings):
    from gradio_client import Client

    logins = settings.replace(auth="alice:pw-a,bob:pw-b")
    demo = build_app(coach, logins)
    demo.queue(default_concurrency_limit=2)
    with served_with_auth(demo, access.parse_auth(logins.auth)) as url:
        alice = Client(url, auth=("alice", "pw-a"), verbose=False)
        bob = Client(url, auth=("bob", "pw-b"), verbose=False)
        started = alice.predict({"user": "mallory", "length": 1}, api_name="/interview_start")
        assert started["user"] == "alice"  # the "user" field cannot override the login
        with pytest.raises(Exception, match="No interview session"):
            bob.predict({"user": "alice", "session_id": started["session_id"], "answer": "x"},
                        api_name="/interview_answer")
        reply = alice.predict({"session_id": started["session_id"], "answer": ANSWER}, api_name="/interview_answer")
        assert 0 <= reply["grade"]["score"] <= 10


@contextmanager
def served_with_auth(demo, auth):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False,
                auth=auth)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
