"""The Markdown page of an evaluation run, from the run's JSON-ready dict."""

from __future__ import annotations

from typing import Any

AGREEMENT_KEYS = (("spearman", "Spearman ρ"), ("pearson", "Pearson r"), ("mae", "MAE"), ("rmse", "RMSE"), ("qwk", "QWK"))


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.{digits}f}"
    if isinstance(value, list) and len(value) == 2:
        return f"[{_f(value[0], 2)}, {_f(value[1], 2)}]"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *["| " + " | ".join(_f(c).replace("|", "\\|") for c in row) + " |" for row in rows], ""]


def _agreement_rows(figures: dict[str, Any]) -> list[list[Any]]:
    rows = [[label, figures.get(key), figures.get(f"{key}_ci95")] for key, label in AGREEMENT_KEYS]
    return rows


def _status(section: dict[str, Any]) -> list[str]:
    if section.get("status") == "failed":
        return [f"**Failed** after {section.get('seconds')} s: `{section.get('error')}`", ""]
    if section.get("status") == "not available":
        return [f"Not available: {section.get('reason')}.", ""]
    return []


def render_markdown(report: dict[str, Any]) -> str:
    m, git, sections = report["machine"], report["git"], report["sections"]
    lines = [
        f"# {report['title']}", "",
        f"- Created: {report['created_utc']}; whole run {report['seconds']} s; command `{report['command'].strip()}`",
        f"- Commit: {git['commit']}" + (" (with uncommitted changes)" if git.get("dirty") else ""),
        f"- Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['memory_gib']} GiB, "
        f"Python {m['python']}, torch {m['torch']} ({m['torch_threads']} threads), numpy {m['numpy']}, {m['os']}",
        f"- Load average at start {m['load_average_at_start']}, at end {m.get('load_average_at_end')}: "
        "the machine is shared, so timings are under load.",
        f"- Threads: torch {m['torch_threads']}, llm_threads {report['settings'].get('llm_threads')}; "
        f"time budget {report.get('budget_minutes') or 'none'} min (only the chat section adapts to it)",
        "- Models: " + ", ".join(f"{k} `{v}`" for k, v in report["models"].items()),
        f"- Index: manifest sha256 `{report['index']['manifest_sha256']}`, corpus hash `{report['index']['corpus_hash']}`, "
        f"{report['index']['n_chunks']} chunks ({report['index']['status']})",
        f"- Per-item grades: `{report['work_dir']}`", "",
    ]
    if "retrieval" in sections:
        s = sections["retrieval"]
        lines += ["## Retrieval", "", *_status(s)]
        if s.get("status") == "ok":
            lines += [f"{s['n']} queries from `{s['file']}`; a query counts as found when any relevant guide question "
                      "is in the top k.", ""]
            lines += _table(["mode", "recall@1", "recall@3", "recall@5", "MRR"],
                            [[mode, f["recall@1"], f["recall@3"], f["recall@5"], f["mrr"]] for mode, f in s["modes"].items()])
    for key, title in (("grading", "graded dev set"), ("grading_reference", "reference dev set: free questions, given references"),
                       ("grading_student", "student dev set: short classroom answers, given references")):
        if key not in sections:
            continue
        s = sections[key]
        lines += [f"## Grading agreement ({title}, heldout split)", "", *_status(s)]
        if s.get("status") == "ok":
            lines += [f"{s['n_graded']} of {s['n_heldout']} heldout answers graded ({s['n_rows']} rows in `{s['file']}`); "
                      "grader and human both on 0-10.", ""]
            lines += _table(["figure", "value", "95% CI"], _agreement_rows(s["agreement"]))
            lines += _table(["level", "n", "mean human", "mean grader", "max grader"],
                            [[lvl, f["n"], f["mean_human"], f["mean_grader"], f["max_grader"]] for lvl, f in s["levels"].items()])
            lines += ["Max grader score of watched levels: " + ", ".join(f"{k} {_f(v)}" for k, v in s["watched_max"].items())
                      + " (the human range for both is 0-3 or lower).", ""]
            if s["skipped"]:
                lines += [f"Skipped rows: {s['skipped']}", ""]
    if "chat" in sections:
        s = sections["chat"]
        lines += ["## Grounded chat", "", *_status(s)]
        if s.get("status") == "ok":
            figures = s["figures"]
            flat = [[k, v] for k, v in figures.items() if not isinstance(v, (dict, list))]
            flat += [[f"latency {k} (ms)", v] for k, v in (figures.get("latency_ms") or {}).items()]
            lines += [f"{s['n']} questions from `{s['file']}` (coach.evaluation.chat_eval.evaluate_chat; answers in the JSON).", ""]
            if s.get("subsample"):
                lines += [f"**{s['subsample']}**", ""]
            lines += _table(["figure", "value"], flat)
    if "latency" in sections:
        s = sections["latency"]
        lines += ["## Latency (medians, warm, under load)", "", *_status(s)]
        if s.get("status") == "ok":
            lines += _table(["step", "median ms", "n", "how"],
                            [[step, f.get("median_ms"), f.get("n", "–"), f.get("how")] for step, f in s["steps"].items()])
    if "mohler" in sections:
        s = sections["mohler"]
        lines += ["## External benchmark: Mohler et al. 2011", "", *_status(s)]
        if s.get("status") == "ok":
            c = s["conversion"]
            lines += [f"{c['n_source']} answers in the source; {c['n_damaged']} read `#NAME?` (spreadsheet damage) and are "
                      f"excluded; {s['n_graded']} graded, {len(s['skipped'])} skipped. Reference = each question's "
                      f"desired answer; {s['mapping']}; human = score_avg (0-5).", ""]
            if s.get("subsample"):
                lines += [f"**{s['subsample']}**", ""]
            lines += _table(["figure", "value", "95% CI"], _agreement_rows(s["agreement"]))
            published = "; ".join(f"{name}: " + ", ".join(f"{k} {v}" for k, v in f.items()) for name, f in s["published"].items())
            lines += [f"Published on this set: {published}.", "",
                      f"Grading took {s['grading_seconds']} s (median {_f(s['grade_seconds_median'], 4)} s per answer).", ""]
    lines += ["## Time per section", ""]
    lines += _table(["section", "status", "seconds"], [[k, v.get("status"), v.get("seconds")] for k, v in sections.items()])
    lines += ["Settings snapshot (coach.config.as_dict):", "", "```", *[f"{k} = {v}" for k, v in report["settings"].items()], "```", ""]
    return "\n".join(lines)
