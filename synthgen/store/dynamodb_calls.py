"""DynamoDB calls that ride out a busy or briefly unreachable store, and name what happened when they cannot.

Every call is retried with full-jitter exponential backoff: for up to `throttle_window` (15 minutes) while
DynamoDB answers but throttles or leaves batch items unprocessed, for up to `unreachable_window` (2 minutes) while
it cannot be reached or answers 5xx; then StoreUnavailable: `generate` stops with one line, resumable. A table
that is gone, or access or credentials refused, is StoreUnavailable at once. A ValidationException about an
item's content (too large, a number out of range) is RecordRejected: that item, not the store. Any other refusal
is a request synthgen built wrong: StoreRequestError, naming the code, a bug to report.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from .base import RecordRejected, StoreRequestError, StoreUnavailable

BATCH = 25  # BatchWriteItem's limit
CHECK = "check AWS_ENDPOINT_URL_DYNAMODB / AWS_REGION / credentials"

THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TransactionConflictException",
}
RETRYABLE = THROTTLED | {"InternalServerError", "InternalFailure", "ServiceUnavailable"}
CREDENTIALS = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "MissingAuthenticationTokenException",
    "InvalidClientTokenId",
    "IncompleteSignature",
    "ExpiredToken",
    "SignatureDoesNotMatch",
}
# Refusals that say the store is not usable from here (no retry helps, the user must act): the rest of the codes
# DynamoDB answers for a non-retryable error are about the request itself.
_UNAVAILABLE = CREDENTIALS | {"ResourceNotFoundException", "AccessDeniedException"}
# ValidationException messages about what an item holds, not how the request was built (DynamoDB's wording)
_CONTENT = re.compile(
    r"item size|number (overflow|underflow)|significant digits|magnitude|utf-?8|surrogate", re.IGNORECASE
)
# refused, reset, timed out, TLS or proxy failures: every way of not getting an answer
NETWORK = (BotoConnectionError, HTTPClientError)


class ConditionFailed(Exception):
    """A conditional write's condition did not hold (ConditionalCheckFailedException): the caller decides."""


def code_of(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _throttled(exc: Exception) -> bool:
    """DynamoDB answered and said slow down: the table is there, only busy."""
    return isinstance(exc, ClientError) and code_of(exc) in THROTTLED


def retryable(exc: Exception) -> bool:
    if isinstance(exc, NETWORK):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code_of(exc) in RETRYABLE or int(status) >= 500
    return False


class Calls:
    """One table's calls through one client, each retried for a window of time."""

    throttle_window = 900.0  # seconds, while DynamoDB answers but throttles or leaves batch items unprocessed
    unreachable_window = 120.0  # seconds, while it cannot be reached (connection errors, timeouts) or answers 5xx
    retry_base, retry_cap = 0.05, 5.0  # seconds: full-jitter exponential backoff

    def __init__(self, client: Any, table: str, url: str, endpoint: str):
        self.client, self.table, self.url, self.endpoint = client, table, url, endpoint
        # injectable, so tests pass retry windows on a clock of their own
        self.sleep: Callable[[float], None] = time.sleep
        self.clock: Callable[[], float] = time.monotonic
        self.rng = random.Random()
        # Once a call gave up after its window, later calls try once instead of waiting a window again, until one
        # succeeds. The engine has its own fail-fast latch (Engine._store_down: no write starts after the first
        # failure, and the run stops once); this one serves what the engine's cannot reach: writes already in
        # flight in other writer threads, and callers outside the engine, such as `generate` marking the stopped
        # run interrupted, which would otherwise wait a whole window (up to 15 minutes) to say the same thing.
        self.down: StoreUnavailable | None = None

    def backoff(self, attempt: int) -> float:
        return self.rng.uniform(0, min(self.retry_cap, self.retry_base * 2 ** (attempt - 1)))

    def __call__(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """The call, retried on throttling, 5xx and dropped connections; ConditionFailed when its condition did
        not hold; StoreUnavailable, RecordRejected or StoreRequestError when no retry helps."""
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = getattr(self.client, operation)(**kwargs)
                self.down = None
                return answer
            except (ClientError, *NETWORK) as exc:
                if not retryable(exc):
                    assert isinstance(exc, ClientError)
                    if code_of(exc) == "ConditionalCheckFailedException":
                        raise ConditionFailed(operation) from None
                    error = self._refused(exc, operation)
                    if isinstance(error, StoreRequestError):
                        raise error from exc  # a bug: keep the whole story
                    raise error from None
                delay = self.backoff(attempt)
                window = self.throttle_window if _throttled(exc) else self.unreachable_window
                if self.down is not None or self.clock() - started + delay > window:
                    raise self._gave_up(exc, operation, attempt, self.clock() - started) from None
            self.sleep(delay)

    def _refused(self, exc: ClientError, operation: str) -> Exception:
        """A refusal no retry helps with: the store unusable from here (StoreUnavailable, with what to check), an
        item it will not hold (RecordRejected), or a request of ours it rejects (StoreRequestError: a bug)."""
        code, message = code_of(exc), exc.response.get("Error", {}).get("Message", "")
        if code in _UNAVAILABLE or not code or code.isdigit():  # digits: not DynamoDB answering at all
            return StoreUnavailable(f"store {self.url} refused {operation} ({code}: {message}; {CHECK})")
        if code == "ValidationException" and _CONTENT.search(message):
            return RecordRejected(f"store {self.url} refused the item ({code}: {message})")
        return StoreRequestError(
            f"store {self.url}: DynamoDB rejected the {operation} request synthgen built "
            f"({code}: {message}); this is a bug in synthgen, please report it"
        )

    def _gave_up(self, exc: Exception, operation: str, attempts: int, waited: float) -> StoreUnavailable:
        what = "still throttled" if _throttled(exc) else "unreachable"
        cause = type(exc).__name__ if isinstance(exc, NETWORK) else (code_of(exc) or str(exc))  # type: ignore[arg-type]
        error = StoreUnavailable(
            f"store {self.url} {what} ({cause} at {self.endpoint}; {operation} failed "
            f"{attempts} times over {waited:.0f} s)"
        )
        self.down = error
        return error

    def batch_put(self, items: list[dict[str, Any]]) -> None:
        """Typed items in batches; unprocessed items are sent again with backoff, for the throttle window."""
        for start in range(0, len(items), BATCH):
            pending = [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH]]
            began = self.clock()
            attempt = 0
            while pending:
                attempt += 1
                answer = self("batch_write_item", RequestItems={self.table: pending})
                pending = (answer.get("UnprocessedItems") or {}).get(self.table, [])
                if pending:
                    delay = self.backoff(attempt)
                    if self.clock() - began + delay > self.throttle_window:
                        raise StoreUnavailable(
                            f"store {self.url} still throttled: {len(pending)} items unprocessed "
                            f"after {attempt} batch writes over {self.clock() - began:.0f} s"
                        )
                    self.sleep(delay)

    def pages(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Typed items of a Query or Scan (strongly consistent), page by page."""
        kwargs = {"TableName": self.table, "ConsistentRead": True, **kwargs}
        while True:
            page = self(operation, **kwargs)
            yield from page.get("Items", [])
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
