"""Write a batch report: report.json, report.html, report.md, items.csv and PNGs in OUT.

Every file is written atomically (temp file, fsync, rename), so a reader never
sees half a report. The HTML page is self-contained (inline CSS, PNGs as base64)
and readable offline; every piece of user text is HTML-escaped there and in the
Markdown; CSV cells that a spreadsheet would run as a formula get a leading quote.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coach.errors import StorageError
from coach.evaluation.batch import RESULTS_FILE, BatchResult
from coach.evaluation.report_data import ReportData, build_report_data, on_human_scale
from coach.evaluation.report_plots import histogram_png, scatter_png
from coach.store import atomic_write_bytes

HISTOGRAM_PNG = "score_histogram.png"
SCATTER_PNG = "grader_vs_human.png"
ITEMS_IN_HTML = 2000  # past this the page gets slow; items.csv and report.json have every row
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class WrittenReport:
    data: ReportData
    files: dict[str, Path]  # "json", "html", "md", "csv", "histogram", "scatter" (when drawn)


def write_report(result: BatchResult, out_dir: Path, ci: bool = True) -> WrittenReport:
    try:
        return _write_report(result, out_dir, ci)
    except OSError as exc:
        raise StorageError(
            f"Cannot write the report to {out_dir} ({exc.strerror or exc}). The grades are kept in {RESULTS_FILE}: "
            "free some disk space, then run the same evaluation again; it reuses every grade and writes the report."
        ) from None


def _write_report(result: BatchResult, out_dir: Path, ci: bool) -> WrittenReport:
    data = build_report_data(result, ci=ci)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    pngs: dict[str, bytes] = {}
    if data.items:
        paired = [i for i in data.items if i.human_score is not None]
        scale = result.human_scale
        pngs[HISTOGRAM_PNG] = histogram_png([i.score for i in data.items],
                                            [i.human_score * 10 / scale for i in paired] if paired else None)
        if len(paired) >= 2:
            pngs[SCATTER_PNG] = scatter_png([on_human_scale(i.score, scale) for i in paired],
                                            [i.human_score for i in paired], scale)
    for name, png in pngs.items():
        files["histogram" if name == HISTOGRAM_PNG else "scatter"] = _write(out_dir / name, png)
    files["json"] = _write(out_dir / "report.json", (json.dumps(data.to_json(), ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
    files["csv"] = _write(out_dir / "items.csv", items_csv(data).encode("utf-8"))
    files["md"] = _write(out_dir / "report.md", render_markdown(data, sorted(pngs)).encode("utf-8"))
    files["html"] = _write(out_dir / "report.html", render_html(data, pngs).encode("utf-8"))
    return WrittenReport(data, files)


def _write(path: Path, data: bytes) -> Path:
    atomic_write_bytes(path, data)
    return path


# --- CSV -------------------------------------------------------------------------------

CSV_COLUMNS = ("line", "id", "candidate", "question_id", "question", "topic", "score", "verdict", "human_score",
               "covered", "total_points", "missed", "answer")


def neutralise_formula(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate (=, +, -, @ ...) gets a leading quote; numbers pass."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def items_csv(data: ReportData) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for item in data.items:
        row = item.to_json()
        row["question"] = item.question_text
        row["missed"] = "; ".join(item.missed)
        writer.writerow([neutralise_formula("" if row[c] is None else row[c]) for c in CSV_COLUMNS])
    return buffer.getvalue()


# --- shared formatting -------------------------------------------------------------------

SUMMARY_FIELDS = (
    ("n", "rows graded"), ("n_skipped", "rows skipped"), ("mean_score", "mean score (0-10)"),
    ("median_score", "median score"), ("std_score", "standard deviation"), ("n_with_human", "rows with a human score"),
    ("human_scale", "human scale"), ("spearman", "Spearman ρ"), ("spearman_ci95", "Spearman 95% CI"),
    ("pearson", "Pearson r"), ("pearson_ci95", "Pearson 95% CI"), ("mae", "MAE (human scale)"),
    ("rmse", "RMSE (human scale)"), ("qwk", "quadratic weighted κ"), ("n_resumed", "grades reused from an earlier run"),
    ("grade_seconds_median", "median seconds per grade"), ("seconds", "run time (s)"),
)
GROUP_COLUMNS = ("n", "mean_score", "min_score", "max_score", "mean_human", "mae", "spearman")


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.1f}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def _summary_rows(data: ReportData) -> list[tuple[str, str]]:
    rows = [(label, _fmt(data.summary[key])) for key, label in SUMMARY_FIELDS if key in data.summary]
    rows.append(("verdicts", _fmt(data.summary.get("verdicts", {}))))
    return rows


def _tables(data: ReportData) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(title, headers, rows) of every table, in page order; the writers only format them."""
    human = data.summary.get("n_with_human", 0) > 0
    group_cols = [c for c in GROUP_COLUMNS if human or c not in {"mean_human", "mae", "spearman"}]
    tables = []
    if data.worst:
        tables.append(("Worst disagreements with the human grade",
                       ["line", "id", "question", "answer (excerpt)", "grader", "grader (human scale)", "human", "gap"],
                       [[w["line"], w["id"], w["question"], w["answer_excerpt"], w["score"], w["score_on_human_scale"],
                         w["human_score"], w["gap"]] for w in data.worst]))
    tables.append(("Per topic", ["topic", *group_cols], [[g["topic"], *[g.get(c) for c in group_cols]] for g in data.per_topic]))
    tables.append(("Per question", ["question", "text", *group_cols],
                   [[g["question_id"], g["question_text"], *[g.get(c) for c in group_cols]] for g in data.per_question]))
    if data.per_candidate:
        tables.append(("Per candidate", ["candidate", *group_cols, "weakest topic", "its mean"],
                       [[g["candidate"], *[g.get(c) for c in group_cols], g["weakest_topic"], g["weakest_topic_mean"]]
                        for g in data.per_candidate]))
    if data.skipped:
        tables.append(("Skipped rows", ["line", "reason"], [[s["line"], s["reason"]] for s in data.skipped]))
    return tables


