"""A run's verification, read back per cell: its attempts' texts, each judge's verdicts and the panel's decisions.

Attempt 0 is the cell's own answer: the cleaned text where the model was cleaned (a cell the cleaner kept nothing
of has no text to judge), else the record's text. A verdict on a text that has changed since (the model was
cleaned after it was judged) is stale: it no longer says anything about the text, and is not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..store import OK, CleanedText, Record, Store
from ..store.verdicts import PANEL, Attempt, Verdict, text_sha

ACCEPTED, REJECTED, UNVERIFIED = "accepted", "rejected", "unverified"


@dataclass
class CellCheck:
    record_id: str
    run_id: str
    round: int
    model: str
    label: str  # the label the cell asked for
    texts: dict[int, str] = field(default_factory=dict)  # attempt -> the text judged
    verdicts: dict[int, list[Verdict]] = field(default_factory=dict)  # attempt -> the judges' current verdicts
    panels: dict[int, Verdict] = field(default_factory=dict)  # attempt -> the panel's current decision
    attempts: dict[int, Attempt] = field(default_factory=dict)  # regenerated attempts (1, 2, ...), failed included

    @property
    def chosen(self) -> int | None:
        """The first attempt the panel accepted: the cell's answer."""
        return next((a for a in sorted(self.panels) if self.panels[a].accepted), None)

    @property
    def status(self) -> str:
        if self.chosen is not None:
            return ACCEPTED
        return REJECTED if self.panels else UNVERIFIED

    @property
    def tried(self) -> int:
        """Answers asked for so far: the first one and every regenerated attempt."""
        return 1 + len(self.attempts)

    def text(self) -> str | None:
        """The cell's text: the chosen attempt's, else the first answer's."""
        chosen = self.chosen
        return self.texts.get(chosen if chosen is not None else 0)

    def first_panel(self) -> Verdict | None:
        return self.panels.get(0)


def first_text(record: Record, cleaned: Mapping[str, CleanedText]) -> str | None:
    entry = cleaned.get(record.id)
    text = entry.text if entry is not None else record.text
    return text.strip() if text and text.strip() else None


def build_checks(
    records: Iterable[Record],
    cleaned: Mapping[str, CleanedText],
    attempts: Iterable[Attempt],
    verdicts: Iterable[Verdict],
) -> dict[str, CellCheck]:
    checks: dict[str, CellCheck] = {}
    for rec in records:
        if rec.status != OK:
            continue
        check = CellCheck(rec.id, rec.run_id, rec.round, rec.model, rec.label)
        text = first_text(rec, cleaned)
        if text is not None:
            check.texts[0] = text
        checks[rec.id] = check
    for attempt in attempts:
        check = checks.get(attempt.record_id)
        if check is None:
            continue
        check.attempts[attempt.attempt] = attempt
        if attempt.status == OK and attempt.text and attempt.text.strip():
            check.texts[attempt.attempt] = attempt.text.strip()
    for verdict in verdicts:
        check = checks.get(verdict.record_id)
        if check is None or verdict.attempt not in check.texts:
            continue
        if verdict.text_sha != text_sha(check.texts[verdict.attempt]):
            continue  # stale: judged a text that has changed since
        if verdict.judge == PANEL:
            check.panels[verdict.attempt] = verdict
        else:
            check.verdicts.setdefault(verdict.attempt, []).append(verdict)
    return checks


def read_checks(store: Store, run_id: str, records: Iterable[Record] | None = None) -> dict[str, CellCheck]:
    """Every ok cell of a run with its verification, from the store (records read unless given)."""
    records = list(records) if records is not None else list(store.records(run_id, status=OK))
    return build_checks(records, store.cleaned(run_id), store.attempts(run_id), store.verdicts(run_id))
