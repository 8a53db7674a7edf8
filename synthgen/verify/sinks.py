"""Where the engine writes when it judges or regenerates: stand-ins for the store that turn each outcome it
stores into a verdict or an attempt, so judging and regenerating reuse the engine whole (rate control, retries,
the breaker, the writer thread, the run's lease, a store that goes away stopping the run in one line).

A judging cell is a Record of the judged cell (run, round, model, label) whose `prompt` carries the text and
its attempt number (`judges.cell_payload`) and whose `model_id` is the judge's alias (the engine keeps both, and
the judge's result sets model_id to its alias too). A regeneration cell is the cell's own record, its `attempts`
set to the try the new attempt starts at (its seed offset); the sink knows which attempt number it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ..store import OK, Record, Store
from ..store.verdicts import Attempt, Verdict, text_sha
from .judges import payload_of


class _Sink:
    groups_writes = False

    def __init__(self, store: Store):
        self.store = store
        self.max_writers = getattr(store, "max_writers", 1)
        self.url = store.url

    put_records = Store.put_records  # put_record for each, as every store does that does not group writes

    def put_record(self, record: Record) -> bool:
        raise NotImplementedError


class VerdictSink(_Sink):
    """Each stored judging outcome becomes that judge's verdict on that attempt."""

    def __init__(self, store: Store, model_ids: Mapping[str, str]):
        super().__init__(store)
        self.model_ids = dict(model_ids)

    def verdict(self, record: Record) -> Verdict:
        payload = payload_of(record.prompt)
        judge = record.model_id
        verdict = Verdict(
            run_id=record.run_id,
            round=record.round,
            model=record.model,
            attempt=int(payload["attempt"]),
            judge=judge,
            status=record.status,
            judge_model_id=self.model_ids.get(judge, ""),
            text_sha=text_sha(payload["text"]),
            failure_kind=record.failure_kind,
            failure_message=record.failure_message,
            tries=record.attempts,
            latency_s=record.latency_s,
        )
        if record.status == OK and record.text:
            data = json.loads(record.text)
            verdict.label, verdict.confidence = data["label"], data.get("confidence")
            verdict.probs, verdict.method = data.get("probs"), data.get("method") or ""
            verdict.judge_model_id = data.get("model_id") or verdict.judge_model_id
        return verdict

    def put_record(self, record: Record) -> bool:
        replace = bool(payload_of(record.prompt).get("replace"))
        return self.store.put_verdicts([self.verdict(record)], replace=replace) == 1


class AttemptSink(_Sink):
    """Each stored regeneration outcome becomes the cell's next attempt: `numbers` maps a record id to
    (attempt number, the try it started at)."""

    def __init__(self, store: Store, numbers: Mapping[str, tuple[int, int]]):
        super().__init__(store)
        self.numbers = dict(numbers)

    def put_record(self, record: Record) -> bool:
        number, first_try = self.numbers[record.id]
        attempt = Attempt(
            run_id=record.run_id,
            round=record.round,
            model=record.model,
            attempt=number,
            model_id=record.model_id,
            label=record.label,
            status=record.status,
            text=record.text,
            request_body=record.request_body,
            response=record.response,
            latency_s=record.latency_s,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            finish_reason=record.finish_reason,
            failure_kind=record.failure_kind,
            failure_message=record.failure_message,
            tries=max(record.attempts - first_try, 0),
            first_try=first_try,
            note=record.note,
        )
        return self.store.put_attempt(attempt)
