"""The Mock interview tab: set up -> question -> answer -> graded feedback -> follow-up or
next -> summary; resume and export. The engine (coach.interview) does all the work;
this module keeps which step the page is on and renders it.

Every engine call passes the acting user, so the engine refuses another user's session.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gradio as gr

from coach.app import render
from coach.errors import InputError
from coach.interview.model import MAIN
from coach.interview.schedule import ADAPTIVE_CAP, ADAPTIVE_MIN

LENGTHS = ["3", "5", "10", "Adaptive"]
DIFFICULTY_CHOICES = [("Any", "any"), ("Easy", "easy"), ("Medium", "medium"), ("Hard", "hard")]
EMPTY_SETUP = render.empty_state(
    "Ready when you are",
    "Pick topics (none means all), a difficulty and a length, then start. "
    "Each answer is graded 0-10 against the guide's key points.",
)
MAX_EXPORT_NAME = 40


@dataclass(frozen=True)
class InterviewView:
    """Where the page is: no session, a question waiting, a graded answer, or the summary."""

    session_id: str = ""
    user: str = ""
    pending: Any = None  # the engine's Turn waiting for an answer
    result: Any = None  # the last TurnResult (its grade is on screen)
    summary: Any = None  # the Summary once the session ended
    show_model_answer: bool = False
    main_asked: int = 0  # main questions asked so far, for "Question 2 of 5"
    planned: int | None = None

    @property
    def phase(self) -> str:
        if self.summary is not None:
            return "summary"
        if self.result is not None:
            return "graded"
        if self.pending is not None:
            return "asking"
        return "setup"


# -- actions: engine calls, shared by the page and the API ------------------------------------

def _progress(coach: Any, view: InterviewView) -> InterviewView:
    session = coach.interviews.session(view.session_id, user=view.user)
    return replace(view, main_asked=len(session.main_turns), planned=session.length)


def start(coach: Any, user: str, topics: list[str] | None, difficulty: str, length: str) -> InterviewView:
    turn = coach.interviews.start(user, topics=list(topics or ()), difficulty=difficulty or "any",
                                  length="adaptive" if str(length).lower() == "adaptive" else length)
    return _progress(coach, InterviewView(session_id=turn.session_id, user=user, pending=turn))


def resume(coach: Any, user: str) -> InterviewView:
    turn = coach.interviews.resume(user=user)
    return _progress(coach, InterviewView(session_id=turn.session_id, user=user, pending=turn))


def submit(coach: Any, view: InterviewView, text: str) -> InterviewView:
    if view.pending is None:
        raise InputError("There is no question waiting for an answer. Start or resume an interview.")
    result = coach.interviews.answer(view.session_id, text or "", user=view.user)
    return replace(view, pending=None, result=result, show_model_answer=False)


def advance(coach: Any, view: InterviewView) -> InterviewView:
    """After the grade: the follow-up or next question, or the summary."""
    result = view.result
    if result is None:
        return view
    if result.finished:
        summary = result.summary or coach.interviews.summary(view.session_id, user=view.user)
        return replace(view, result=None, summary=summary)
    return _progress(coach, replace(view, pending=result.next, result=None))


def end(coach: Any, view: InterviewView) -> InterviewView:
    if not view.session_id:
        return view
    summary = coach.interviews.end(view.session_id, user=view.user)
    return replace(view, pending=None, result=None, summary=summary)


def export_file(coach: Any, view: InterviewView, fmt: str) -> str:
    """Write the session as Markdown or JSON into a fresh temp folder; return the path."""
    if not view.session_id:
        raise InputError("There is no interview to export yet.")
    kind = "json" if fmt.lower().startswith("json") else "markdown"
    text = coach.interviews.export(view.session_id, kind, user=view.user)
    folder = Path(tempfile.mkdtemp(prefix="coach-export-"))
    path = folder / f"interview-{view.session_id[:MAX_EXPORT_NAME]}.{'json' if kind == 'json' else 'md'}"
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- JSON for the API ----------------------------------------------------------------------------

def as_payload(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            raise InputError("The request must be a JSON object.") from None
    if not isinstance(value, dict):
        raise InputError("The request must be a JSON object.")
    return value


def turn_json(turn: Any) -> dict[str, Any] | None:
    if turn is None:
        return None
    return {"position": turn.position, "kind": turn.kind, "question_id": turn.question_id,
            "question": turn.question_text, "topic": turn.topic, "difficulty": turn.difficulty}


def start_api(coach: Any, user: str, payload: dict[str, Any]) -> dict[str, Any]:
    topics = payload.get("topics") or []
    if isinstance(topics, str):
        topics = [topics]
    view = start(coach, user, [str(t) for t in topics], str(payload.get("difficulty") or "any"),
                 str(payload.get("length", 5)))
    return {"session_id": view.session_id, "user": user, "question": turn_json(view.pending),
            "planned": view.planned, "finished": False}


def answer_api(coach: Any, user: str, payload: dict[str, Any]) -> dict[str, Any]:
    session_id = str(payload.get("session_id") or "")
    if not session_id:
        raise InputError("Send the session_id that /interview_start returned.")
    if not isinstance(payload.get("answer", ""), str):
        raise InputError("The answer must be text.")
    result = coach.interviews.answer(session_id, payload.get("answer", ""), user=user)
    return {
        "session_id": session_id,
        "grade": result.grade_json(),
        "follow_up": result.follow_up,
        "next": turn_json(result.next),
        "finished": result.finished,
        "summary": result.summary.to_json() if result.summary is not None else None,
    }


# -- the page ----------------------------------------------------------------------------------

def question_html(view: InterviewView) -> str:
    """The question waiting for an answer, or the one just graded (it stays on screen)."""
    turn = view.pending or (view.result.turn if view.result is not None else None)
    if turn is None:
        return ""
    label = turn.question_id if turn.kind == MAIN else f"Follow-up on {turn.question_id}"
    return render.question_card(turn.question_text, view.main_asked, view.planned, turn.topic, label)


def grade_html(view: InterviewView) -> str:
    if view.result is None:
        return ""
    result = view.result
    # The model answer would give away what a pending follow-up asks about.
    allow_model = not result.follow_up
    card = render.grade_card(result.grade_json(), show_model_answer=view.show_model_answer and allow_model)
    if result.follow_up:
        card += render.notice("Partly there. Answer one follow-up question to earn back some of what you missed.")
    return card


def next_label(view: InterviewView) -> str:
    result = view.result
    if result is None:
        return "Next question"
    if result.finished:
        return "See the summary"
    return "Answer the follow-up" if result.follow_up else "Next question"


def render_view(view: InterviewView) -> tuple:
    """Every output of the tab for `view`, in the order build() lists them."""
    phase = view.phase
    return (
        view,
        gr.Column(visible=phase == "setup"),
        EMPTY_SETUP if phase == "setup" else "",
        gr.Column(visible=phase in ("asking", "graded")),
        question_html(view) if phase in ("asking", "graded") else "",
        gr.update(value="", interactive=True) if phase == "asking" else gr.update(interactive=False),
        gr.Button(visible=phase == "asking"),
        grade_html(view),
        gr.Row(visible=phase == "graded"),
        gr.Button(value=next_label(view)),
        gr.Button(visible=phase == "graded" and view.result is not None and not view.result.follow_up
                  and not view.show_model_answer),
        gr.Column(visible=phase == "summary"),
        render.session_summary(view.summary) if view.summary is not None else "",
        gr.File(value=None, visible=False),
    )


def build(coach: Any, settings: Any, logged_in: bool, user_box: gr.Textbox, concurrency_id: str,
          concurrency_limit: int) -> None:
    from coach.app.access import resolve_user
    from coach.app.failures import friendly

    view = gr.State(InterviewView())
    with gr.Column(visible=True, elem_id="interview-setup") as setup:
        with gr.Row(equal_height=False):
            difficulty = gr.Radio(DIFFICULTY_CHOICES, value="any", label="Difficulty", elem_id="interview-difficulty",
                                  min_width=240)
            length = gr.Radio(LENGTHS, value="5", label="Questions", elem_id="interview-length", min_width=240,
                              info=f"Adaptive stops once your level is clear ({ADAPTIVE_MIN}-{ADAPTIVE_CAP} questions).")
        topics = gr.CheckboxGroup(coach.interviews.topics(), label="Topics (none selected: all topics)",
                                  elem_id="interview-topics")
        with gr.Row():
            start_button = gr.Button("Start interview", variant="primary", elem_id="interview-start", min_width=160)
            resume_button = gr.Button("Resume my unfinished interview", elem_id="interview-resume", min_width=160)
        status = gr.HTML(EMPTY_SETUP, elem_id="interview-status")
    with gr.Column(visible=False, elem_id="interview-question") as asking:
        question = gr.HTML(elem_id="interview-question-card")
        answer = gr.Textbox(label="Your answer", lines=6, max_lines=20, elem_id="interview-answer",
                            placeholder="Answer as you would in the interview. Plain sentences are fine.",
                            max_length=settings.max_answer_chars)
        with gr.Row():
            submit_button = gr.Button("Submit answer", variant="primary", elem_id="interview-submit", min_width=140)
            end_button = gr.Button("End interview", variant="secondary", elem_id="interview-end", min_width=140)
        grade = gr.HTML(elem_id="interview-grade")
        with gr.Row(visible=False) as after:
            model_button = gr.Button("Show the model answer", elem_id="interview-model-answer", min_width=140)
            next_button = gr.Button("Next question", variant="primary", elem_id="interview-next", min_width=140)
    with gr.Column(visible=False, elem_id="interview-summary") as summary_box:
        summary = gr.HTML(elem_id="interview-summary-body")
        with gr.Row(equal_height=True):
            fmt = gr.Radio(["Markdown", "JSON"], value="Markdown", label="Export format", min_width=200)
            export_button = gr.Button("Export the session", elem_id="interview-export", min_width=140)
            again_button = gr.Button("Start a new interview", variant="primary", elem_id="interview-again",
                                     min_width=140)
        export = gr.File(label="Download", visible=False, interactive=False, elem_id="interview-download")

    outputs = [view, setup, status, asking, question, answer, submit_button, grade, after, next_button,
               model_button, summary_box, summary, export]
    slots = {"concurrency_id": concurrency_id, "concurrency_limit": concurrency_limit, "api_visibility": "private"}

    def who(typed: str | None, request: gr.Request | None) -> str:
        return resolve_user(request.username if (logged_in and request) else None, typed)

    def on_start(typed, chosen, level, count, request: gr.Request):
        return render_view(start(coach, who(typed, request), chosen, level, count))

    def on_resume(typed, request: gr.Request):
        return render_view(resume(coach, who(typed, request)))

    def on_submit(state, text):
        return render_view(submit(coach, state, text))

    start_button.click(friendly(on_start), [user_box, topics, difficulty, length], outputs, **slots)
    resume_button.click(friendly(on_resume), [user_box], outputs, **slots)
    submit_button.click(friendly(on_submit), [view, answer], outputs, **slots)
    next_button.click(friendly(lambda state: render_view(advance(coach, state))), [view], outputs, **slots)
    model_button.click(lambda state: render_view(replace(state, show_model_answer=True)), [view], outputs,
                       queue=False, api_visibility="private")
    end_button.click(friendly(lambda state: render_view(end(coach, state))), [view], outputs, **slots)
    again_button.click(lambda: render_view(InterviewView()), None, outputs, queue=False, api_visibility="private")
    export_button.click(friendly(lambda state, f: gr.File(value=export_file(coach, state, f), visible=True)),
                        [view, fmt], [export], api_visibility="private")
