"""The Progress tab: per-topic mastery, past interviews, and what to study next.

Mastery, history and the reading list come from the interview engine; this
module only orders and renders them.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from coach.app import render

EMPTY = render.empty_state("No progress yet", "Finish a mock interview and your mastery per topic shows up here.")
HISTORY_SHOWN = 20


def progress_html(coach: Any, user: str) -> str:
    engine = coach.interviews
    mastery = engine.mastery(user)
    history = engine.history(user)
    if not history:
        return render.empty_state(f"No interviews yet for {user}",
                                  "Start one in the Mock interview tab; your mastery per topic appears here.")
    answered = sum(s.questions for s in history)
    scored = [s.mean_score for s in history if s.mean_score is not None]
    parts = [render.stats([
        ("interviews", len(history)),
        ("questions answered", answered),
        ("latest score / 10", f"{scored[0]:.1f}" if scored else "–"),
        ("reviews due now", sum(m.due for m in mastery)),
    ])]
    parts.append(render.bar_chart(
        [(m.topic, m.mastery * 100, f"{m.seen} of {m.total} questions seen"
          + (f", average {m.average:.1f}/10" if m.average is not None else "")) for m in mastery],
        top=100, title="Mastery per topic",
    ))
    parts.append("<h3>What to study next</h3>" + study_next(coach, user, mastery, history))
    rows = [
        (s.created.strftime("%Y-%m-%d %H:%M"), ", ".join(s.topics) or "all topics", s.difficulty,
         s.questions, "–" if s.mean_score is None else f"{s.mean_score:.1f}", s.status, s.id)
        for s in history[:HISTORY_SHOWN]
    ]
    parts.append("<h3>Interview history</h3>" + render.table(
        ["started (UTC)", "topics", "difficulty", "questions", "score", "status", "session"], rows, numeric=(3, 4)))
    return '<div class="coach-summary">' + "".join(parts) + "</div>"


def study_next(coach: Any, user: str, mastery: list[Any], history: list[Any]) -> str:
    """The weakest topics (least mastered first) and the guide passages the latest
    finished interview says to read."""
    weakest = sorted(mastery, key=lambda m: (m.mastery, -m.due))[:2]
    parts = []
    for m in weakest:
        due = f"; {m.due} question(s) due for review" if m.due else ""
        untried = m.total - m.seen
        todo = f"{untried} of {m.total} questions not tried yet" if untried else "every question tried; review the weak ones"
        parts.append(render.notice(f"{m.topic}: {m.mastery * 100:.0f}% mastered, {todo}{due}."))
    finished = next((s for s in history if s.status == "finished" and s.questions), None)
    if finished is not None:
        reading = coach.interviews.summary(finished.id, user=user).reading
        if reading:
            parts.append(render.reading_list(reading))
    return "".join(parts)


def build(coach: Any, logged_in: bool, user_box: gr.Textbox, tab: gr.Tab) -> None:
    """Lay out the tab; `tab` is the gr.Tab it sits in (opening it refreshes the page)."""
    from coach.app.access import resolve_user
    from coach.app.failures import friendly

    with gr.Row(equal_height=True):
        gr.Markdown("Your mastery per guide topic, your past interviews and what to study next.")
        show = gr.Button("Refresh", variant="primary", elem_id="progress-show", scale=0, min_width=140)
    body = gr.HTML(EMPTY, elem_id="progress-body")

    def on_show(typed: str | None, request: gr.Request):
        user = resolve_user(request.username if (logged_in and request) else None, typed)
        return progress_html(coach, user)

    def on_open(typed: str | None, request: gr.Request):
        # Opening the tab should not pop an error when no name was typed yet.
        if not (logged_in or (typed or "").strip()):
            return render.empty_state("Who are you?", "Type your name at the top of the page to see your progress.")
        return on_show(typed, request)

    show.click(friendly(on_show), [user_box], [body], api_visibility="private", concurrency_limit=None)
    tab.select(friendly(on_open), [user_box], [body], api_visibility="private", concurrency_limit=None)
