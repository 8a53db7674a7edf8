"""The one exception type for mistakes a user can fix: the CLI prints its message on one line and exits 2."""


class UserError(Exception):
    """Bad input: a file, field or flag the user named is wrong. The message says which, and what to do."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
