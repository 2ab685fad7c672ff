"""`coach serve`: the web app (what `make run` starts)."""

from __future__ import annotations

import logging

import typer

from coach.cli.common import settings_from
from coach.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: str | None = typer.Option(None, help="Interface to bind (default 127.0.0.1, this machine only)."),
    port: int | None = typer.Option(None, help="Port (default 7860)."),
) -> None:
    """Start the web app: chat, mock interview, batch evaluation and progress."""
    from coach.app.server import serve as serve_app

    settings = settings_from(host=host, port=port)
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        raise ConfigError(f"log_level must be DEBUG, INFO, WARNING or ERROR, not {settings.log_level!r}.")
    logging.getLogger("coach").setLevel(level)  # our messages only; libraries stay at WARNING
    serve_app(settings, settings.host, settings.port)
