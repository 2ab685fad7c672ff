"""`coach eval FILE --out DIR`: grade a file of answers and write a report."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from coach.cli.common import end_progress_line, print_json, settings_from, stderr_progress

SKIPPED_SHOWN = 10


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_file)


def eval_file(
    file: Path = typer.Argument(..., help="CSV, TSV or JSONL with columns question, answer [, human_score, reference, id, candidate, topic]."),
    out: Path = typer.Option(..., "--out", help="Folder for results.jsonl (resumable) and report.json/.html/.md, items.csv, PNGs."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    workers: int = typer.Option(1, "--workers", min=1, max=16, help="Rows graded at once (threads)."),
    human_scale: int = typer.Option(10, "--human-scale", help="Scale of human_score: 10 (0-10) or 5 (0-5, e.g. Mohler)."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore grades stored in OUT/results.jsonl and grade every row again."),
    max_mb: float | None = typer.Option(None, "--max-mb", help="Largest input file accepted (default: max_upload_mb)."),
) -> None:
    """Grade every answer in FILE; bad rows are listed by line and skipped; re-running resumes."""
    from coach.evaluation.batch import grade_batch, guide_topics
    from coach.evaluation.batch_file import read_batch_file
    from coach.evaluation.report import write_report
    from coach.wiring import build_coach

    settings = settings_from()
    limit_mb = max_mb if max_mb is not None else settings.max_upload_mb
    # Read first: a bad file fails in milliseconds, before any model loads.
    batch = read_batch_file(file, human_scale=human_scale, max_bytes=int(limit_mb * 2**20))
    coach = build_coach(settings)
    try:
        result = grade_batch(batch, coach.grader, out, topics=guide_topics(coach.index.units), workers=workers,
                             progress=stderr_progress("grading"), fresh=fresh)
    except KeyboardInterrupt:
        end_progress_line()
        print(f"interrupted: the grades so far are in {out / 'results.jsonl'}; run the same command again to "
              "resume.", file=sys.stderr)
        raise typer.Exit(130) from None
    report = write_report(result, out)
    summary = report.data.summary
    if as_json:
        print_json({"summary": summary, "skipped": report.data.skipped,
                    "files": {k: str(v) for k, v in report.files.items()}})
        return
    for skipped in report.data.skipped[:SKIPPED_SHOWN]:
        print(f"skipped line {skipped['line']}: {skipped['reason']}", file=sys.stderr)
    if len(report.data.skipped) > SKIPPED_SHOWN:
        print(f"... and {len(report.data.skipped) - SKIPPED_SHOWN} more skipped rows (see report.md)", file=sys.stderr)
    typer.echo(f"graded {summary['n']} rows ({summary['n_resumed']} from an earlier run), skipped {summary['n_skipped']}")
    if summary["mean_score"] is not None:
        typer.echo(f"mean score {summary['mean_score']:.2f} / 10, median {summary['median_score']:.1f}")
    if summary.get("n_pairs"):
        figures = ", ".join(f"{name} {_num(summary.get(key))}" for key, name in
                            (("spearman", "Spearman"), ("pearson", "Pearson"), ("mae", "MAE"), ("rmse", "RMSE"), ("qwk", "QWK")))
        typer.echo(f"agreement with {summary['n_pairs']} human scores ({summary['human_scale']}): {figures}")
    for notice in summary.get("notices", []):
        typer.echo(f"note: {notice}")
    typer.echo(f"report: {report.files['html']}")


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
