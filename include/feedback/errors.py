"""Errors that speak to the operator.

Each carries one line saying what is wrong and how to fix it; the CLI prints that
line alone (no traceback) and exits non-zero. They never include personal data.
"""


class FeedbackError(Exception):
    """Base for operator-facing errors: str(err) is the whole message."""

    exit_code = 2


class ConfigError(FeedbackError):
    """A configuration file is missing, unreadable or fails validation."""


class RegisterUnreachable(FeedbackError):
    """The register database cannot be reached with the configured settings."""


class MigrationError(FeedbackError):
    """The migration files or the applied history are inconsistent."""


class EmbeddedServerError(FeedbackError):
    """The embedded PostgreSQL could not be initialised or started."""
