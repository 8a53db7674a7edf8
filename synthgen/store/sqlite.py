"""The embedded default store: one SQLite file in WAL mode, every outcome committed before it is counted."""

from __future__ import annotations

import operator
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import UserError
from .base import (
    OK,
    CleanedText,
    Record,
    RecordRejected,
    RunExists,
    RunInfo,
    Store,
    StoreUnavailable,
    UnknownRun,
    check_lease,
    dumps,
    loads,
    utc_now,
)
from .sqlite_jobs import SQLiteJobs
from .sqlite_migrations import SCHEMA_VERSION, check_file, migrate, version_of
from .sqlite_verdicts import SQLiteVerdicts

__all__ = ["SQLiteStore", "SCHEMA_VERSION"]

_COLUMNS = (
    "run_id",
    "round",
    "model",
    "model_id",
    "status",
    "sentiment",
    "topics",
    "prompt",
    "request_body",
    "text",
    "response",
    "latency_s",
    "input_tokens",
    "output_tokens",
    "finish_reason",
    "failure_kind",
    "failure_message",
    "attempts",
    "created_at",
    "updated_at",
    "note",
    "label",
    "batch_job",
    "cost_usd",
)
_JSON_COLUMNS = {"topics", "request_body", "response"}
_FIELDS = operator.attrgetter(*_COLUMNS)  # `sentiment` reads as the label (labels.sentiment_alias)
_JSON_AT = tuple(i for i, c in enumerate(_COLUMNS) if c in _JSON_COLUMNS)

_UPSERT = (
    f"INSERT INTO records ({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (run_id, round, model) DO UPDATE SET "
    + ",".join(f"{c}=excluded.{c}" for c in _COLUMNS if c not in ("run_id", "round", "model", "created_at"))
    + f" WHERE records.status != '{OK}'"
)


