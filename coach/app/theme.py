"""The look: a theme with system fonts (nothing fetched from the internet) and our CSS."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import gradio as gr

CSS_FILE = Path(__file__).with_name("style.css")
SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif")
MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace")


def theme() -> gr.themes.Base:
    # A plain string font is a CSS family name; a GoogleFont would be fetched from the internet.
    return gr.themes.Soft(
        primary_hue="indigo",
        secondary_hue="slate",
        neutral_hue="slate",
        font=SYSTEM_FONTS,
        font_mono=MONO_FONTS,
    ).set(
        body_text_color_subdued="*neutral_600",  # the default (neutral_400) is too faint on white
        body_text_color_subdued_dark="*neutral_300",
        block_label_text_color="*neutral_700",
        block_label_text_color_dark="*neutral_200",
        block_title_text_color="*neutral_800",
        block_title_text_color_dark="*neutral_100",
        input_placeholder_color="*neutral_500",
        # White on indigo-500 is about 4.4:1; 600 and 700 pass WCAG AA comfortably.
        button_primary_background_fill="*primary_600",
        button_primary_background_fill_hover="*primary_700",
        button_primary_background_fill_dark="*primary_600",
        button_primary_background_fill_hover_dark="*primary_500",
        button_primary_text_color="white",
        button_primary_text_color_dark="white",
    )


@lru_cache(maxsize=1)
def css() -> str:
    return CSS_FILE.read_text(encoding="utf-8")
