"""Keep exactly the target sentence of each answer: the seed's by-eye notebook, automated and measured.

    from synthgen.clean import Answer, clean
    result = clean([Answer("a1", 'Sure! Here\\'s a sentence:\\n\\n"I love Mondays."\\n\\nHow\\'s this?')])
    result["a1"].text        # 'I love Mondays.'
    print(result.explain("a1"))

    done = clean_run("llama2", "last", store="sqlite:///synthgen.db")   # store mode: writes the cleaned layer

Pipeline (each step swappable, one seed): SentenceSplitter -> embedder (synthgen.embed) -> PCAReducer ->
KMeansClusterer -> target-cluster rule (coverage of candidate sentences, near ties by novelty) ->
ScoredSelector -> verify. `seed_baseline()` runs the
seed's own steps A/B/C for comparison.
"""

from __future__ import annotations

from .pipeline import Cleaner, clean, default_cleaner, seed_baseline, verify
from .result import AnswerResult, CleanResult, ClusterSummary
from .run import RunCleaning, clean_run
from .select import Choice, ScoredSelector, SeedSelector, boilerplate_density
from .split import Answer, LineSplitter, Segment, SentenceSplitter, is_candidate, strip_quotes
from .steps import TARGET_RULES, KMeansClusterer, PCAReducer, TargetChoice

__all__ = [
    "Answer",
    "Segment",
    "LineSplitter",
    "SentenceSplitter",
    "strip_quotes",
    "is_candidate",
    "PCAReducer",
    "KMeansClusterer",
    "TargetChoice",
    "TARGET_RULES",
    "ScoredSelector",
    "SeedSelector",
    "Choice",
    "boilerplate_density",
    "Cleaner",
    "default_cleaner",
    "seed_baseline",
    "clean",
    "clean_run",
    "RunCleaning",
    "verify",
    "CleanResult",
    "AnswerResult",
    "ClusterSummary",
]
