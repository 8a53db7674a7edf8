"""Verified labels: judges classify every kept text into the run's task labels, and a rejected answer can be
asked for again until the label holds.

- `verify_run(run, store=..., judges=...)`: `synthgen verify` (judges, verdicts, the panel's decisions).
- `generate_verified(..., judges=..., max_regenerations=N)`: `synthgen generate --verify`.
- `read_checks(store, run_id)`: each cell's attempts, verdicts and decision, as export and stats read them.
- `agreement(checks, labels)`: the figures (per model, per label, per judge).

Layers and types: `synthgen.store.verdicts` (Verdict, Attempt). How each kind of model judges: `judges.py`.
"""

from __future__ import annotations

from .decide import Decision, decide
from .generate import generate_verified
from .report import Agreement, agreement
from .run import VerifyResult, verify_run, verify_stored_run
from .settings import AGGREGATES, DEFAULT_JUDGE, VerifySettings, judges_for, parse_judges
from .state import ACCEPTED, REJECTED, UNVERIFIED, CellCheck, build_checks, read_checks

__all__ = [
    "verify_run",
    "verify_stored_run",
    "generate_verified",
    "VerifyResult",
    "VerifySettings",
    "Agreement",
    "agreement",
    "CellCheck",
    "read_checks",
    "build_checks",
    "Decision",
    "decide",
    "judges_for",
    "parse_judges",
    "AGGREGATES",
    "DEFAULT_JUDGE",
    "ACCEPTED",
    "REJECTED",
    "UNVERIFIED",
]
