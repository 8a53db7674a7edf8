"""The verification layers: judges' verdicts and regenerated attempts, each a layer of its own beside the records.

Raw records are never changed by verification. A cell's answer is attempt 0 (its record's text, or the cleaned
text where the model was cleaned); a cell whose answer the judges reject may be asked again (`generate
--verify`), and each new answer is an `Attempt` (1, 2, ...), never overwriting anything.

A `Verdict` is one judge's reading of one attempt's text: key (run, round, model, attempt, judge). The panel's
decision on an attempt (the judges' votes or mean probability, and whether the attempt is accepted) is a verdict
too, under the judge name `PANEL`; it is the one verdict a later `verify` may replace (with other judges or
settings), since it is computed, not asked. Like records, an `ok` verdict or attempt is never overwritten
otherwise; a failed or skipped one is replaced when the work is resumed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .base import OK, _Serial, record_id, utc_now

PANEL = "_panel"  # the judge name of the panel's decision on an attempt


def text_sha(text: str | None) -> str:
    """What a verdict remembers of the text it judged: a changed text (cleaned since) makes the verdict stale."""
    return hashlib.sha256((text or "").encode("utf-8", "replace")).hexdigest()[:16]


@dataclass
class Verdict(_Serial):
    run_id: str
    round: int
    model: str  # the alias of the model that wrote the text
    attempt: int  # 0: the cell's own answer; 1, 2, ...: regenerated attempts
    judge: str  # the judge's alias, or PANEL for the decision
    status: str = OK  # ok | failed | skipped, as for records
    label: str | None = None  # the judge's label: one of the run's task's labels
    confidence: float | None = None  # the judge's probability (or stated confidence) of that label
    probs: dict[str, float] | None = None  # per label, where the judge gives them (log-prob judges)
    judge_model_id: str = ""
    method: str = ""  # how the judge answered, e.g. "logprob fewshot=6 calibrated=N/A"; the panel: its settings
    text_sha: str = ""  # text_sha() of the judged text
    accepted: bool | None = None  # the panel only: the label agrees and the confidence is high enough
    reason: str | None = None  # the panel only: why an attempt was rejected
    failure_kind: str | None = None
    failure_message: str | None = None
    tries: int = 0
    latency_s: float | None = None
    created_at: str = field(default_factory=utc_now)
    updated_at: str | None = None

    @property
    def record_id(self) -> str:
        return record_id(self.run_id, self.round, self.model)

    @property
    def id(self) -> str:
        return f"{self.record_id}/{self.attempt:02d}/{self.judge}"


@dataclass
class Attempt(_Serial):
    """A regenerated answer of a cell: asked again, with a new seed, because its earlier answer was rejected."""

    run_id: str
    round: int
    model: str
    attempt: int  # 1, 2, ...
    model_id: str
    label: str  # the label the cell asks for (the plan's: regeneration never changes it)
    status: str = OK
    text: str | None = None
    request_body: dict[str, Any] | None = None
    response: Any = None
    latency_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    failure_kind: str | None = None
    failure_message: str | None = None
    tries: int = 0  # the requests this attempt took (its retries included)
    first_try: int = 0  # the cell's try number this attempt started at: its seed offset
    created_at: str = field(default_factory=utc_now)
    updated_at: str | None = None
    note: str | None = None

    @property
    def record_id(self) -> str:
        return record_id(self.run_id, self.round, self.model)

    @property
    def id(self) -> str:
        return f"{self.record_id}/{self.attempt:02d}"


VERDICT_JSON = ("probs",)
ATTEMPT_JSON = ("request_body", "response")
