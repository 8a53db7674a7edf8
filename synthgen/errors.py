"""The exception types a user sees as one line, and the exit codes they map to.

- `UserError` (exit 2): bad input a user can fix: a file, field or flag. The message says which, and what to do.
- `InfrastructureError` (exit 3): something outside synthgen failed after its own retries (the store went away, a
  disk filled up). The input was fine; trying again later, or elsewhere, can work.
"""

EXIT_FAILED = 1  # the command ran, but what it was asked did not succeed (`ask` got a failure)
EXIT_USAGE = 2  # UserError
EXIT_INFRASTRUCTURE = 3  # InfrastructureError
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: what finished is stored


class UserError(Exception):
    """Bad input: a file, field or flag the user named is wrong. The message says which, and what to do."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class InfrastructureError(Exception):
    """A service or resource outside synthgen failed (store unreachable, disk full). One line, exit 3."""

    exit_code = EXIT_INFRASTRUCTURE

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
