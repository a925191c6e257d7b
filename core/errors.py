"""The two exception types the project raises on purpose.

Callers (the CLI, the web app, the webcam loop) catch these and show the message as
one line; anything else is a bug and keeps its traceback.
"""


class InputError(ValueError):
    """A user-supplied image, stroke list or recording cannot be recognized as given."""


class DataError(RuntimeError):
    """A data set or checkpoint file is missing, corrupt or incompatible."""
