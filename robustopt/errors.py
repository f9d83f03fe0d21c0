"""User-facing errors.

Every mistake a user can make (a typo'd config key, an unknown name, a missing data set, a
corrupted checkpoint) raises one of these with a single sentence saying what is wrong and how
to fix it.  Entry points print that sentence (no traceback) and exit non-zero.
"""


class RobustOptError(Exception):
    """Base class of all errors meant to be read by a user."""


class ConfigError(RobustOptError, ValueError):
    """A configuration value or name is invalid."""


class DataError(RobustOptError):
    """A data set is missing, incomplete or malformed."""


class CheckpointError(RobustOptError):
    """A checkpoint or run directory cannot be used."""


class DependencyError(RobustOptError, ImportError):
    """An optional dependency is not installed."""


class MissingResultsError(RobustOptError):
    """The results store lacks what a figure, table or report needs; the message names it and the command that
    produces it."""
