"""The Chat tab: streaming grounded answers with source cards beside them.

`chat_turns` is the one place that reads the engine's chat stream; the page
handler and the /chat API endpoint both use it, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import gradio as gr

from coach.app import render
from coach.app.failures import user_message
from coach.errors import InputError

EXAMPLES = [
    "What is batch normalization and why does it help?",
    "How do I deal with exploding gradients?",
    "What is the difference between a CNN and an RNN?",
    "When would you use transfer learning?",
]
EMPTY_CHAT = (
    "### Ask the guide anything\n"
    "Answers come only from the deep-learning interview guide, with the passages they cite. "
    "Try one of the examples below."
)
EMPTY_SOURCES = render.empty_state("Sources appear here", "Each answer cites the guide passages it is based on.")
MAX_TURNS_KEPT = 6  # earlier turns are dropped from the context the model sees


@dataclass(frozen=True)
class ChatStep:
    """What the page shows at one point of a streamed answer."""

    text: str  # the answer so far (final: the validated answer with its citations)
    answer: Any = None  # the engine's ChatAnswer, set on the last step only


def check_question(message: str | None) -> str:
    """Empty input is refused here, before a bubble is added; the engine checks the rest."""
    text = (message or "").strip()
    if not text:
        raise InputError("Type a question first.")
    return text


def to_messages(history: Sequence[tuple[str, str]]) -> list[Any]:
    """(question, answer) pairs -> the engine's ChatMessage list (latest turns only)."""
    from coach.llm.base import ChatMessage

    messages = []
    for question, answer in history[-MAX_TURNS_KEPT:]:
        messages += [ChatMessage("user", question), ChatMessage("assistant", answer)]
    return messages


def chat_turns(chat: Any, question: str, history: Sequence[tuple[str, str]]) -> Iterator[ChatStep]:
    """Stream the engine's answer: partial texts, then one step carrying the ChatAnswer."""
    text = ""
    # Closed even when the page stops reading (a browser that went away): it holds the model.
    with closing(chat.stream(question, history=to_messages(history))) as events:
        for event in events:
            if event.kind == "final":
                yield ChatStep(event.answer.text, event.answer)
                return
            text += event.text
            yield ChatStep(text)


def final_bubble(answer: Any) -> str:
    return render.chat_text(answer.text) + render.sources_line(answer.passages, answer.citations, answer.refused)


def respond(coach: Any, message: str, history: list[tuple[str, str]], messages: list[dict]):
    """Page handler: yields (chatbot messages, sources html, cleared textbox, history)."""
    messages = list(messages or [])
    history = list(history or [])
    try:
        question = check_question(message)
    except InputError as exc:
        yield messages, render.notice(str(exc), "warn"), message, history
        return
    messages += [{"role": "user", "content": render.chat_text(question)}, {"role": "assistant", "content": "…"}]
    yield messages, render.empty_state("Looking up the guide…"), "", history
    try:
        with closing(chat_turns(coach.chat, question, history)) as steps:
            for step in steps:
                if step.answer is None:
                    messages[-1] = {"role": "assistant", "content": render.chat_text(step.text) + " ▌"}
                    yield messages, gr.skip(), "", history
                    continue
                answer = step.answer
                messages[-1] = {"role": "assistant", "content": final_bubble(answer)}
                history.append((question, answer.text))
                sources = render.sources_panel(answer.passages, answer.citations, answer.refused, answer.notices,
                                               turn=len(history))
                yield messages, sources, "", history
    except Exception as exc:  # noqa: BLE001 - shown in the conversation, bugs logged by user_message
        text = user_message(exc)
        messages[-1] = {"role": "assistant", "content": "⚠️ " + render.chat_text(text)}
        yield messages, render.notice(text, "bad"), "", history


def clear() -> tuple[list, str, list, str]:
    return [], EMPTY_SOURCES, [], ""


def chat_api(coach: Any, message: str, history: list[tuple[str, str]]):
    """API handler for /chat: one question in, the cited answer as JSON out; the
    conversation is kept per client session (gr.State), as in the page."""
    question = check_question(message)
    history = list(history or [])
    answer = coach.chat.answer(question, to_messages(history))
    history.append((question, answer.text))
    return answer.to_json(), history


def build(coach: Any, concurrency_id: str, concurrency_limit: int) -> None:
    """Lay out the tab inside the current Blocks context and wire its events."""
    history = gr.State([])
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            chatbot = gr.Chatbot(
                label="Conversation",
                show_label=False,
                height=520,
                placeholder=EMPTY_CHAT,
                elem_id="chat-history",
                buttons=["copy"],
                feedback_options=None,
                sanitize_html=True,
                allow_tags=False,
            )
            with gr.Row(equal_height=True):
                box = gr.Textbox(
                    placeholder="Ask a question about deep learning…",
                    show_label=False,
                    lines=1,
                    max_lines=6,
                    scale=5,
                    min_width=200,
                    elem_id="chat-input",
                    autofocus=False,
                )
                ask = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="chat-ask")
            gr.Examples(EXAMPLES, inputs=box, label="Examples")
            clear_button = gr.Button("Clear conversation", variant="secondary", size="sm", elem_id="chat-clear")
        with gr.Column(scale=2, min_width=280):
            sources = gr.HTML(EMPTY_SOURCES, elem_id="chat-sources")

    def on_ask(message, hist, msgs):
        yield from respond(coach, message, hist, msgs)

    for trigger in (box.submit, ask.click):
        trigger(
            on_ask,
            [box, history, chatbot],
            [chatbot, sources, box, history],
            api_visibility="private",
            concurrency_id=concurrency_id,
            concurrency_limit=concurrency_limit,
            show_progress="minimal",
        )
    clear_button.click(clear, None, [chatbot, sources, history, box], queue=False, api_visibility="private")
    # The chatbot's own trash icon empties the bubbles; forget the conversation with them.
    chatbot.clear(lambda: (EMPTY_SOURCES, []), None, [sources, history], queue=False, api_visibility="private")
