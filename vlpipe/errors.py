"""Exceptions with a meaning for the ledger.

A ``DocumentError`` fails one document: the build records it as a ``failed`` ledger row (error
class + message) and goes on. A ``ConfigError`` stops the build with a one-line message.
"""


class DocumentError(Exception):
    """One input document cannot be turned into samples; the message is the ledger reason."""


class ConfigError(Exception):
    """The build's configuration is broken (missing input, bad recipe, unwritable output)."""
