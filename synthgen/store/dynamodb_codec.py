"""Records, runs and cleaned texts <-> DynamoDB items: pure functions, no calls.

Items are built as plain values (`plain`: str, int, float, bytes, bool, set, list) and typed for the wire by
`typed`. `topics`, `request_body` and `response` are stored as JSON text (exact round trip, no 32-level nesting
limit, no float/Decimal ambiguity); `latency_s` and the counts are Numbers (floats go through Decimal). An item
that would pass the 400 KB limit has its raw response zlib-compressed into a Binary attribute, then trimmed if
still too big, then other long fields compressed; the note saying so is returned with the item, and the answer
text is always kept.

What DynamoDB could hold but SQLite could not (a lone surrogate, an integer past 64 bits) is refused here too,
with RecordRejected: the two stores keep one contract. Reading never fails on what a table holds: text that is
not UTF-8 comes back with U+FFFD, JSON that does not parse comes back as its text.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from .base import CleanedText, Record, RecordRejected, RunInfo, dumps, loads

ITEM_LIMIT = 400 * 1024
ITEM_BUDGET = ITEM_LIMIT - 4096  # our size estimate is close but not DynamoDB's exact arithmetic
RUN_PARTITION = "_run"
CLEAN_PREFIX = "_clean#"
META_PARTITION, META_KEY = "_meta", "schema"  # the table's schema version: {model: _meta, sk: schema, version: N}
SIZE_NOTE = "to fit DynamoDB's 400 KB item limit"
_INTACT = "the answer text is intact"
_INT64 = (-(2**63), 2**63 - 1)  # SQLite's INTEGER: the limit both stores keep
_MAX_NUMBER, _MIN_NUMBER = Decimal("9.9999999999999999999999999999999999999E+125"), Decimal("1E-130")

# Record fields by how they are stored
_STR = (
    "model_id",
    "status",
    "sentiment",
    "label",
    "prompt",
    "text",
    "finish_reason",
    "failure_kind",
    "failure_message",
    "created_at",
    "updated_at",
    "note",
    "batch_job",
)
_INT = ("round", "input_tokens", "output_tokens", "attempts")
_JSON = ("topics", "request_body", "response")
_SQUEEZE = ("request_body", "text", "prompt", "failure_message")  # compressed (losslessly) when still too big
# every attribute a record item can have: a rewrite removes those it no longer has
RECORD_ATTRS = (
    ("run_id", "kind", "latency_s", "response_trimmed", "cost_usd")
    + _STR
    + _INT
    + _JSON
    + tuple(f"{f}_z" for f in ("response",) + _SQUEEZE)
)


# --- attribute values: plain Python <-> DynamoDB's typed JSON ---
def av(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": str(Decimal(repr(value)))}  # the shortest repr round-trips exactly through Decimal
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, (set, frozenset)):
        return {"SS": sorted(value)}
    if isinstance(value, list):
        return {"L": [av(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def _py(value: dict[str, Any]) -> Any:
    ((kind, inner),) = value.items()
    if kind == "S":
        return _text(inner)
    if kind in ("N", "B", "BOOL"):
        return inner  # numbers stay strings here; the field decides int or float
    if kind == "L":
        return [_py(v) for v in inner]
    if kind == "SS":
        return {_text(v) for v in inner}
    if kind in ("NS", "BS"):
        return set(inner)
    if kind == "M":
        return {k: _py(v) for k, v in inner.items()}
    return None  # NULL


def typed(plain: dict[str, Any]) -> dict[str, Any]:
    return {k: av(v) for k, v in plain.items()}


def plain_of(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _py(v) for k, v in item.items()}


def _text(value: str) -> str:
    """A string as read: lone surrogates (DynamoDB stores what it is sent) become U+FFFD, so nothing downstream
    that encodes the text (a terminal, a JSON line, SQLite) fails on it; a valid pair is joined."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


# --- what may be stored ---
def _refuse_unstorable(plain: dict[str, Any], what: str) -> None:
    """RecordRejected for a value neither store can hold as it is; called on every item before it is sent."""
    for name, value in plain.items():
        for text in value if isinstance(value, (list, set)) else [value]:
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise RecordRejected(
                        f"{what} cannot be stored: its {name} holds text that is not valid UTF-8 "
                        f"({exc.reason}: {exc.object[exc.start : exc.end]!r})"
                    ) from None
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
            raise RecordRejected(f"{what} cannot be stored: its {name} ({value}) is an integer outside 64 bits")
        if isinstance(value, float) and value and not _MIN_NUMBER <= abs(Decimal(repr(value))) <= _MAX_NUMBER:
            raise RecordRejected(f"{what} cannot be stored: its {name} ({value!r}) is outside DynamoDB's numbers")


