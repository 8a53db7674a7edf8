"""The typed outcome of one call to a model: an answer, or a failure a caller can act on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class FailureKind(StrEnum):
    THROTTLED = "throttled"  # 429 and friends: slow down, then retry
    TRANSIENT = "transient"  # 5xx, timeouts, dropped connections: back off, then retry
    INVALID_REQUEST = "invalid_request"  # 400/404/422: retrying cannot help
    ACCESS_DENIED = "access_denied"  # 401/403: credentials or model access; retrying cannot help
    ANSWER_MISSING = "answer_missing"  # the call worked but the table's answer path is not in the response
    SKIPPED = "skipped"  # never sent: the model's circuit breaker was open
    ERROR = "error"  # something unexpected went wrong on our side of the call (SDK, client set-up): not retried

    @property
    def retryable(self) -> bool:
        return self in (FailureKind.THROTTLED, FailureKind.TRANSIENT)


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    status: int | None = None
    retry_after: float | None = None  # seconds, when the provider said


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None

    @property
    def total(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


@dataclass
class CallResult:
    """What one request to one model produced. Exactly one of `text` / `failure` is set."""

    model: str  # alias
    model_id: str
    request_body: dict[str, Any]
    latency_s: float
    text: str | None = None
    raw: Any = None  # the provider's whole decoded response (or error body)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    failure: Failure | None = None
    # What synthgen changed in what the provider sent so it can be stored (a lone surrogate replaced, a token
    # count that is no count dropped, a credential redacted from the answer); the record's `note` says these.
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        if self.failure is not None:
            data["failure"]["kind"] = str(self.failure.kind)
        return data


def kind_for_status(status: int | None) -> FailureKind:
    """Map an HTTP status to the failure kind every adapter shares."""
    if status is None:
        return FailureKind.TRANSIENT
    if status == 429:
        return FailureKind.THROTTLED
    if status in (401, 403):
        return FailureKind.ACCESS_DENIED
    if status in (408, 409, 425) or status >= 500:
        return FailureKind.TRANSIENT
    return FailureKind.INVALID_REQUEST
