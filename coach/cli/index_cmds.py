"""`coach index`, `coach search`, `coach eval-retrieval`."""

from __future__ import annotations

from pathlib import Path

import typer

from coach.cli.common import existing_file, print_json, settings_from, stderr_progress


def register(app: typer.Typer) -> None:
    app.command("index")(index)
    app.command("search")(search)
    app.command("eval-retrieval")(eval_retrieval)


def index(
    corpus: Path | None = typer.Option(None, help="A guide file or a folder of .md/.txt/.pdf documents."),
    index_dir: Path | None = typer.Option(None, help="Where to write the index."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild even if the index is current."),
) -> None:
    """Build (or verify) the retrieval index for the corpus."""
    from coach.wiring import build_coach

    settings = settings_from(corpus_path=corpus, index_dir=index_dir)
    coach = build_coach(settings, rebuild=rebuild, progress=stderr_progress("embedding"))
    manifest = coach.index.manifest
    typer.echo(
        f"index {coach.index_status}: {manifest['n_chunks']} chunks, {manifest['n_vectors']} vectors "
        f"({manifest['index_type']}, {manifest['embedding_model']}) in {settings.index_dir}"
    )


def search(
    query: str = typer.Argument(..., help="What to look for."),
    k: int = typer.Option(5, "--k", min=1, max=50, help="How many results."),
    mode: str = typer.Option("hybrid", help="hybrid, dense or bm25."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Search the guide; prints the top-k question units."""
    from coach.wiring import build_coach

    hits = build_coach(settings_from()).retriever.search(query, k=k, mode=_mode(mode))
    rows = [
        {"id": h.id, "question": h.chunk.question, "title": h.chunk.title, "section": h.chunk.section,
         "score": round(h.score, 6), "text": h.chunk.text}
        for h in hits
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no results")
    for n, row in enumerate(rows, start=1):
        typer.echo(f"{n}. [{row['id']}] {row['title']}  ({row['section']}, score {row['score']:.4f})")


def eval_retrieval(
    file: Path = typer.Argument(..., help='JSONL: {"q": ..., "relevant": [4, 9]} per line.'),
    k: int = typer.Option(5, "--k", min=1, max=50),
    mode: str = typer.Option("hybrid", help="hybrid, dense, bm25, or all."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recall@1/3/5 and MRR of retrieval on a labelled query file."""
    from coach.evaluation.retrieval_eval import evaluate_retrieval, read_retrieval_queries
    from coach.wiring import build_coach

    queries = read_retrieval_queries(existing_file(file))
    retriever = build_coach(settings_from()).retriever
    if mode == "all":
        result = {m: evaluate_retrieval(retriever, queries, m, k) for m in ("hybrid", "dense", "bm25")}
    else:
        result = evaluate_retrieval(retriever, queries, _mode(mode), k)
    if as_json:
        print_json(result)
    else:
        for name, figures in (result.items() if mode == "all" else [(mode, result)]):
            typer.echo(f"{name}: " + ", ".join(f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}" for key, value in figures.items()))


def _mode(mode: str) -> str:
    from coach.errors import InputError

    if mode not in {"hybrid", "dense", "bm25"}:
        raise InputError(f"--mode must be hybrid, dense or bm25, not {mode!r}.")
    return mode
