"""Engine objects to HTML for the page. Every piece of text is escaped here.

User text, model text and guide text are all data: nothing that reaches the page
is interpolated without html.escape, so an answer containing <script> shows up
as the characters "<script>".
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

VERDICT_CLASS = {"no answer": "no-answer"}
_IMAGE = re.compile(r"!\[")


def esc(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def chat_text(text: str) -> str:
    """Text for a gr.Chatbot bubble (rendered as Markdown): HTML escaped, images disabled
    (an image link in a model or user message would make the browser fetch a URL)."""
    return _IMAGE.sub(r"!\\[", esc(text))


def empty_state(title: str, body: str = "") -> str:
    extra = f"<br>{esc(body)}" if body else ""
    return f'<div class="coach-empty"><strong>{esc(title)}</strong>{extra}</div>'


def notice(text: str, kind: str = "info") -> str:
    return f'<div class="coach-notice {esc(kind)}" role="status">{esc(text)}</div>'


def _field(item: Any, name: str, default: Any = None) -> Any:
    """Read `name` from a dataclass or a JSON dict alike."""
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def source_card(passage: Any, open_: bool = False) -> str:
    pid = _field(passage, "id", "")
    title = _field(passage, "title", "")
    section = _field(passage, "section", "")
    number = _field(passage, "question")
    meta = [esc(section)] if section else []
    if number is not None:
        meta.append(f"question {esc(number)}")
    return (
        f'<details class="coach-card" data-source="{esc(pid)}"{" open" if open_ else ""}>'
        f'<summary><span class="coach-id">{esc(pid)}</span><span class="coach-card-title">{esc(title)}</span>'
        f'<span class="coach-meta">{" · ".join(meta)}</span></summary>'
        f'<div class="coach-passage">{esc(_field(passage, "text", ""))}</div></details>'
    )


def sources_panel(passages: Sequence[Any], cited: Iterable[str], refused: bool, notices: Sequence[str] = (),
                  turn: int = 0) -> str:
    """The cards beside a chat answer: the cited passages first, or, when the guide does not
    cover the question, the nearest passages it has. `turn` numbers the answer (data-turn),
    so a page test can tell this answer's cards from the previous one's."""
    cited_ids = list(dict.fromkeys(cited))
    parts = [notice(n, "warn") for n in notices]
    if refused:
        parts.insert(0, notice("Not covered by the guide. These are the nearest passages it has:", "warn"))
        shown, heading = list(passages), "Nearest passages"
    else:
        by_id = {_field(p, "id"): p for p in passages}
        shown = [by_id[c] for c in cited_ids if c in by_id]
        heading = f"Sources ({len(shown)})" if shown else "Passages retrieved"
        shown = shown or list(passages)
    if not shown:
        parts.append(empty_state("No passages", "The guide has nothing close to this question."))
        return f'<div class="coach-sources" data-turn="{turn}">' + "".join(parts) + "</div>"
    cards = "".join(source_card(p, open_=(i == 0 and not refused)) for i, p in enumerate(shown))
    return f'<div class="coach-sources" data-turn="{turn}"><h3>{esc(heading)}</h3>{"".join(parts)}{cards}</div>'


def sources_line(passages: Sequence[Any], cited: Iterable[str], refused: bool) -> str:
    """A one-line Markdown footer under an answer in the chat history."""
    if refused:
        return "\n\n*Not covered by the guide; the nearest passages are listed under Sources.*"
    titles = {_field(p, "id"): _field(p, "title", "") for p in passages}
    cited_ids = list(dict.fromkeys(cited))
    if not cited_ids:
        return ""
    items = " · ".join(f"`{esc(c)}` {chat_text(titles.get(c, ''))}".rstrip() for c in cited_ids)
    return f"\n\n**Sources:** {items}"


def question_card(text: str, position: int | None, total: int | None, topic: str, qid: str, follow_up: str = "") -> str:
    where = ""
    if position is not None:
        where = f"Question {position}" + (f" of {total}" if total else "")
    meta = " · ".join(esc(x) for x in (where, topic) if x)
    follow = f'<div class="coach-followup">Follow-up: {esc(follow_up)}</div>' if follow_up else ""
    return (
        f'<div class="coach-question"><span class="coach-id">{esc(qid)}</span>'
        f'<span class="coach-meta" style="display:inline">{meta}</span>'
        f'<p class="coach-q-text">{esc(text)}</p>{follow}</div>'
    )


def grade_card(grade: Mapping[str, Any], show_model_answer: bool = False) -> str:
    """A grade in the `coach grade --json` shape: score, verdict, key points, feedback."""
    score = float(grade.get("score", 0.0))
    verdict = str(grade.get("verdict", ""))
    verdict_class = VERDICT_CLASS.get(verdict, verdict.replace(" ", "-"))
    points = grade.get("key_points") or []
    covered = sum(1 for p in points if p.get("covered"))
    items = []
    for p in points:
        cite = f' <span class="coach-id">{esc(p.get("citation", ""))}</span>' if p.get("citation") else ""
        if p.get("covered"):
            evidence = p.get("evidence") or ""
            detail = f'<span class="coach-evidence">Your words: “{esc(evidence)}”</span>' if evidence else ""
            items.append(f'<li class="covered"><span class="coach-mark" aria-label="covered">✓</span>{esc(p.get("text", ""))}{cite}{detail}</li>')
        else:
            quote = p.get("quote") or ""
            detail = f'<span class="coach-evidence">The guide: “{esc(quote)}”</span>' if quote else ""
            items.append(f'<li class="missed"><span class="coach-mark" aria-label="missed">✗</span>{esc(p.get("text", ""))}{cite}{detail}</li>')
    point_list = f'<ul class="coach-points">{"".join(items)}</ul>' if items else ""
    notices = "".join(notice(n, "warn") for n in grade.get("notices") or ())
    citations = " ".join(f'<span class="coach-id">{esc(c)}</span>' for c in grade.get("citations") or ())
    model = ""
    if show_model_answer and grade.get("model_answer"):
        model = (
            '<details class="coach-card" open><summary><span class="coach-card-title">Model answer</span></summary>'
            f'<div class="coach-passage coach-model-answer">{esc(grade["model_answer"])}</div></details>'
        )
    return (
        '<div class="coach-grade" data-testid="grade">'
        f'<div class="coach-score-row"><span class="coach-score" data-score="{score:.1f}">{score:.1f}<small> / 10</small></span>'
        f'<span class="coach-bar" aria-hidden="true"><span style="width:{max(0.0, min(score, 10.0)) * 10:.0f}%"></span></span>'
        f'<span class="coach-verdict {esc(verdict_class)}">{esc(verdict)}</span></div>'
        f"{notices}"
        + feedback_block(str(grade.get("feedback") or ""))
        + f'<div><strong>Key points: {covered} of {len(points)} covered</strong></div>{point_list}'
        + (f"<div>Cited: {citations}</div>" if citations else "")
        + model
        + "</div>"
    )


def feedback_block(feedback: str) -> str:
    """The grader's written feedback. A one-line feedback is shown as is; a longer one (which
    lists the key points shown above again) is one click away, under its headline when it
    starts with one."""
    text = feedback.strip()
    if not text:
        return ""
    first, _, rest = text.partition("\n")
    if not rest.strip():
        return f'<div class="coach-feedback"><strong>Feedback.</strong> {esc(first)}</div>'
    if first.rstrip().endswith(":"):  # the text opens straight into a list: no headline to show
        first, rest = "Written feedback on your answer", text
    return (
        f'<details class="coach-feedback"><summary><strong>Feedback.</strong> {esc(first)}</summary>'
        f"<div>{esc(rest.strip())}</div></details>"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    def cell(tag: str, i: int, value: Any) -> str:
        cls = ' class="num"' if i in numeric else ""
        return f"<{tag}{cls}>{esc(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f'<div class="coach-scroll"><table class="coach-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def stats(items: Sequence[tuple[str, Any]]) -> str:
    cells = "".join(f'<div class="coach-stat"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for k, v in items)
    return f'<div class="coach-stats">{cells}</div>'


def bar_chart(rows: Sequence[tuple[str, float | None, str]], top: float = 10.0, title: str = "") -> str:
    """Horizontal bars (label, value 0..top or None, caption): readable at any width,
    no plotting library in the page."""
    bars = []
    for label, value, caption in rows:
        width = 0.0 if value is None else max(0.0, min(value / top, 1.0)) * 100
        shown = "–" if value is None else (f"{value:.1f}" if top != 100 else f"{value:.0f}%")
        bars.append(
            f'<div class="coach-barrow"><div class="coach-barlabel">{esc(label)}'
            f'<span class="coach-meta">{esc(caption)}</span></div>'
            f'<div class="coach-bar" role="img" aria-label="{esc(label)}: {esc(shown)}">'
            f'<span style="width:{width:.0f}%"></span></div><div class="coach-barvalue">{esc(shown)}</div></div>'
        )
    heading = f"<h3>{esc(title)}</h3>" if title else ""
    return f'<div class="coach-chart">{heading}{"".join(bars)}</div>'


def session_summary(summary: Any) -> str:
    """An interview's Summary: overall score, per-topic chart, questions, points, reading."""
    if not summary.questions:
        return empty_state("No answered questions", "This interview ended before any answer was graded.")
    parts = [stats([
        ("overall score / 10", f"{summary.mean_score:.1f}" if summary.mean_score is not None else "–"),
        ("questions answered", len(summary.questions)),
        ("topics", len(summary.topics)),
    ])]
    parts.append(bar_chart([(t.topic, t.mean, f"{t.questions} question(s)") for t in summary.topics],
                           title="Score per topic"))
    rows = [
        (o.question_id, o.title, f"{o.main_score:.1f}",
         "–" if o.follow_up_score is None else f"{o.follow_up_score:.1f}", f"{o.score:.1f}")
        for o in summary.questions
    ]
    parts.append("<h3>Questions</h3>" + table(["id", "question", "answer", "with follow-up", "score"], rows, numeric=(2, 3, 4)))
    if summary.strongest:
        items = "".join(f'<li class="covered"><span class="coach-mark">✓</span>{esc(p.text)} '
                        f'<span class="coach-id">{esc(p.citation)}</span></li>' for p in summary.strongest)
        parts.append(f'<h3>Strongest points</h3><ul class="coach-points">{items}</ul>')
    if summary.weakest:
        items = "".join(f'<li class="missed"><span class="coach-mark">✗</span>{esc(p.text)} '
                        f'<span class="coach-id">{esc(p.citation)}</span></li>' for p in summary.weakest)
        parts.append(f'<h3>Weakest points</h3><ul class="coach-points">{items}</ul>')
    if summary.reading:
        parts.append("<h3>What to read next</h3>" + reading_list(summary.reading))
    return '<div class="coach-summary">' + "".join(parts) + "</div>"


def reading_list(reading: Sequence[Any]) -> str:
    items = "".join(
        f'<li><span class="coach-id">{esc(r.citation)}</span><strong>{esc(r.question_title)}</strong>'
        f'<span class="coach-evidence">{esc(r.why)}</span></li>'
        for r in reading
    )
    return f'<ul class="coach-points coach-reading">{items}</ul>'
