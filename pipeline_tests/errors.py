"""The one exception type users see: a paragraph saying what is wrong and what to do."""


class UserError(Exception):
    """Bad input or environment. The CLI prints the message and exits 2, without a traceback."""
