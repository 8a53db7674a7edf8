"""Keep exactly the target sentence of each answer: the seed's by-eye notebook, automated and measured.

    from synthgen.clean import Answer, clean
    result = clean([Answer("a1", 'Sure! Here\\'s a sentence:\\n\\n"I love Mondays."\\n\\nHow\\'s this?')])
    result["a1"].text        # 'I love Mondays.'
    print(result.explain("a1"))

    done = clean_run("llama2", "last", store="sqlite:///synthgen.db")   # store mode: writes the cleaned layer
    done = clean_file("answers.jsonl", "cleaned.jsonl")                 # file mode

Pipeline (each step swappable, one seed), one module per step:
split.py (SentenceSplitter) -> synthgen.embed -> steps.py (PCAReducer, KMeansClusterer, the target-cluster rule:
coverage of candidate sentences, near ties by novelty) -> select.py (ScoredSelector: scorer.py's SentenceScorer,
learned on the run from features.py, then decide.py's paths, with cues.py's word lists) -> pipeline.py (Cleaner,
verify). `seed_baseline()` runs the seed's own steps A/B/C (seed.py's SeedSelector) for comparison. Any selector
satisfies choice.py's `Selector`. result.py holds the result types; run.py and files.py are the store and file
edges; report.py the tables and the map.
"""

from __future__ import annotations

from .choice import Choice, ClusteredRun, Selector
from .density import boilerplate_density
from .files import FileCleaning, clean_file
from .pipeline import Cleaner, clean, default_cleaner, seed_baseline, verify
from .result import AnswerResult, CleanResult, ClusterSummary
from .run import RunCleaning, clean_run
from .scorer import SentenceScorer
from .seed import SeedSelector
from .select import ScoredSelector
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
    "Selector",
    "ClusteredRun",
    "ScoredSelector",
    "SentenceScorer",
    "SeedSelector",
    "Choice",
    "boilerplate_density",
    "Cleaner",
    "default_cleaner",
    "seed_baseline",
    "clean",
    "clean_run",
    "RunCleaning",
    "clean_file",
    "FileCleaning",
    "verify",
    "CleanResult",
    "AnswerResult",
    "ClusterSummary",
]
