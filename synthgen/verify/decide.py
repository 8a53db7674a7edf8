"""The panel: how the judges' verdicts on one attempt become one decision. Pure functions.

`vote`: the label most judges gave (a tie goes to the label with the higher summed probability, then the task's
order); its confidence is the judges' mean probability of that label (a judge without probabilities counts its
stated confidence, or 1, for the label it gave and 0 for the others). `mean`: the label of the highest mean
probability, with that mean as confidence. An attempt is accepted when the panel's label is the one the cell asked
for and its confidence is at least the minimum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..store import OK
from ..store.verdicts import PANEL, Verdict
from .settings import VerifySettings


def _probs(verdict: Verdict, labels: Sequence[str]) -> dict[str, float]:
    if verdict.probs:
        return {label: float(verdict.probs.get(label, 0.0)) for label in labels}
    sure = 1.0 if verdict.confidence is None else float(verdict.confidence)
    return {label: (sure if label == verdict.label else 0.0) for label in labels}


@dataclass(frozen=True)
class Decision:
    label: str
    confidence: float
    probs: dict[str, float]
    accepted: bool
    reason: str | None
    judges: tuple[str, ...]


def decide(verdicts: Sequence[Verdict], asked: str, labels: Sequence[str], settings: VerifySettings) -> Decision | None:
    """The panel's decision from these judges' ok verdicts; None when no judge gave one."""
    ok = [v for v in verdicts if v.status == OK and v.label in labels]
    if not ok:
        return None
    probs = {label: sum(_probs(v, labels)[label] for v in ok) / len(ok) for label in labels}
    if settings.aggregate == "mean":
        label = max(labels, key=lambda name: (probs[name], -labels.index(name)))
        why = f"mean probability {probs[label]:.2f}"
    else:
        votes = {label: sum(v.label == label for v in ok) for label in labels}
        label = max(labels, key=lambda name: (votes[name], probs[name], -labels.index(name)))
        why = f"{votes[label]} of {len(ok)} judges"
    confidence = probs[label]
    if label != asked:
        accepted, reason = False, f"judged {label}, not {asked} ({why})"
    elif confidence < settings.min_confidence:
        accepted, reason = False, f"confidence {confidence:.2f} below {settings.min_confidence:g}"
    else:
        accepted, reason = True, None
    return Decision(label, round(confidence, 6), probs, accepted, reason, tuple(v.judge for v in ok))


def panel_verdict(first: Verdict, decision: Decision, settings: VerifySettings, text_sha: str) -> Verdict:
    """The decision as the PANEL verdict of `first`'s attempt."""
    return Verdict(
        run_id=first.run_id,
        round=first.round,
        model=first.model,
        attempt=first.attempt,
        judge=PANEL,
        label=decision.label,
        confidence=decision.confidence,
        probs={k: round(v, 6) for k, v in decision.probs.items()},
        judge_model_id=",".join(decision.judges),
        method=settings.method(),
        text_sha=text_sha,
        accepted=decision.accepted,
        reason=decision.reason,
    )
