"""Stores behind one interface, opened by URL: sqlite:///path (default ./synthgen.db) or dynamodb://TABLE."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import UserError
from .base import (
    FAILED,
    OK,
    PLANNED,
    SCHEMA_VERSION,
    SKIPPED,
    STATUSES,
    SUBMITTED,
    CleanedText,
    ModelPlan,
    Record,
    RecordRejected,
    RunCounts,
    RunExists,
    RunInfo,
    Store,
    StoreRequestError,
    StoreUnavailable,
    UnknownRun,
    record_id,
    utc_now,
)
from .jobs import BatchJob

__all__ = [
    "Store",
    "StoreUnavailable",
    "RecordRejected",
    "StoreRequestError",
    "RunExists",
    "UnknownRun",
    "SCHEMA_VERSION",
    "Record",
    "RunInfo",
    "CleanedText",
    "ModelPlan",
    "RunCounts",
    "BatchJob",
    "open_store",
    "record_id",
    "utc_now",
    "reading",
    "PLANNED",
    "OK",
    "FAILED",
    "SKIPPED",
    "SUBMITTED",
    "STATUSES",
    "DEFAULT_STORE",
]

DEFAULT_STORE = "sqlite:///synthgen.db"


def open_store(url: str | None = None, *, create: bool = True) -> Store:
    """Open a store by URL. `create=False` refuses to make a new, empty SQLite file (for read-only commands)."""
    url = url or os.environ.get("SYNTHGEN_STORE") or DEFAULT_STORE
    if url.startswith("sqlite://"):
        from .sqlite import SQLiteStore

        return SQLiteStore.from_url(url, create=create)
    if url.startswith("dynamodb://"):
        from .dynamodb import DynamoDBStore

        return DynamoDBStore.from_url(url, create=create)
    raise UserError(f"--store {url}: unknown scheme; use sqlite:///path/synthgen.db or dynamodb://TABLE")


@contextmanager
def reading(store: str | Store | None) -> Iterator[Store]:
    """The store to read from: opened from a URL (never creating one) and closed after, or a caller's open store,
    left open for the caller."""
    if isinstance(store, Store):
        yield store
        return
    handle = open_store(store, create=False)
    try:
        yield handle
    finally:
        handle.close()
