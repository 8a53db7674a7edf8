"""`generate --verify`: generate a run, then judge every answer and ask again, with a new seed, wherever the
judges reject it, up to `max_regenerations` times. Each cell's label is fixed by the plan, so the run stays as
balanced as it was planned: a cell keeps its first accepted answer, and one that never passes keeps all its
attempts, each with its verdicts, and is stored as failed verification (its last attempt's panel says so)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..catalog import load_catalog
from ..engine import Event
from ..generation import RunSummary, generate
from ..store import Store, open_store
from .run import VerifyResult, verify_stored_run
from .settings import DEFAULT_REGENERATIONS, VerifySettings, resolve_judges


def generate_verified(
    *,
    judges: Iterable[str] | None = None,
    aggregate: str = "vote",
    min_confidence: float = 0.0,
    max_regenerations: int = DEFAULT_REGENERATIONS,
    self_judge: bool = False,
    on_verify_event: Callable[[Event], None] | None = None,
    on_generated: Callable[[RunSummary], None] | None = None,
    **generate_kwargs: Any,
) -> VerifyResult:
    """`synthgen.generate(...)`'s arguments, plus how to verify; returns the verification, whose `generation` is
    the generation's summary. Everything is checked before anything is written, the judges included."""
    settings = VerifySettings(tuple(judges or ()), aggregate, min_confidence, max_regenerations, self_judge)
    settings.check()
    catalog_dir = generate_kwargs.get("catalog_dir")
    if settings.judges:
        resolve_judges(load_catalog(catalog_dir), settings.judges)
    summary = generate(**generate_kwargs)
    if on_generated is not None:
        on_generated(summary)
    if summary.interrupted:
        return VerifyResult(summary.run, settings, settings.judges, {}, interrupted=True, generation=summary)
    store = generate_kwargs.get("store")
    handle = store if isinstance(store, Store) else open_store(store, create=False)
    options = {k: generate_kwargs[k] for k in ("concurrency", "max_attempts", "timeout") if k in generate_kwargs}
    try:
        result = verify_stored_run(
            handle,
            summary.run,
            settings,
            regenerate=max_regenerations > 0,
            catalog_dir=catalog_dir,
            options={**options, "on_event": on_verify_event},
        )
    finally:
        if handle is not store:
            handle.close()
    result.generation = summary
    return result
