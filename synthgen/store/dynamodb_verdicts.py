"""The verification layers on DynamoDB: mixed into DynamoDBStore, on its calls and queries.

    verdicts  model = "_verdict#ALIAS"   sk = "RUN_ID#000042#01#JUDGE"   (round, attempt, judge)
    attempts  model = "_attempt#ALIAS"   sk = "RUN_ID#000042#01"         (round, attempt)

A run's verdicts are read with one Query per model of the run (its run item lists them). Writes are conditional
puts: an `ok` item is never replaced, except a verdict written with `replace` (the panel's decisions).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any

from . import dynamodb_codec as codec
from .base import OK, RecordRejected, dumps, loads, utc_now
from .dynamodb_calls import ConditionFailed
from .verdicts import ATTEMPT_JSON, VERDICT_JSON, Attempt, Verdict

VERDICT_PREFIX, ATTEMPT_PREFIX = "_verdict#", "_attempt#"
_RESPONSE_LIMIT = 300_000  # bytes of an attempt's raw response kept in an item (400 KB is DynamoDB's limit)
_INTS = {"round", "attempt", "tries", "first_try", "input_tokens", "output_tokens"}
_FLOATS = {"confidence", "latency_s"}


def _item(obj: Any, partition: str, sk: str, kind: str, json_fields: tuple[str, ...]) -> dict[str, Any]:
    plain: dict[str, Any] = {"model": partition, "sk": sk, "kind": kind, "of_model": obj.model}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is None or f.name == "model":
            continue
        plain[f.name] = dumps(value) if f.name in json_fields else value
    codec._refuse_unstorable(plain, f"{kind} {obj.id}")
    return plain


def _plain(cls: type, plain: dict[str, Any], json_fields: tuple[str, ...]) -> Any:
    known = {f.name for f in fields(cls)}
    data: dict[str, Any] = {"model": plain.get("of_model", "")}
    for name, value in plain.items():
        if name not in known or name == "model":
            continue
        if name in _INTS:
            value = codec._number(value, int)
        elif name in _FLOATS:
            value = codec._number(value, float)
        elif name in json_fields:
            value = loads(value)
        data[name] = value
    return cls(**data)


class DynamoVerdicts:
    """put_verdicts / verdicts / put_attempt / attempts of DynamoDBStore."""

    table: str
    _calls: Any
    _query: Any
    _run_models: Any

    def _put(self, plain: dict[str, Any], guard: bool) -> bool:
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": codec.typed(plain)}
        if guard:
            kwargs.update(
                ConditionExpression="attribute_not_exists(#k) OR #s <> :ok",
                ExpressionAttributeNames={"#k": "sk", "#s": "status"},
                ExpressionAttributeValues={":ok": {"S": OK}},
            )
        try:
            self._calls("put_item", **kwargs)
        except ConditionFailed:
            return False
        return True

    def put_verdicts(self, verdicts: Iterable[Verdict], *, replace: bool = False) -> int:
        items = []
        for verdict in verdicts:  # all encoded before anything is written
            verdict.updated_at = utc_now()
            sk = f"{verdict.run_id}#{verdict.round:06d}#{verdict.attempt:02d}#{verdict.judge}"
            items.append(_item(verdict, VERDICT_PREFIX + verdict.model, sk, "verdict", VERDICT_JSON))
        return sum(self._put(item, guard=not replace) for item in items)

    def put_attempt(self, attempt: Attempt) -> bool:
        attempt.updated_at = utc_now()
        sk = f"{attempt.run_id}#{attempt.round:06d}#{attempt.attempt:02d}"
        plain = _item(attempt, ATTEMPT_PREFIX + attempt.model, sk, "attempt", ATTEMPT_JSON)
        if len(plain.get("response", "")) > _RESPONSE_LIMIT:
            plain.pop("response")
            plain["note"] = "; ".join(filter(None, [plain.get("note"), "raw response left out: over 300 KB"]))
        try:
            return self._put(plain, guard=True)
        except RecordRejected as exc:
            raise RecordRejected(f"attempt {attempt.id} cannot be stored: {exc}") from None

    def _layer(self, prefix: str, run_id: str, model: str | None) -> list[dict[str, Any]]:
        models = [model] if model is not None else (self._run_models(run_id) or [])
        return [plain for m in models for plain in self._query(prefix + m, run_id)]

    def verdicts(self, run_id: str, model: str | None = None) -> list[Verdict]:
        found = [_plain(Verdict, p, VERDICT_JSON) for p in self._layer(VERDICT_PREFIX, run_id, model)]
        return sorted(found, key=lambda v: (v.round, v.model, v.attempt, v.judge))

    def attempts(self, run_id: str, model: str | None = None) -> list[Attempt]:
        found = [_plain(Attempt, p, ATTEMPT_JSON) for p in self._layer(ATTEMPT_PREFIX, run_id, model)]
        return sorted(found, key=lambda a: (a.round, a.model, a.attempt))
