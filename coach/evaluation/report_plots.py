"""The report's two figures as PNG bytes: the score histogram and grader vs human.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global state,
no display needed), so it is safe in a server thread and on a headless machine.
"""

from __future__ import annotations

import io

import numpy as np

from coach.evaluation.metrics import SCORE_TOP

JITTER = 0.08  # grades repeat a lot; a little seeded jitter shows how many points sit on each spot


def _figure(width: float = 6.4, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    # Fixed metadata so the same data gives the same bytes.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def histogram_png(scores: list[float], human_on_ten: list[float] | None = None) -> bytes:
    """Grader scores in unit bins over 0-10; human scores (mapped to 0-10) beside them if given."""
    figure = _figure()
    axes = figure.add_subplot(1, 1, 1)
    bins = np.arange(0, SCORE_TOP + 1)
    if human_on_ten:
        axes.hist([np.asarray(scores), np.asarray(human_on_ten)], bins=bins, label=["grader", "human (mapped to 0-10)"],
                  color=["#3465a4", "#c17d11"])
        axes.legend()
    else:
        axes.hist(np.asarray(scores), bins=bins, color="#3465a4", edgecolor="white")
    axes.set_xticks(bins)
    axes.set_xlabel("score (0-10)")
    axes.set_ylabel("answers")
    axes.set_title(f"Score distribution (n={len(scores)})")
    return _png(figure)


def scatter_png(grader_on_human: list[float], human: list[float], human_scale: int) -> bytes:
    """Grader (mapped to the human scale) against human, with the y = x line of perfect agreement."""
    figure = _figure(5.0, 5.0)
    axes = figure.add_subplot(1, 1, 1)
    rng = np.random.default_rng(0)
    x = np.asarray(human) + rng.uniform(-JITTER, JITTER, len(human)) * human_scale / 5
    y = np.asarray(grader_on_human) + rng.uniform(-JITTER, JITTER, len(human)) * human_scale / 5
    # Many points: faint, so density shows; a handful: solid, so each one is seen.
    axes.scatter(x, y, s=14, alpha=0.3 if len(human) > 200 else 0.8, color="#3465a4", linewidths=0)
    axes.plot([0, human_scale], [0, human_scale], color="#888888", linestyle="--", linewidth=1)
    axes.set_xlim(-0.3, human_scale + 0.3)
    axes.set_ylim(-0.3, human_scale + 0.3)
    axes.set_xlabel(f"human score (0-{human_scale})")
    axes.set_ylabel(f"grader score mapped to 0-{human_scale}")
    axes.set_title(f"Grader vs human (n={len(human)}, jittered)")
    return _png(figure)
