"""The SQLite store's batch side: batch jobs (table `batch_jobs`, schema 5), a page of cells by round, a
job's cells, a run's cost. Mixed into SQLiteStore, sharing its connection, lock and error handling."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .base import OK, SUBMITTED, Record, dumps, loads
from .jobs import BatchJob

_CHUNK = 500  # rows per statement of a `round IN (...)` read (SQLite allows 999 parameters in old builds)


class SQLiteJobs:
    """Batch jobs, a page of cells and a run's cost for SQLiteStore (see Store.put_job, Store.cells)."""

    _db: Any
    _lock: Any
    _writing: Any
    _row: Any
    _record: Any

    def cells(self, run_id: str, model: str, rounds: Iterable[int]) -> dict[int, Record]:
        from .sqlite import _COLUMNS

        wanted = sorted(set(rounds))
        out: dict[int, Record] = {}
        for start in range(0, len(wanted), _CHUNK):
            part = wanted[start : start + _CHUNK]
            sql = (
                f"SELECT {','.join(_COLUMNS)} FROM records WHERE run_id=? AND model=? "
                f"AND round IN ({','.join('?' * len(part))})"
            )
            with self._lock:
                rows = self._db.execute(sql, [run_id, model, *part]).fetchall()
            for row in rows:
                record = self._record(row)
                out[record.round] = record
        return out

    def job_cells(self, run_id: str, model: str, job: str) -> Iterator[Record]:
        from .sqlite import _COLUMNS

        after = -1
        while True:  # keyset pages: the caller may write these very cells while it reads
            sql = (
                f"SELECT {','.join(_COLUMNS)} FROM records WHERE run_id=? AND model=? AND status=? AND batch_job=? "
                "AND round > ? ORDER BY round LIMIT 2000"
            )
            with self._lock:
                rows = self._db.execute(sql, (run_id, model, SUBMITTED, job, after)).fetchall()
            for row in rows:
                yield self._record(row)
            if len(rows) < 2000:
                return
            after = rows[-1][1]

    def run_cost(self, run_id: str) -> tuple[float | None, int]:
        with self._lock:
            total, priced, unknown = self._db.execute(
                "SELECT SUM(cost_usd), COUNT(cost_usd), SUM(status = ? AND cost_usd IS NULL) FROM records "
                "WHERE run_id=?",
                (OK, run_id),
            ).fetchone()
        return (float(total) if priced else None), int(unknown or 0)

    # --- batch jobs ---
    def put_job(self, job: BatchJob) -> None:
        from .base import utc_now

        job.updated_at = utc_now()
        with self._writing():
            self._db.execute(
                "INSERT INTO batch_jobs (run_id, key, model, status, info, created_at) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT (run_id, key) DO UPDATE SET status=excluded.status, info=excluded.info",
                (job.run_id, job.key, job.model, job.status, dumps(job.to_dict()), job.created_at),
            )

    def jobs(self, run_id: str) -> list[BatchJob]:
        with self._lock:
            rows = self._db.execute(
                "SELECT info FROM batch_jobs WHERE run_id=? ORDER BY created_at, key", (run_id,)
            ).fetchall()
        return [BatchJob.from_dict(loads(row[0])) for row in rows]
