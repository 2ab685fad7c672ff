"""Every failure a user meets in the page is a friendly message, never a traceback.

A CoachError already carries a message the user can act on; it is shown as is
(escaped: gr.Error renders HTML and messages may quote user input). Anything else
is a bug: it is logged with its traceback and a reference, and the page gets a
generic message with that reference so the log entry can be found.
"""

from __future__ import annotations

import functools
import html
import inspect
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import gradio as gr

from coach.errors import CoachError

log = logging.getLogger("coach.app")

F = TypeVar("F", bound=Callable[..., Any])

GENERIC = "Something went wrong on our side and has been logged (reference {ref}). Please try again."


def user_message(exc: BaseException) -> str:
    """The plain-text message a user sees for `exc` (logs the details of a bug)."""
    if isinstance(exc, CoachError):
        return str(exc)
    ref = uuid.uuid4().hex[:8]
    log.error("unexpected error (reference %s)", ref, exc_info=(type(exc), exc, exc.__traceback__))
    return GENERIC.format(ref=ref)


def to_gradio_error(exc: BaseException) -> gr.Error:
    # print_exception=False: gradio would print a CoachError's traceback to stderr.
    return gr.Error(html.escape(user_message(exc)), title="Sorry", print_exception=False)


def friendly(fn: F) -> F:
    """Wrap an event handler (plain function or generator) so errors become gr.Error."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:  # noqa: BLE001 - the edge where every failure becomes a message
                raise to_gradio_error(exc) from None

        return gen_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - the edge where every failure becomes a message
            raise to_gradio_error(exc) from None

    return wrapper  # type: ignore[return-value]
