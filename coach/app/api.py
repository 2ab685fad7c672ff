"""The named API endpoints for gradio_client: /chat, /grade, /interview_start,
/interview_answer and /batch_eval.

They call the same handler functions as the page. The components here are hidden:
they exist to give each endpoint a typed signature. Every failure reaches the
client as a gradio error carrying the friendly message.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from coach.app import batch_tab, chat_tab, interview_tab
from coach.app.access import resolve_user
from coach.app.failures import friendly
from coach.config import Settings
from coach.errors import InputError


def parse_question(value: Any) -> int | str:
    """A guide question as a client may send it: 4, "4", "q04"."""
    if isinstance(value, bool) or value is None:
        raise InputError("Give the question as a guide number (4) or id (q04).")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        raise InputError("Give the question as a guide number (4) or id (q04).")
    return int(text) if text.isdigit() else text


def grade_api(coach: Any, settings: Settings, question: Any, answer: str) -> dict[str, Any]:
    if answer is None:
        raise InputError("Send the answer text to grade (it may be empty).")
    grade = coach.grader.grade(parse_question(question), str(answer), reference=None, feedback="template")
    return grade.to_json()


def batch_api(coach: Any, settings: Settings, path: str | None, human_scale: int | float | None) -> dict[str, Any]:
    scale = int(human_scale or 10)
    if scale not in (5, 10):
        raise InputError("human_scale must be 10 (scores 0-10) or 5 (scores 0-5).")
    return batch_tab.run_batch(coach, settings, path, scale).report


def build(coach: Any, settings: Settings, model_group: str, limit: int, batch_group: str) -> None:
    """Add the endpoints to the current Blocks context."""
    model_slots = {"concurrency_id": model_group, "concurrency_limit": limit}
    with gr.Column(visible=False):
        # /chat: the conversation is kept per client session in a State, as in the page.
        message = gr.Textbox(label="message")
        answer_json = gr.JSON(label="answer")
        chat_history = gr.State([])
        chat_trigger = gr.Button(visible=False)

        question = gr.Textbox(label="question")
        answer_text = gr.Textbox(label="answer")
        grade_json = gr.JSON(label="grade")
        grade_trigger = gr.Button(visible=False)

        start_request = gr.JSON(label="request")
        start_reply = gr.JSON(label="turn")
        start_trigger = gr.Button(visible=False)

        answer_request = gr.JSON(label="request")
        answer_reply = gr.JSON(label="turn")
        answer_trigger = gr.Button(visible=False)

        batch_file = gr.File(label="file", type="filepath", file_types=batch_tab.FILE_TYPES)
        batch_scale = gr.Number(label="human_scale", value=10, precision=0)
        batch_report = gr.JSON(label="report")
        batch_trigger = gr.Button(visible=False)

    chat_trigger.click(
        friendly(lambda text, history: chat_tab.chat_api(coach, text, history)),
        [message, chat_history], [answer_json, chat_history], api_name="chat",
        api_description="Ask the guide a question; returns the cited answer as JSON. A client's conversation is remembered.",
        **model_slots,
    )
    grade_trigger.click(
        friendly(lambda q, a: grade_api(coach, settings, q, a)),
        [question, answer_text], [grade_json], api_name="grade",
        api_description="Grade an answer to a guide question (number or id): the JSON of `coach grade --json`.",
        **model_slots,
    )

    def start(request_json: dict | None, request: gr.Request):
        payload = interview_tab.as_payload(request_json)
        user = resolve_user(request.username if settings.auth else None, payload.get("user"))
        return interview_tab.start_api(coach, user, payload)

    def answer(request_json: dict | None, request: gr.Request):
        payload = interview_tab.as_payload(request_json)
        user = resolve_user(request.username if settings.auth else None, payload.get("user"))
        return interview_tab.answer_api(coach, user, payload)

    start_trigger.click(
        friendly(start), [start_request], [start_reply], api_name="interview_start",
        api_description='Start a mock interview: {"user", "topics", "difficulty", "length"} -> the first question and session_id.',
        **model_slots,
    )
    answer_trigger.click(
        friendly(answer), [answer_request], [answer_reply], api_name="interview_answer",
        api_description='Answer the current question: {"session_id", "answer"} -> the grade and the next question.',
        **model_slots,
    )
    batch_trigger.click(
        friendly(lambda path, scale: batch_api(coach, settings, path, scale)),
        [batch_file, batch_scale], [batch_report], api_name="batch_eval",
        api_description="Grade a CSV/JSONL file of answers; returns report.json.",
        concurrency_id=batch_group, concurrency_limit=1,
    )
