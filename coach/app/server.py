"""Compose the tabs into one Blocks app and serve it.

Concurrency: the queue runs at most `settings.concurrency_limit` model-bound
events at once (chat, grading, interview turns share one group, sized for the
two cores we have); batch evaluations have their own group of one, so a long
batch run never holds the slots other users' chat and interviews need. Cheap
events (clear, show/hide) skip the queue.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gradio as gr

from coach.app import api, batch_tab, chat_tab, interview_tab, progress_tab, render
from coach.config import Settings

log = logging.getLogger("coach.app")

MODEL_GROUP = "model"  # chat, grading and interview turns share the model slots
BATCH_GROUP = "batch"  # batch evaluations queue separately, one at a time
QUEUE_MAX = 64  # waiting requests; past this a request is refused at once rather than left waiting for minutes
TITLE = "Interview Coach"


def build_app(coach: Any, settings: Settings):
    """The whole app as a gr.Blocks, wired to `coach` (real or fake engine objects)."""
    limit = max(1, settings.concurrency_limit)
    logged_in = bool(settings.auth.strip())
    with gr.Blocks(title=TITLE, analytics_enabled=False, fill_width=False) as demo:
        with gr.Row(elem_id="coach-header", equal_height=True):
            # Columns with a min width make the row wrap on a phone instead of squeezing.
            with gr.Column(scale=3, min_width=320):
                gr.HTML(
                    "<h1>Interview Coach</h1><p>A private study partner for deep-learning interviews. "
                    "Everything runs on this machine; answers cite the interview guide.</p>",
                    elem_id="coach-title",
                )
            with gr.Column(scale=1, min_width=220):
                # Signed in, the name comes from the login (handlers read it from the request);
                # the box stays as a hidden input so every handler has the same signature.
                user_box = gr.Textbox(
                    label="Your name",
                    placeholder="e.g. alice",
                    info="Keeps your interviews and progress apart.",
                    max_length=64,
                    visible=not logged_in,
                    elem_id="coach-user",
                )
                signed_in_as = gr.HTML("", visible=logged_in, elem_id="coach-signed-in")
        with gr.Tabs(elem_id="coach-tabs"):
            with gr.Tab("Chat", id="chat", elem_id="tab-chat"):
                chat_tab.build(coach, MODEL_GROUP, limit)
            with gr.Tab("Mock interview", id="interview", elem_id="tab-interview"):
                interview_tab.build(coach, settings, logged_in, user_box, MODEL_GROUP, limit)
            with gr.Tab("Batch evaluation", id="batch", elem_id="tab-batch"):
                batch_tab.build(coach, settings, BATCH_GROUP)
            with gr.Tab("Progress", id="progress", elem_id="tab-progress") as progress:
                progress_tab.build(coach, logged_in, user_box, progress)
        api.build(coach, settings, MODEL_GROUP, limit, BATCH_GROUP)
        if logged_in:

            def signed_in(request: gr.Request) -> str:
                name = render.esc(request.username or "")
                return f'<p class="coach-signed-in">Signed in as <strong>{name}</strong> · <a href="logout">Sign out</a></p>'

            demo.load(signed_in, None, [signed_in_as], api_visibility="private", queue=False)
    return demo


def warm_up(coach: Any) -> None:
    """Build the heavy parts now, once per process, and run the LLM for one token: backends
    load weights on first use, and the first user should not wait for that (a missing or
    broken model also fails here, at start-up, instead of in someone's chat)."""
    from coach.llm.base import ChatMessage, GenerationConfig

    for part in ("chat", "grader", "interviews"):
        getattr(coach, part)
    coach.grader.grade(4, "warm-up", feedback="template")  # builds the rubric embeddings
    coach.llm.generate([ChatMessage("user", "Hello")], GenerationConfig(max_tokens=1))


def serve(settings: Settings, host: str, port: int) -> None:
    """Load the models once, then serve until interrupted (what `coach serve` runs)."""
    from coach.app.access import binding_warning, parse_auth
    from coach.app.theme import css, theme
    from coach.wiring import build_coach

    auth = parse_auth(settings.auth)  # a malformed setting fails before any model is loaded
    warning = binding_warning(host, settings.auth)
    if warning:
        log.warning(warning)
    started = time.perf_counter()
    coach = build_coach(settings)
    warm_up(coach)
    log.info("models ready in %.1f s (index %s, LLM %s)", time.perf_counter() - started, coach.index_status,
             getattr(coach.llm, "name", "?"))
    demo = build_app(coach, settings)
    demo.queue(default_concurrency_limit=max(1, settings.concurrency_limit), max_size=QUEUE_MAX)
    demo.launch(
        server_name=host,
        server_port=port,
        auth=auth or None,
        auth_message="Sign in to Interview Coach." if auth else None,
        max_file_size=f"{settings.max_upload_mb}mb",
        share=False,
        show_error=False,  # bugs show a generic message; CoachErrors are turned into gr.Error ourselves
        ssr_mode=False,
        footer_links=["api"],
        theme=theme(),
        css=css(),
        quiet=False,
    )
