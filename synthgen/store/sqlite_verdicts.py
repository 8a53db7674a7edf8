"""The verification layers in SQLite (tables `verdicts` and `attempts`, schema 4): mixed into SQLiteStore."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any

from .base import OK, dumps, loads, utc_now
from .verdicts import ATTEMPT_JSON, VERDICT_JSON, Attempt, Verdict

_VERDICT_COLUMNS = tuple(f.name for f in fields(Verdict))
_ATTEMPT_COLUMNS = tuple(f.name for f in fields(Attempt))
_VERDICT_KEY = ("run_id", "round", "model", "attempt", "judge")
_ATTEMPT_KEY = ("run_id", "round", "model", "attempt")


def _upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...], guard: bool) -> str:
    keep = (*key, "created_at")
    sql = (
        f"INSERT INTO {table} ({','.join(columns)}) VALUES ({','.join('?' * len(columns))}) "
        f"ON CONFLICT ({','.join(key)}) DO UPDATE SET "
        + ",".join(f"{c}=excluded.{c}" for c in columns if c not in keep)
    )
    return sql + (f" WHERE {table}.status != '{OK}'" if guard else "")


_PUT_VERDICT = _upsert("verdicts", _VERDICT_COLUMNS, _VERDICT_KEY, guard=True)
_REPLACE_VERDICT = _upsert("verdicts", _VERDICT_COLUMNS, _VERDICT_KEY, guard=False)
_PUT_ATTEMPT = _upsert("attempts", _ATTEMPT_COLUMNS, _ATTEMPT_KEY, guard=True)


def _row(item: Any, columns: tuple[str, ...], json_columns: tuple[str, ...]) -> tuple[Any, ...]:
    data = item.__dict__
    out = []
    for column in columns:
        value = data[column]
        if column in json_columns and value is not None:
            value = dumps(value)
        elif isinstance(value, bool):
            value = int(value)
        out.append(value)
    return tuple(out)


def _item(cls: type, row: tuple[Any, ...], columns: tuple[str, ...], json_columns: tuple[str, ...]) -> Any:
    data = dict(zip(columns, row, strict=True))
    for column in json_columns:
        if data[column] is not None:
            data[column] = loads(data[column])
    if "accepted" in data and data["accepted"] is not None:
        data["accepted"] = bool(data["accepted"])
    return cls(**data)


class SQLiteVerdicts:
    """put_verdicts / verdicts / put_attempt / attempts of SQLiteStore, on its connection and write lock."""

    _db: Any
    _lock: Any
    _writing: Any  # SQLiteStore's: one write under the lock, a dead database as StoreUnavailable

    def put_verdicts(self, verdicts: Iterable[Verdict], *, replace: bool = False) -> int:
        from .sqlite import _rejecting

        items = list(verdicts)
        now = utc_now()
        written = 0
        sql = _REPLACE_VERDICT if replace else _PUT_VERDICT
        with self._writing(transaction=True), _rejecting("a verdict"):
            for verdict in items:
                verdict.updated_at = now
                written += self._db.execute(sql, _row(verdict, _VERDICT_COLUMNS, VERDICT_JSON)).rowcount == 1
        return written

    def verdicts(self, run_id: str, model: str | None = None) -> list[Verdict]:
        sql = f"SELECT {','.join(_VERDICT_COLUMNS)} FROM verdicts WHERE run_id=?"
        args: list[Any] = [run_id]
        if model is not None:
            sql += " AND model=?"
            args.append(model)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY round, model, attempt, judge", args).fetchall()
        return [_item(Verdict, row, _VERDICT_COLUMNS, VERDICT_JSON) for row in rows]

    def put_attempt(self, attempt: Attempt) -> bool:
        from .sqlite import _rejecting

        attempt.updated_at = utc_now()
        with self._writing(), _rejecting(f"attempt {attempt.id}"):
            cursor = self._db.execute(_PUT_ATTEMPT, _row(attempt, _ATTEMPT_COLUMNS, ATTEMPT_JSON))
        return cursor.rowcount == 1

    def attempts(self, run_id: str, model: str | None = None) -> list[Attempt]:
        sql = f"SELECT {','.join(_ATTEMPT_COLUMNS)} FROM attempts WHERE run_id=?"
        args: list[Any] = [run_id]
        if model is not None:
            sql += " AND model=?"
            args.append(model)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY round, model, attempt", args).fetchall()
        return [_item(Attempt, row, _ATTEMPT_COLUMNS, ATTEMPT_JSON) for row in rows]
