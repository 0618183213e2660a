"""The one error type that the CLI turns into exit code 2 and a single clear line."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (a file, a field, an option): shown as one line, exit code 2.

    The message must name what was wrong (the file, the field or the option) and what was
    expected. Raise it for anything a user can fix; let genuine bugs raise normally.
    """
