"""What every command of `python -m engine` shares: reading an input file within a size limit, and
progress lines on stderr. The commands themselves are engine/cli.py and each task's cli.py module
(listed in engine/core/entries.py, CLI_MODULES); they import this, never engine/cli.py.
"""

from __future__ import annotations

import pathlib
import sys

from engine.core.errors import InvalidMedia


def read_input_file(path: str, limit: int) -> bytes:
    """The bytes of a file the user named.

    Raises:
        InvalidMedia: no such file, larger than `limit` bytes, or unreadable.
    """
    file = pathlib.Path(path)
    if not file.is_file():
        raise InvalidMedia(f"No such file: {path}")
    try:
        if file.stat().st_size > limit:
            raise InvalidMedia(f"{path} is larger than the {limit // (1024 * 1024)} MB limit.")
        return file.read_bytes()
    except OSError as error:  # unreadable: permissions, a vanished file, an I/O error
        raise InvalidMedia(f"Cannot read {path}: {error.strerror or error}.") from error


def print_progress(fraction: float, message: str, preview=None) -> None:
    """A ProgressCallback for the command line: one line per report on stderr."""
    print(f"[{fraction:4.0%}] {message}", file=sys.stderr, flush=True)
