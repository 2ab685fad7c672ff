"""Errors a user can act on.

Every failure the user can meet is a CoachError whose message says what to do.
The CLI and the app turn these into one line or a banner; anything else is a bug
and is raised as is (with a traceback in the log, never in the page).
"""


class CoachError(Exception):
    """Base class: `str(err)` is a complete, actionable message for a user."""


class ConfigError(CoachError):
    """A setting is missing, unknown or malformed."""


class CorpusError(CoachError):
    """The corpus cannot be read or parsed."""


class IndexStoreError(CoachError):
    """The index is missing, stale, corrupt or locked."""


class ModelError(CoachError):
    """A model (embedder or LLM) cannot be loaded or called."""


class InputError(CoachError):
    """User input (an answer, a file, a question reference) is not acceptable."""


class StorageError(CoachError):
    """The data directory or database cannot be used."""
