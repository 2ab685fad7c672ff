"""The `coach` command: a thin layer over the Python API.

Each group of commands lives in its own module and registers itself on `app`.
CoachErrors become one line on stderr and exit code 2; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from coach.cli.common import end_progress_line
from coach.errors import CoachError

app = typer.Typer(
    name="coach",
    help="Interview Coach: a private, local study partner for deep-learning interviews.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules, each with a `register(app)`; order is the order in --help.
COMMAND_MODULES = (
    "coach.cli.index_cmds",
    "coach.cli.chat_cmds",
    "coach.cli.grade_cmds",
    "coach.cli.interview_cmds",
    "coach.cli.eval_cmds",
    "coach.cli.serve_cmds",
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except CoachError as exc:
        end_progress_line()
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        end_progress_line()
        print("interrupted", file=sys.stderr)
        sys.exit(130)
