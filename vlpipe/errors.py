"""Exceptions with a meaning for the ledger and the build's exit status.

- ``DocumentError`` (and the library errors in ``BAD_INPUT_ERRORS``, which only bad bytes
  raise) fails one document: a ``failed`` ledger row with the error class and message; the build
  goes on.
- ``TransientError``: an input could not be read *now* (network, a remote stream). The chunk is
  not committed and the build stops; re-running retries it.
- ``BuildStopped``: the build stopped on purpose (too many failures in a row means a broken
  environment, not bad input). Exit status 1; committed chunks stay, a re-run resumes.
- ``ConfigError``: the configuration is broken (missing input, bad recipe, unwritable output): a
  one-line message and exit status 2.

Any other exception is a bug: it says nothing about the document, so it is never a ledger row.
The chunk is not committed, the build stops with the traceback and exit status 1, and a re-run
resumes.
"""

import gzip
import json
import tarfile
import xml.etree.ElementTree
import xml.parsers.expat
import zipfile
import zlib


class DocumentError(Exception):
    """One input document cannot be turned into samples; the message is the ledger reason."""


class TransientError(Exception):
    """Reading an input failed in a way that a later attempt may not (network, remote stream)."""


class BuildStopped(Exception):
    """The build stopped before finishing, on purpose; the message says why."""


class ConfigError(Exception):
    """The build's configuration is broken (missing input, bad recipe, unwritable output)."""


# Library errors that only malformed input raises: the document fails, the build goes on. (PIL's
# own errors are OSError and ValueError subclasses, too broad to list: the image filter turns them
# into drops where it decodes.)
BAD_INPUT_ERRORS: tuple[type[Exception], ...] = (
    DocumentError,
    UnicodeError,  # bytes that are not the expected text encoding
    json.JSONDecodeError,  # orjson's decode error is a subclass
    zlib.error,
    gzip.BadGzipFile,
    zipfile.BadZipFile,
    tarfile.TarError,
    xml.etree.ElementTree.ParseError,
    xml.parsers.expat.ExpatError,
)
