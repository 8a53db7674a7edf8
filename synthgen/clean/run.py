"""Store mode: clean one model's successful answers of a run and write the cleaned layer back to the store."""

from __future__ import annotations

from dataclasses import dataclass

from ..embed import DEFAULT_EMBEDDER
from ..errors import UserError
from ..store import OK, CleanedText, Store, open_store, reading
from .pipeline import default_cleaner
from .result import CleanResult
from .split import Answer


@dataclass
class RunCleaning:
    """What `clean_run` did: which run and model, where the cleaned layer went, and the cleaner's result."""

    run_id: str
    model: str
    store_url: str
    result: CleanResult

    @property
    def title(self) -> str:
        return f"{self.model} in run {self.run_id} -> cleaned layer of {self.store_url}"


def clean_run(
    model: str,
    run: str = "last",
    *,
    store: str | Store | None = None,
    embedder: str = DEFAULT_EMBEDDER,
    seed: int = 0,
    embedder_opts: dict | None = None,
) -> RunCleaning:
    """Clean `model`'s ok answers of `run` (an id or "last"); raw answers are never modified.

    `store`: a URL (None: SYNTHGEN_STORE, else sqlite:///synthgen.db; never created) or an open Store, left open.
    Cleaning again replaces that model's cleaned layer of the run, so the layer always matches one cleaner run.
    """
    cleaner = default_cleaner(embedder, seed=seed, embedder_opts=embedder_opts or {})
    with reading(store) as st:
        info = st.resolve_run(run)
        counts = st.counts(info.run_id)
        if model not in info.models and model not in counts:
            known = ", ".join(info.models) or "none"
            raise UserError(f"--model {model}: not in run {info.run_id} (its models: {known})")
        records = list(st.records(info.run_id, model=model, status=OK))
        url = st.url
    if not records:
        by = counts.get(model, {})
        detail = ", ".join(f"{n} {s}" for s, n in sorted(by.items())) or "no records"
        raise UserError(f"--model {model}: no successful answers in run {info.run_id} ({detail})")
    result = cleaner.fit_transform(Answer(r.id, r.text, r.finish_reason) for r in records)
    layer = cleaned_layer(result, info.run_id, model)
    if isinstance(store, Store):
        store.put_cleaned(layer)
    else:
        with open_store(store, create=False) as st:
            st.put_cleaned(layer)
    return RunCleaning(info.run_id, model, url, result)


def cleaned_layer(result: CleanResult, run_id: str, model: str) -> list[CleanedText]:
    """The store's cleaned layer for `result`'s answers (their ids are record ids)."""
    return [
        CleanedText(
            record_id=a.id,
            run_id=run_id,
            model=model,
            text=a.text,
            dropped=list(a.dropped),
            reason=a.reason,
            method=result.method,
        )
        for a in result.answers
    ]
