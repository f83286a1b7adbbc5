"""Error categories shared by every Wharfie subsystem.

Library code raises one of these (with context, chained from its cause); the API
layer maps each category to an HTTP status exactly once, and command-line edges
turn them into a message and a non-zero exit.
"""


class WharfieError(Exception):
    """Base of all errors Wharfie raises on purpose."""


class NotFound(WharfieError):
    """The named object does not exist."""


class Conflict(WharfieError):
    """The request clashes with the current state (name in use, container running)."""


class InvalidArgument(WharfieError):
    """The input is malformed or names something impossible."""


class FailedPrecondition(WharfieError):
    """The object is in the wrong state for the request."""


class Unavailable(WharfieError):
    """A needed resource or host feature is missing or not answering."""


class NotImplementedFeature(WharfieError):
    """The request is understood but not supported by this build or host."""