def _item_rows(data: ReportData) -> tuple[list[str], list[list[Any]]]:
    headers = ["line", "id", "candidate", "question", "score", "verdict", "human", "key points", "answer (excerpt)"]
    rows = [[i.line, i.id, i.candidate, i.question_id if i.question_id != "custom" else i.question_text, i.score,
             i.verdict, i.human_score, f"{i.covered}/{i.total_points}", " ".join(i.answer.split())[:200]]
            for i in data.items[:ITEMS_IN_HTML]]
    return headers, rows


# --- Markdown ----------------------------------------------------------------------------

def _md_cell(value: Any) -> str:
    # Markdown renderers pass raw HTML through: escape it, and keep each cell on one line.
    return html.escape(" ".join(_fmt(value).split()), quote=False).replace("|", "\\|")


def _md_table(headers: Sequence[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(data: ReportData, png_names: Sequence[str]) -> str:
    parts = [f"# Batch evaluation: {_md_cell(Path(data.summary['source']).name)}", "",
             _md_table(["figure", "value"], [[k, v] for k, v in _summary_rows(data)])]
    for notice in data.summary.get("notices", []):
        parts += ["", f"> {_md_cell(notice)}"]
    parts += ["", _AGREEMENT_NOTE_MD] if data.summary.get("n_with_human", 0) >= 2 else []
    parts += ["", *[f"![{name}]({name})" for name in png_names]]
    for title, headers, rows in _tables(data):
        parts += ["", f"## {title}", "", _md_table(headers, rows)]
    parts += ["", f"Every graded row is in items.csv and report.json ({len(data.items)} rows).", ""]
    return "\n".join(parts)


_AGREEMENT_NOTE_MD = (
    "Agreement: grader scores (0-10) are mapped linearly to the human scale before MAE, RMSE and QWK; "
    "QWK bins both to whole grades (halves round up). 95% intervals are a seeded percentile bootstrap (1000 resamples)."
)


# --- HTML --------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top;max-width:40em;overflow-wrap:anywhere}
th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}
.notice{background:#fff4ce;border-left:4px solid #e0b400;padding:.4em .8em}
figure{display:inline-block;margin:1em 1em 0 0}figcaption{font-size:.85em;color:#555}
.small{font-size:.85em;color:#555}
"""


def _h(value: Any) -> str:
    return html.escape(_fmt(value), quote=True)


def _html_table(headers: Sequence[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: ReportData, pngs: dict[str, bytes]) -> str:
    title = f"Batch evaluation: {Path(data.summary['source']).name}"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             _html_table(["figure", "value"], [[k, v] for k, v in _summary_rows(data)])]
    parts += [f"<p class='notice'>{_h(n)}</p>" for n in data.summary.get("notices", [])]
    if data.summary.get("n_with_human", 0) >= 2:
        parts.append(f"<p class='small'>{html.escape(_AGREEMENT_NOTE_MD)}</p>")
    captions = {HISTOGRAM_PNG: "Score distribution", SCATTER_PNG: "Grader vs human (points jittered slightly)"}
    for name, png in sorted(pngs.items()):
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(f"<figure><img alt='{captions[name]}' src='data:image/png;base64,{encoded}'>"
                     f"<figcaption>{captions[name]}</figcaption></figure>")
    for title_, headers, rows in _tables(data):
        parts += [f"<h2>{html.escape(title_)}</h2>", _html_table(headers, rows)]
    headers, rows = _item_rows(data)
    shown = "" if len(data.items) <= ITEMS_IN_HTML else f" (first {ITEMS_IN_HTML} of {len(data.items)}; every row is in items.csv)"
    parts += [f"<h2>Graded rows{shown}</h2>", _html_table(headers, rows), "</body></html>"]
    return "\n".join(parts)