def _locked(exc: sqlite3.Error) -> bool:
    """Another connection holds the lock (SQLITE_BUSY / SQLITE_LOCKED, extended codes included)."""
    code = getattr(exc, "sqlite_errorcode", None)  # unset on errors the sqlite3 module raises itself
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SQLiteStore(SQLiteJobs, SQLiteVerdicts, Store):
    groups_writes = True  # put_records commits several outcomes at once
    # Seconds a write waits for another process's write to finish (SQLite's busy timeout) before it gives up.
    busy_timeout = 30.0

    def __init__(self, path: Path, *, create: bool = True):
        self.path = path
        self.url = f"sqlite:///{path}"
        self._wall = time.time  # lease expiry: wall-clock seconds, shared with other processes
        if not create and not path.exists():
            raise UserError(f"--store {self.url}: no such database; run `synthgen generate` first or name another")
        check_file(path, self.url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=self.busy_timeout
            )
            # text that is not UTF-8 (written by another tool) reads back with U+FFFD instead of failing the read
            self._db.text_factory = lambda raw: raw.decode("utf-8", "replace")
            try:
                version = version_of(self._db, self.url)  # reads only: a foreign or newer file is left as it is
            except UserError:
                self._db.close()
                raise
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a process crash
            if version < SCHEMA_VERSION:  # an up-to-date store is opened without a write (a read-only file works)
                migrate(self._db, self.url)
        except (sqlite3.Error, OSError) as exc:
            if isinstance(exc, sqlite3.Error) and _locked(exc):
                raise UserError(
                    f"--store {self.url}: {self._held()}; let it finish or stop it, then try again"
                ) from None
            raise UserError(f"--store {self.url}: cannot open the database ({exc})") from None
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, create: bool = True) -> SQLiteStore:
        # sqlite:///relative.db and sqlite:////absolute/path.db, as SQLAlchemy spells them
        rest = url[len("sqlite://") :]
        if not rest.startswith("/") or rest == "/":
            raise UserError(f"--store {url}: write sqlite:///path/to/synthgen.db")
        return cls(Path(rest[1:] or "synthgen.db"), create=create)

    # --- runs ---
    def create_run(self, run: RunInfo, cells: Iterable[Record]) -> None:
        rows = (self._row(c) for c in cells)  # streamed into the one transaction: a large plan is never held whole
        placeholders = ",".join("?" * len(_COLUMNS))
        with self._writing(transaction=True), _rejecting(f"run {run.run_id}"):
            try:
                self._db.execute(
                    "INSERT INTO runs (run_id, created_at, info, status) VALUES (?,?,?,?)",
                    (run.run_id, run.created_at, dumps(run.to_dict()), run.status),
                )
            except sqlite3.IntegrityError:
                raise RunExists(f"run {run.run_id} already exists in {self.url}") from None
            self._db.executemany(f"INSERT OR IGNORE INTO records ({','.join(_COLUMNS)}) VALUES ({placeholders})", rows)

    def get_run(self, run_id: str) -> RunInfo | None:
        row = self._db.execute("SELECT info, status FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return self._run(row) if row else None

    def list_runs(self) -> list[RunInfo]:
        rows = self._db.execute("SELECT info, status FROM runs ORDER BY created_at, run_id").fetchall()
        return [self._run(r) for r in rows]

    def set_run_status(self, run_id: str, status: str) -> None:
        with self._writing():
            self._db.execute("UPDATE runs SET status=? WHERE run_id=?", (status, run_id))

    def _run(self, row: tuple[str, str]) -> RunInfo:
        info = RunInfo.from_dict(loads(row[0]))
        info.status = row[1]
        info.store_url = self.url  # where it was read from: a copied database names its new place
        return info

    # --- leases ---
    def claim_run(self, run_id: str, owner: str, ttl_s: float) -> bool:
        check_lease(ttl_s)
        now = self._wall()
        return self._lease(
            run_id, owner, now + ttl_s, "lease_owner IS NULL OR lease_expires < ? OR lease_owner = ?", (now, owner)
        )

    def renew_run(self, run_id: str, owner: str, ttl_s: float) -> bool:
        check_lease(ttl_s)
        return self._lease(run_id, owner, self._wall() + ttl_s, "lease_owner = ?", (owner,))

    def release_run(self, run_id: str, owner: str) -> None:
        with self._writing():
            self._db.execute(
                "UPDATE runs SET lease_owner=NULL, lease_expires=NULL WHERE run_id=? AND lease_owner=?", (run_id, owner)
            )

    def lease_holder(self, run_id: str) -> tuple[str, float] | None:
        row = self._db.execute("SELECT lease_owner, lease_expires FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return (row[0], float(row[1] or 0)) if row and row[0] is not None else None

    def _lease(self, run_id: str, owner: str, expires: float, free: str, args: tuple[Any, ...]) -> bool:
        """Set the lease where `free` holds, in one write transaction: the check and the write see one state."""
        with self._writing(transaction=True):
            taken = (
                self._db.execute(
                    f"UPDATE runs SET lease_owner=?, lease_expires=? WHERE run_id=? AND ({free})",
                    (owner, expires, run_id, *args),
                ).rowcount
                == 1
            )
            if not taken and self._db.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone() is None:
                raise UnknownRun(f"run {run_id} is not in {self.url}")
        return taken

    def _held(self) -> str:
        return f"database is locked: another process holds it (still busy after {self.busy_timeout:g} s)"

    @contextmanager
    def _writing(self, transaction: bool = False) -> Iterator[None]:
        """One write under the lock; a database that cannot take it (disk full, read-only, I/O error, or locked
        by another process for longer than the busy timeout) is StoreUnavailable, a one-line stop, instead of a
        traceback per writer."""
        with self._lock:
            try:
                if transaction:
                    self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    if transaction:
                        self._db.execute("COMMIT")
                except BaseException:
                    if transaction and self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.IntegrityError:
                raise  # a caller's mistake, not the database's state
            except sqlite3.DatabaseError as exc:
                if _locked(exc):  # a short wait was waited out (busy_timeout): this one was not short
                    raise StoreUnavailable(f"store {self.url}: {self._held()}") from None
                raise StoreUnavailable(
                    f"store {self.url} cannot be written ({exc}; free disk space or make the database writable)"
                ) from None

    # --- records ---
    def put_record(self, record: Record) -> bool:
        result = self.put_records([record])[0]
        if isinstance(result, RecordRejected):
            raise result
        return result

    def put_records(self, records: Sequence[Record]) -> list[bool | RecordRejected]:
        """Several outcomes in one transaction (one commit: what the engine's writer groups). A record SQLite
        cannot bind is rejected alone (binding fails before the statement runs, so the others stand)."""
        now = utc_now()
        results: list[bool | RecordRejected] = []
        with self._writing(transaction=True):
            for record in records:
                record.updated_at = now
                try:
                    with _rejecting(f"record {record.id}"):
                        cursor = self._db.execute(_UPSERT, self._row(record))
                    results.append(cursor.rowcount == 1)
                except RecordRejected as exc:
                    results.append(exc)
        return results

    # Rows read per query: a read never holds the connection for a whole run's records (a writer thread shares
    # it) and memory stays flat however large the run.
    page_size = 2000

    def records(
        self, run_id: str | None = None, model: str | None = None, status: str | None = None
    ) -> Iterator[Record]:
        where, args = [], []
        for column, value in (("run_id", run_id), ("model", model), ("status", status)):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        # keyset pagination in (run_id, round, model) order, the primary key's: each page starts where the last
        # ended, found in the key's index (with run_id=? the row value must leave run_id out, or SQLite scans the
        # run's keys from the start for every page, and reading a run is quadratic in its size)
        seek = "(round, model) > (?, ?)" if run_id is not None else "(run_id, round, model) > (?, ?, ?)"
        after: tuple[Any, ...] = ()
        while True:
            clauses = [*where, seek] if after else where
            sql = f"SELECT {','.join(_COLUMNS)} FROM records"
            if clauses:
                sql += " WHERE " + " AND ".join(clauses)
            sql += f" ORDER BY run_id, round, model LIMIT {self.page_size}"
            with self._lock:
                rows = self._db.execute(sql, [*args, *(after[1:] if run_id is not None else after)]).fetchall()
            for row in rows:
                yield self._record(row)
            if len(rows) < self.page_size:
                return
            after = rows[-1][:3]

    def counts(self, run_id: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        rows = self._db.execute(
            "SELECT model, status, COUNT(*) FROM records WHERE run_id=? GROUP BY model, status", (run_id,)
        )
        for model, status, n in rows:
            out.setdefault(model, {})[status] = n
        return out

    @staticmethod
    def _row(record: Record) -> list[Any]:
        row = list(_FIELDS(record))  # Record.columns(), without building a dict per row
        for i in _JSON_AT:
            if row[i] is not None:
                row[i] = dumps(row[i])
        return row

    @staticmethod
    def _record(row: tuple[Any, ...]) -> Record:
        data = dict(zip(_COLUMNS, row, strict=True))
        for column in _JSON_COLUMNS:
            if data[column] is not None:
                data[column] = loads(data[column])
        # `label` is the field from schema 2 on; a row written by older code has only `sentiment`
        data["label"] = data["label"] or data.pop("sentiment")
        data.pop("sentiment", None)
        return Record(**data)

    # --- cleaned layer ---
    def put_cleaned(self, items: Iterable[CleanedText]) -> None:
        rows = [
            (c.record_id, c.run_id, c.model, c.text, dumps(c.dropped), c.reason, c.method, c.created_at) for c in items
        ]
        with self._writing(transaction=True), _rejecting("a cleaned text"):
            self._db.executemany("INSERT OR REPLACE INTO cleaned VALUES (?,?,?,?,?,?,?,?)", rows)

    def cleaned(self, run_id: str, model: str | None = None) -> dict[str, CleanedText]:
        sql = "SELECT record_id, run_id, model, text, dropped, reason, method, created_at FROM cleaned WHERE run_id=?"
        args: list[Any] = [run_id]
        if model is not None:
            sql += " AND model=?"
            args.append(model)
        out = {}
        for row in self._db.execute(sql, args):
            dropped = loads(row[4])
            item = CleanedText(
                row[0],
                row[1],
                row[2],
                row[3],
                dropped if isinstance(dropped, list) else [dropped],
                row[5],
                row[6],
                row[7],
            )
            out[item.record_id] = item
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()


@contextmanager
def _rejecting(what: str) -> Iterator[None]:
    """SQLite cannot take this value (nothing was written): a string that is not UTF-8 (a lone surrogate), or
    an integer outside 64 bits. The data's fault, not the database's: RecordRejected, the store goes on."""
    try:
        yield
    except UnicodeEncodeError as exc:
        raise RecordRejected(
            f"{what} cannot be stored: it holds text that is not valid UTF-8 "
            f"({exc.reason}: {exc.object[exc.start : exc.end]!r})"
        ) from None
    except OverflowError:
        raise RecordRejected(f"{what} cannot be stored: it holds an integer outside SQLite's 64 bits") from None
