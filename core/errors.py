"""Errors that mean "the user asked for something that cannot be done".

The CLI turns a ``UserError`` into one line on stderr and a non-zero exit; the GUI shows its
message inline. Anything else escaping is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in the user's input (unknown word, bad image, unwritable folder, …).

    ``str(err)`` must be one line that says what is wrong and, where possible, what to do.
    """

    exit_code = 2


class CancelledError(Exception):
    """Raised inside long operations when the caller's cancel event is set."""
