"""How a run is verified: which judges, how their verdicts combine, when an answer is accepted.

A model does not judge its own texts when other judges exist (`self_judge` allows it): a judge that wrote the text
shares its blind spots. With no judge named, the bundled model judges (offline, free, deterministic), or, without
the local extra, the run's own models judge each other's texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..catalog import Catalog, ModelSpec
from ..errors import UserError

AGGREGATES = ("vote", "mean")
DEFAULT_JUDGE = "local-gemma"
DEFAULT_REGENERATIONS = 3


@dataclass(frozen=True)
class VerifySettings:
    judges: tuple[str, ...] = ()  # judge aliases; () = the default (see `default_judges`)
    aggregate: str = "vote"  # vote: the majority label; mean: the label of the highest mean probability
    min_confidence: float = 0.0  # an answer whose panel confidence is below this is rejected too
    max_regenerations: int = DEFAULT_REGENERATIONS  # generate --verify: new answers asked for a rejected cell
    self_judge: bool = False

    def check(self) -> None:
        if self.aggregate not in AGGREGATES:
            raise UserError(f"--aggregate {self.aggregate}: use one of {', '.join(AGGREGATES)}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise UserError(f"--min-confidence {self.min_confidence:g}: give a number from 0 to 1")
        if not 0 <= self.max_regenerations <= 20:
            raise UserError(f"--max-regenerations {self.max_regenerations}: give a whole number from 0 to 20")

    def method(self) -> str:
        """The panel's settings, as its verdicts record them."""
        judges = ",".join(self.judges) or "default"
        return (
            f"{self.aggregate}; judges {judges}; min confidence {self.min_confidence:g}; "
            f"self-judge {'on' if self.self_judge else 'off'}"
        )


def judges_for(model: str, judges: Sequence[str], self_judge: bool = False) -> tuple[str, ...]:
    """The judges of a text written by `model`: every judge but the model itself, unless it is the only one."""
    if self_judge:
        return tuple(judges)
    others = tuple(j for j in judges if j != model)
    return others or tuple(judges)


def parse_judges(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """`--judges a,b` as aliases; UserError for an empty list."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    aliases = tuple(dict.fromkeys(a.strip() for a in items if a.strip()))
    if not aliases:
        raise UserError("--judges: name at least one model alias, e.g. --judges local-gemma")
    return aliases


def default_judges(catalog: Catalog, run_models: Sequence[str]) -> tuple[str, ...]:
    """The bundled model when the local extra is installed, else the run's models (judging each other)."""
    from ..adapters.gguf import local_available

    if DEFAULT_JUDGE in catalog and local_available()[0]:
        return (DEFAULT_JUDGE,)
    return tuple(run_models)


def resolve_judges(catalog: Catalog, judges: Sequence[str]) -> list[ModelSpec]:
    """The judges' entries, each checked before anything is asked: known, its extra installed, credentials
    present, its endpoint usable. A problem is one line naming the judge."""
    from ..adapters import check_config, credentials_status

    specs = []
    for alias in judges:
        try:
            spec = catalog.get_model(alias)
        except UserError as exc:
            raise UserError(f"--judges {alias}: {exc}") from None
        present, hint = credentials_status(spec)
        if not present:
            raise UserError(f"--judges {alias}: {hint}")
        check_config(spec)
        specs.append(spec)
    return specs
