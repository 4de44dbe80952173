"""User-facing errors."""


class StagewiseError(Exception):
    """User-facing error: one line naming the file, row or field.

    The CLI prints it as ``error: <message>`` and exits with status 2; anything else is a bug and keeps
    its traceback.
    """
