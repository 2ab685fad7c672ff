"""The Batch evaluation tab: a CSV/JSONL of answers in, a graded report out.

The grading and the report are the engine's (coach.evaluation); this module only
checks the upload, runs it into a fresh folder under data_dir/batch with a
progress bar, and shows what the report says.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr

from coach.app import render
from coach.config import Settings
from coach.errors import InputError

FILE_TYPES = [".csv", ".tsv", ".jsonl", ".ndjson"]
EMPTY_RESULTS = render.empty_state(
    "No results yet", "Upload a CSV or JSONL file of answers and press Grade file."
)
FORMAT_HELP = (
    "**File format.** One answer per row with the columns `question` (a guide question number like `4`, "
    "an id like `q04`, or the question text) and `answer`; optional: `human_score` (0-10, or 0-5 with the "
    "switch below) for agreement figures, `reference`, `id`, `candidate`, `topic`. "
    "CSV, TSV or JSON lines, UTF-8."
)
AGREEMENT_FIGURES = (
    ("pearson", "Pearson r"), ("spearman", "Spearman ρ"), ("qwk", "Quadratic κ"), ("mae", "MAE"), ("rmse", "RMSE"),
)
TABLE_HEADERS = ["line", "question", "score", "verdict", "human", "points", "answer"]
COLUMN_WIDTHS = ["7%", "10%", "8%", "12%", "8%", "8%", "47%"]


@dataclass(frozen=True)
class BatchOutcome:
    report: dict[str, Any]  # report.json
    files: dict[str, Path]  # the written report files, by kind
    run_dir: Path


def check_upload(path: str | None, max_mb: int) -> Path:
    if not path:
        raise InputError("Choose a CSV or JSONL file of answers first.")
    file = Path(path)
    if file.suffix.lower() not in FILE_TYPES:
        raise InputError(f"{file.name} is not a CSV, TSV or JSONL file; save it as one of {', '.join(FILE_TYPES)}.")
    size = file.stat().st_size
    if size > max_mb * 2**20:
        raise InputError(
            f"{file.name} is {size / 2**20:.1f} MB; the upload limit is {max_mb} MB. "
            "Split it into smaller files (the limit is the max_upload_mb setting)."
        )
    return file


def run_batch(coach: Any, settings: Settings, path: str | None, human_scale: int,
              progress: Callable[[int, int], None] | None = None) -> BatchOutcome:
    """Grade an uploaded file into a new folder under data_dir/batch and write its report."""
    from coach.evaluation.batch import grade_batch, guide_topics
    from coach.evaluation.batch_file import read_batch_file
    from coach.evaluation.report import write_report

    source = check_upload(path, settings.max_upload_mb)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = settings.data_dir / "batch" / f"{stamp}-{uuid.uuid4().hex[:8]}"
    batch = read_batch_file(source, human_scale=human_scale, max_bytes=settings.max_upload_mb * 2**20)
    result = grade_batch(batch, coach.grader, run_dir, topics=guide_topics(coach.index.units), progress=progress)
    written = write_report(result, run_dir)
    report = written.data.to_json()
    report["summary"]["source"] = source.name  # the upload's temp path means nothing to the user
    return BatchOutcome(report, written.files, run_dir)


def summary_html(report: dict[str, Any]) -> str:
    summary = report["summary"]
    parts = [render.notice(n, "warn") for n in summary.get("notices") or ()]
    items: list[tuple[str, Any]] = [
        ("answers graded", summary.get("n", 0)),
        ("mean score", _fmt(summary.get("mean_score"))),
        ("median score", _fmt(summary.get("median_score"))),
        ("rows skipped", summary.get("n_skipped", 0)),
    ]
    parts.append(render.stats(items))
    if summary.get("n_with_human", 0) >= 2:
        figures = [(label, _fmt(summary.get(key))) for key, label in AGREEMENT_FIGURES if key in summary]
        parts.append(f"<h3>Agreement with the human scores ({render.esc(summary['n_with_human'])} pairs, "
                     f"human scale {render.esc(summary.get('human_scale', ''))})</h3>")
        parts.append(render.stats(figures))
    elif summary.get("n_with_human", 0) == 0:
        parts.append(render.notice("No human scores in this file, so there are no agreement figures. "
                                   "Add a human_score column to compare the grader with people."))
    if report.get("skipped"):
        rows = [(s["line"], s["reason"]) for s in report["skipped"][:50]]
        parts.append("<h3>Skipped rows</h3>" + render.table(["line", "reason"], rows, numeric=(0,)))
    return "".join(parts)


def table_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for item in report.get("items", []):
        question = item["question_id"] if item["question_id"] != "custom" else item["question_text"]
        answer = " ".join(str(item["answer"]).split())
        rows.append([
            item["line"], question, item["score"], item["verdict"],
            "" if item["human_score"] is None else item["human_score"],
            f"{item['covered']}/{item['total_points']}",
            answer if len(answer) <= 160 else answer[:159] + "…",
        ])
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def download_copies(files: dict[str, Path]) -> list[str]:
    """Copies of the report files in a fresh temp folder: gradio serves what a handler returns
    from there, and the run folder under data_dir stays private."""
    folder = Path(tempfile.mkdtemp(prefix="coach-report-"))
    out = []
    for kind in ("html", "md", "json", "csv", "histogram", "scatter"):
        if kind in files:
            out.append(str(shutil.copy2(files[kind], folder / files[kind].name)))
    return out


def on_run(coach: Any, settings: Settings, path: str | None, scale_label: str, progress: gr.Progress):
    """Page handler: (status, summary html, table, histogram, scatter, downloads)."""
    human_scale = 5 if scale_label.startswith("0-5") else 10

    def update(done: int, total: int) -> None:
        progress((done, max(total, 1)), desc=f"Grading {done} of {total} answers", unit="answers")

    progress(0, desc="Reading the file")
    outcome = run_batch(coach, settings, path, human_scale, update)
    report = outcome.report
    status = render.notice(
        f"Graded {report['summary']['n']} answers from {report['summary']['source']} "
        f"in {report['summary'].get('seconds', 0):.1f} s. The report is in {outcome.run_dir.name}."
    )
    histogram = outcome.files.get("histogram")
    scatter = outcome.files.get("scatter")
    return (
        status,
        summary_html(report),
        gr.Dataframe(value=table_rows(report), headers=TABLE_HEADERS, visible=True),
        gr.Image(value=str(histogram) if histogram else None, visible=histogram is not None),
        gr.Image(value=str(scatter) if scatter else None, visible=scatter is not None),
        gr.File(value=download_copies(outcome.files), visible=True),
    )


def build(coach: Any, settings: Settings, concurrency_id: str) -> None:
    from coach.app.failures import friendly

    gr.Markdown(FORMAT_HELP + f" Upload limit: {settings.max_upload_mb} MB.", elem_classes=["coach-help"])
    with gr.Row(equal_height=False):
        upload = gr.File(label="Answers file", file_types=FILE_TYPES, type="filepath", file_count="single",
                         elem_id="batch-file", scale=3, min_width=260)
        with gr.Column(scale=2, min_width=220):
            scale = gr.Radio(["0-10", "0-5 (e.g. Mohler data)"], value="0-10", label="Human score scale",
                             elem_id="batch-scale")
            run = gr.Button("Grade file", variant="primary", elem_id="batch-run")
    status = gr.HTML(EMPTY_RESULTS, elem_id="batch-status")
    summary = gr.HTML("", elem_id="batch-summary")
    with gr.Row(equal_height=False):
        # The PNGs carry their own titles; a label would sit on top of them.
        histogram = gr.Image(label="Score distribution", show_label=False, visible=False, type="filepath",
                             buttons=["download"], min_width=280, elem_id="batch-histogram")
        scatter = gr.Image(label="Grader vs human", show_label=False, visible=False, type="filepath",
                           buttons=["download"], min_width=280, elem_id="batch-scatter")
    results = gr.Dataframe(headers=TABLE_HEADERS, label="Results", interactive=False, wrap=True, visible=False,
                           max_height=480, elem_id="batch-table", column_widths=COLUMN_WIDTHS)
    downloads = gr.File(label="Download the report (HTML, Markdown, JSON, CSV, plots)", file_count="multiple",
                        interactive=False, visible=False, elem_id="batch-downloads")

    def handler(path, scale_label, progress=gr.Progress()):
        return on_run(coach, settings, path, scale_label, progress)

    run.click(
        friendly(handler),
        [upload, scale],
        [status, summary, results, histogram, scatter, downloads],
        api_visibility="private",
        concurrency_id=concurrency_id,
        concurrency_limit=1,
        show_progress="full",
        show_progress_on=[status],
    )