def _size(plain: dict[str, Any]) -> int:
    """An upper estimate of DynamoDB's item size: names plus values in UTF-8, binary values as base64."""
    total = 0
    for name, value in plain.items():
        total += len(name)
        if isinstance(value, str):
            total += len(_utf8(value))
        elif isinstance(value, bytes):
            total += (len(value) + 2) // 3 * 4  # as base64: what moto counts (AWS counts raw bytes: a margin)
        elif isinstance(value, bool):
            total += 1
        elif isinstance(value, (int, float)):
            total += 21
        else:  # list / set of strings
            total += 3 + sum(1 + len(_utf8(v)) for v in value)
    return total


def _trim(raw: bytes, room: int) -> tuple[int, bytes]:
    """The longest prefix of `raw` (cut at a UTF-8 boundary) whose zlib form fits in `room` bytes."""

    def cut(n: int) -> int:
        while 0 < n < len(raw) and raw[n] & 0xC0 == 0x80:
            n -= 1
        return n

    lo, hi = 0, len(raw)
    best = zlib.compress(b"")
    while lo < hi:
        mid = cut((lo + hi + 1) // 2)
        if mid <= lo:
            break
        packed = zlib.compress(raw[:mid])
        if len(packed) <= room:
            lo, best = mid, packed
        else:
            hi = mid - 1
    return lo, best


# --- records ---
def record_item(record: Record) -> tuple[dict[str, Any], str | None]:
    """The item for a record, made to fit the item limit, and the record's note as stored: the caller's own note
    plus what was squeezed (an older squeeze note is dropped: this write says what this item holds)."""
    data = record.columns()
    plain: dict[str, Any] = {
        "model": record.model,
        "sk": f"{record.run_id}#{record.round:06d}",
        "kind": "record",
        "run_id": record.run_id,
    }
    notes = [n for n in (record.note or "").split("; ") if n and SIZE_NOTE not in n and n != _INTACT]
    for name in _STR:
        if data[name] is not None and name != "note":
            plain[name] = data[name]
    for name in _INT:
        if data[name] is not None:
            plain[name] = int(data[name])
    if record.latency_s is not None and math.isfinite(record.latency_s):
        plain["latency_s"] = float(record.latency_s)
    if record.cost_usd is not None and math.isfinite(record.cost_usd):
        plain["cost_usd"] = float(record.cost_usd)
    for name in _JSON:
        if data[name] is not None:
            plain[name] = dumps(data[name])
    if notes:
        plain["note"] = "; ".join(notes)
    _refuse_unstorable(plain, f"record {record.id}")
    if _size(plain) <= ITEM_BUDGET:
        return plain, plain.get("note")

    squeezed = []
    if "response" in plain:
        raw = _utf8(plain.pop("response"))
        packed = zlib.compress(raw)
        plain["response_z"] = packed
        if _size(plain) <= ITEM_BUDGET:
            squeezed.append(f"raw response stored zlib-compressed ({len(raw):,} -> {len(packed):,} bytes)")
        else:
            room = ITEM_BUDGET - (_size(plain) - _size({"": packed})) - len("response_trimmed") - 1 - 400
            kept, packed = _trim(raw, max(room, 0) * 3 // 4)
            plain["response_z"], plain["response_trimmed"] = packed, True
            squeezed.append(
                f"raw response trimmed: kept the first {kept:,} of {len(raw):,} bytes of its JSON (zlib-compressed)"
            )
    for name in _SQUEEZE:
        if _size(plain) <= ITEM_BUDGET:
            break
        if name in plain:
            plain[f"{name}_z"] = zlib.compress(_utf8(plain.pop(name)))
            squeezed.append(f"{name} stored zlib-compressed")
    if _size(plain) > ITEM_BUDGET:
        raise RecordRejected(
            f"record {record.id} does not fit DynamoDB's 400 KB item limit even compressed ({_size(plain):,} bytes)"
        )
    notes.append(", ".join(squeezed) + f" {SIZE_NOTE}; {_INTACT}")
    plain["note"] = "; ".join(notes)
    return plain, plain["note"]


def _unpack(plain: dict[str, Any], name: str) -> str | None:
    if name in plain:
        return plain[name]
    packed = plain.get(f"{name}_z")
    if packed is None:
        return None
    try:
        raw = zlib.decompress(bytes(packed))
    except zlib.error:
        return None  # damaged: read as absent rather than fail the whole read
    try:
        return _text(raw.decode("utf-8", "surrogatepass"))  # surrogatepass: items packed before schema 2 may hold them
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


def _number(value: Any, kind: type) -> Any:
    try:
        return kind(Decimal(value))
    except (ArithmeticError, ValueError, TypeError):
        return None


def record_of(plain: dict[str, Any]) -> Record:
    data: dict[str, Any] = {"run_id": plain.get("run_id", ""), "model": plain.get("model", "")}
    for name in _STR:
        data[name] = _unpack(plain, name)
    for name in _INT:
        if plain.get(name) is not None:
            data[name] = _number(plain[name], int)
    data["latency_s"] = _number(plain["latency_s"], float) if plain.get("latency_s") is not None else None
    data["cost_usd"] = _number(plain["cost_usd"], float) if plain.get("cost_usd") is not None else None
    for name in _JSON:
        text = _unpack(plain, name)
        if name == "response" and plain.get("response_trimmed"):
            data[name] = text  # the kept prefix of the JSON text; `note` says so
        else:
            data[name] = loads(text) if text is not None else None
    # `label` from schema 2 on; an item written by older code has only `sentiment`
    data["label"] = data["label"] or data.pop("sentiment") or ""
    data.pop("sentiment", None)
    data["attempts"], data["round"] = data.get("attempts") or 0, data.get("round") or 0
    for name in ("model_id", "prompt", "status", "created_at"):
        data[name] = data[name] or ""
    return Record(**data)


# --- runs ---
def run_item(run: RunInfo, cell_models: Iterable[str] = ()) -> dict[str, Any]:
    plain: dict[str, Any] = {
        "model": RUN_PARTITION,
        "sk": run.run_id,
        "kind": "run",
        "run_id": run.run_id,
        "created_at": run.created_at,
        "seed": int(run.seed),
        "rounds": int(run.rounds),
        "models": list(run.models),
        "template": run.template,
        "template_text": run.template_text,
        "topics_source": run.topics_source,
        "params": dumps(run.params),
        "status": run.status,
        "store_url": run.store_url,
        "model_plans": dumps(run.model_plans),
    }
    if run.task:
        plain["task"] = dumps(run.task)
    if run.batch:
        plain["batch"] = dumps(run.batch)
    models = set(run.models) | set(cell_models)
    if models:
        plain["cell_models"] = models
    _refuse_unstorable(plain, f"run {run.run_id}")
    return plain


def run_of(plain: dict[str, Any], store_url: str) -> RunInfo:
    """The run as read from the store at `store_url` (not the URL it was created at: it may have moved)."""
    return RunInfo(
        run_id=plain["run_id"],
        created_at=plain.get("created_at", ""),
        seed=_number(plain.get("seed"), int) or 0,
        rounds=_number(plain.get("rounds"), int) or 0,
        models=list(plain.get("models") or []),
        template=plain.get("template", ""),
        template_text=plain.get("template_text", ""),
        topics_source=plain.get("topics_source", ""),
        params=loads(plain.get("params") or "{}"),
        status=plain.get("status", ""),
        store_url=store_url,
        model_plans=loads(plain.get("model_plans") or "{}"),
        task=loads(plain.get("task") or "{}"),
        batch=loads(plain.get("batch") or "{}"),
    )


# --- cleaned texts ---
def _clean_sk(item: CleanedText) -> str:
    prefix, suffix = f"{item.run_id}/", f"/{item.model}"
    rid = item.record_id
    if rid.startswith(prefix) and rid.endswith(suffix) and rid[len(prefix) : len(rid) - len(suffix)].isdigit():
        return f"{item.run_id}#{int(rid[len(prefix) : len(rid) - len(suffix)]):06d}"
    return f"{item.run_id}#~{rid}"


def cleaned_item(item: CleanedText) -> dict[str, Any]:
    plain: dict[str, Any] = {
        "model": CLEAN_PREFIX + item.model,
        "sk": _clean_sk(item),
        "kind": "cleaned",
        "record_id": item.record_id,
        "run_id": item.run_id,
        "cleaned_model": item.model,
        "dropped": dumps(item.dropped),
        "reason": item.reason,
        "method": item.method,
        "created_at": item.created_at,
    }
    if item.text is not None:
        plain["text"] = item.text
    _refuse_unstorable(plain, f"cleaned text of {item.record_id}")
    return plain


def cleaned_of(plain: dict[str, Any]) -> CleanedText:
    dropped = loads(plain.get("dropped") or "[]")
    return CleanedText(
        record_id=plain["record_id"],
        run_id=plain.get("run_id", ""),
        model=plain.get("cleaned_model", ""),
        text=plain.get("text"),
        dropped=dropped if isinstance(dropped, list) else [dropped],
        reason=plain.get("reason", ""),
        method=plain.get("method", ""),
        created_at=plain.get("created_at", ""),
    )
