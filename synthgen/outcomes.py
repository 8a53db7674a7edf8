"""The record of a cell's outcome, as the engine stores it: an answer or a failure, a skip, a fresh copy."""

from __future__ import annotations

from typing import Any

from .prompt import RoundPlan, Topic
from .results import CallResult, FailureKind
from .store import FAILED, OK, SKIPPED, Record


def outcome(cell: Record, result: CallResult, attempts: int) -> Record:
    """The cell's record for a call's result (ok or failed) after `attempts` tries in all."""
    failure = result.failure
    return fresh(
        cell,
        model_id=result.model_id,
        status=OK if failure is None else FAILED,
        request_body=result.request_body,
        text=result.text,
        response=result.raw,
        latency_s=round(result.latency_s, 6),
        input_tokens=result.usage.input_tokens,
        output_tokens=result.usage.output_tokens,
        finish_reason=result.finish_reason,
        failure_kind=str(failure.kind) if failure else None,
        failure_message=failure.message if failure else None,  # redacted by Adapter.call
        attempts=attempts,
        note="; ".join(result.notes) or None,  # what Adapter.call changed to make the answer storable
    )


def skipped(cell: Record, reason: str) -> Record:
    # `reason` is the breaker's, built from failure kinds and messages Adapter.call already redacted
    return fresh(
        cell,
        status=SKIPPED,
        failure_kind=str(FailureKind.SKIPPED),
        failure_message=f"circuit breaker: {reason}",
        attempts=cell.attempts,
    )


def fresh(cell: Record, **outcome: Any) -> Record:
    """A new record for `cell`'s outcome: the cell's identity and what was prompted, nothing of an earlier
    outcome (a resumed cell's failed record carries its old text, response and note)."""
    identity = {
        "run_id": cell.run_id,
        "round": cell.round,
        "model": cell.model,
        "model_id": cell.model_id,
        "sentiment": cell.sentiment,
        "topics": cell.topics,
        "prompt": cell.prompt,
        "created_at": cell.created_at,
    }
    return Record(**{**identity, **outcome})


def plan_of(cell: Record) -> RoundPlan:
    """The round a cell's prompt was rendered from, as its adapter reads it (a few-shot prompt is built from it)."""
    topics = tuple(Topic(t["category"], t["topic"]) for t in cell.topics)
    return RoundPlan(index=cell.round, sentiment=cell.sentiment, topics=topics, prompt=cell.prompt)
