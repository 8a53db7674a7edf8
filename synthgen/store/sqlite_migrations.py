"""The SQLite store's schema, as numbered migrations: version N is MIGRATIONS[N - 1], kept in `PRAGMA user_version`.

Opening a store applies the migrations it lacks, in order, in one transaction, and never touches a file that is
not a synthgen store (another program's database, or not SQLite at all) or one written by a newer synthgen.
A migration never changes once released: a new layout is a new migration appended here (and SCHEMA_VERSION in
base.py, with the same step for DynamoDB).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from ..errors import UserError
from .base import SCHEMA_VERSION, too_new

_HEADER = b"SQLite format 3\x00"
TABLES = frozenset({"runs", "records", "cleaned"})

_V1 = (
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        info TEXT NOT NULL,
        status TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS records (
        run_id TEXT NOT NULL,
        round INTEGER NOT NULL,
        model TEXT NOT NULL,
        model_id TEXT NOT NULL,
        status TEXT NOT NULL,
        sentiment TEXT NOT NULL,
        topics TEXT NOT NULL,
        prompt TEXT NOT NULL,
        request_body TEXT,
        text TEXT,
        response TEXT,
        latency_s REAL,
        input_tokens INTEGER,
        output_tokens INTEGER,
        finish_reason TEXT,
        failure_kind TEXT,
        failure_message TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT,
        note TEXT,
        PRIMARY KEY (run_id, round, model)
    )""",
    "CREATE INDEX IF NOT EXISTS records_by_model ON records (model, status)",
    """CREATE TABLE IF NOT EXISTS cleaned (
        record_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        model TEXT NOT NULL,
        text TEXT,
        dropped TEXT NOT NULL,
        reason TEXT NOT NULL,
        method TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS cleaned_by_run ON cleaned (run_id, model)",
)


def _add_column(db: sqlite3.Connection, table: str, column: str, kind: str) -> bool:
    """Add a column unless it is there: synthgen 0.x (schema 1) set user_version back to 1 on every open, so a
    store it opened after an upgrade comes back at "1" with the newer columns already in place."""
    if any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})")):
        return False
    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    return True


def _v1_first_layout(db: sqlite3.Connection) -> None:
    for statement in _V1:
        db.execute(statement)


def _v2_records_gain_label(db: sqlite3.Connection) -> None:
    # `label` is the task-neutral name of what the cell was asked for; until now that was `sentiment`
    _add_column(db, "records", "label", "TEXT")
    db.execute("UPDATE records SET label = sentiment WHERE label IS NULL")


def _v3_runs_gain_a_lease(db: sqlite3.Connection) -> None:
    # one process at a time works on a run: who holds it, and until when (Unix seconds)
    _add_column(db, "runs", "lease_owner", "TEXT")
    _add_column(db, "runs", "lease_expires", "REAL")


def _v4_verdicts(db: sqlite3.Connection) -> None:
    """The verification layers (store/verdicts.py): each judge's verdict on each attempt of a cell (the panel's
    decision is one too), and the answers a cell was asked for again because its earlier one was rejected."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS verdicts (
            run_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            model TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            judge TEXT NOT NULL,
            status TEXT NOT NULL,
            label TEXT,
            confidence REAL,
            probs TEXT,
            judge_model_id TEXT NOT NULL,
            method TEXT NOT NULL,
            text_sha TEXT NOT NULL,
            accepted INTEGER,
            reason TEXT,
            failure_kind TEXT,
            failure_message TEXT,
            tries INTEGER NOT NULL DEFAULT 0,
            latency_s REAL,
            created_at TEXT NOT NULL,
            updated_at TEXT,
            PRIMARY KEY (run_id, round, model, attempt, judge)
        )"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS attempts (
            run_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            model TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            model_id TEXT NOT NULL,
            label TEXT NOT NULL,
            status TEXT NOT NULL,
            text TEXT,
            request_body TEXT,
            response TEXT,
            latency_s REAL,
            input_tokens INTEGER,
            output_tokens INTEGER,
            finish_reason TEXT,
            failure_kind TEXT,
            failure_message TEXT,
            tries INTEGER NOT NULL DEFAULT 0,
            first_try INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT,
            note TEXT,
            PRIMARY KEY (run_id, round, model, attempt)
        )"""
    )


def _v5_batch_jobs(db: sqlite3.Connection) -> None:
    """Provider batch jobs and the cells they carry; what each outcome cost."""
    _add_column(db, "records", "batch_job", "TEXT")  # the job that carries (or carried) the cell
    _add_column(db, "records", "cost_usd", "REAL")  # at the prices the run was planned with; NULL: unknown
    db.execute(
        """CREATE TABLE IF NOT EXISTS batch_jobs (
            run_id TEXT NOT NULL,
            key TEXT NOT NULL,
            model TEXT NOT NULL,
            status TEXT NOT NULL,
            info TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_id, key)
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS records_by_job ON records (run_id, model, batch_job, status)")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _v1_first_layout,
    _v2_records_gain_label,
    _v3_runs_gain_a_lease,
    _v4_verdicts,
    _v5_batch_jobs,
]
assert len(MIGRATIONS) == SCHEMA_VERSION


def check_file(path: Path, url: str) -> None:
    """Refuse a file that is not SQLite before SQLite opens it (an empty or missing file is a new store)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(len(_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UserError(f"--store {url}: cannot read {path} ({exc})") from None
    if header and header != _HEADER:
        raise UserError(f"--store {url}: {path} is not a SQLite database; name a new file for the store")


def version_of(db: sqlite3.Connection, url: str) -> int:
    """The schema version of an opened file, read without writing; UserError for another program's database
    or a store newer than this code."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = {t for t in tables if not t.startswith("sqlite_")}
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if not tables and version == 0:
        return 0  # a new, empty database
    if not TABLES <= tables:
        shown = ", ".join(sorted(tables)[:5]) or "none"
        raise UserError(
            f"--store {url}: this SQLite database is not a synthgen store (its tables: {shown}); "
            "name a new file for the store"
        )
    if version > SCHEMA_VERSION:
        raise too_new(url, version)
    return max(version, 1)  # synthgen stores have always set user_version; 0 with our tables is the first layout


def migrate(db: sqlite3.Connection, url: str) -> None:
    """Apply the missing migrations in one transaction. The version is read again under the write lock: another
    process may have migrated the store since it was first read."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = version_of(db, url)
        for step in MIGRATIONS[version:]:
            step(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
