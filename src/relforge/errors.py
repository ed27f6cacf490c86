"""The one exception type users see.

Every problem caused by user input (config, schema, paths, corrupt files) is raised as a
:class:`RelforgeError` whose message is a single line naming the problem. The CLI prints it as
``error: <message>`` and exits with code 2; it never shows a traceback for these.
"""


class RelforgeError(Exception):
    """A user-facing error: bad config, schema, path or file. The message is one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # force a single line
