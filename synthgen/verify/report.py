"""What verification found, in figures: how often each model wrote what it was asked (its first answers, as the
panel judged them), per label and per judge; how many cells were kept, asked again, or failed verification."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .state import ACCEPTED, REJECTED, UNVERIFIED, CellCheck


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class Agreement:
    """Counts are (agreeing, judged) pairs; `first` is about each cell's first answer, `kept` about its final one."""

    judges: list[str]
    per_model: dict[str, tuple[int, int]] = field(default_factory=dict)
    per_label: dict[str, tuple[int, int]] = field(default_factory=dict)
    per_judge: dict[str, tuple[int, int]] = field(default_factory=dict)
    cells: dict[str, int] = field(default_factory=dict)  # accepted / rejected / unverified
    regenerated_cells: int = 0  # cells asked again at least once
    answers: int = 0  # answers asked for, first ones and regenerations
    settings: str = ""

    @property
    def judged(self) -> int:
        return sum(n for _, n in self.per_model.values())

    @property
    def overall(self) -> float | None:
        """Share of judged first answers whose panel label is the one asked for."""
        return _share(sum(a for a, _ in self.per_model.values()), self.judged)

    @property
    def kept(self) -> int:
        return self.cells.get(ACCEPTED, 0)

    @property
    def answers_per_kept(self) -> float | None:
        return self.answers / self.kept if self.kept else None

    def to_dict(self) -> dict[str, Any]:
        def table(counts: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
            return {k: {"agree": a, "judged": n, "share": _share(a, n)} for k, (a, n) in counts.items()}

        return {
            "judges": self.judges,
            "settings": self.settings,
            "first_answers": {"agree": sum(a for a, _ in self.per_model.values()), "judged": self.judged},
            "agreement": self.overall,
            "per_model": table(self.per_model),
            "per_label": table(self.per_label),
            "per_judge": table(self.per_judge),
            "cells": dict(self.cells),
            "regenerated_cells": self.regenerated_cells,
            "answers": self.answers,
            "answers_per_kept": self.answers_per_kept,
        }


def _add(counts: dict[str, tuple[int, int]], key: str, agree: bool) -> None:
    a, n = counts.get(key, (0, 0))
    counts[key] = (a + int(agree), n + 1)


def agreement(checks: Mapping[str, CellCheck], labels: Sequence[str]) -> Agreement:
    out = Agreement(judges=[])
    out.per_label = {label: (0, 0) for label in labels}
    out.cells = {ACCEPTED: 0, REJECTED: 0, UNVERIFIED: 0}
    judges: dict[str, None] = {}
    for check in checks.values():
        out.cells[check.status] += 1
        out.answers += check.tried
        out.regenerated_cells += bool(check.attempts)
        panel = check.first_panel()
        if panel is not None:
            agree = panel.label == check.label
            _add(out.per_model, check.model, agree)
            _add(out.per_label, check.label, agree)
            out.settings = out.settings or panel.method
        for verdict in check.verdicts.get(0, []):
            if verdict.label is not None:
                judges.setdefault(verdict.judge)
                _add(out.per_judge, verdict.judge, verdict.label == check.label)
    out.judges = list(judges)
    return out
