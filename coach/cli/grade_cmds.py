"""Commands of this group are added by the module's owner."""

import typer


def register(app: typer.Typer) -> None:
    return None
