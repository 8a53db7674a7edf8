"""Checks of a dataset's texts that need no judge: near-duplicates (MinHash/LSH on word shingles, and an
embedding cosine where an embedder is given) and diversity (distinct n-grams, embedding similarity, lengths,
topic coverage, vocabulary), per model and per label."""

from __future__ import annotations

from .diversity import DiversityReport, GroupDiversity, diversity_figure, diversity_report
from .neardup import NearDuplicate, near_duplicates, shingles

__all__ = [
    "NearDuplicate",
    "near_duplicates",
    "shingles",
    "DiversityReport",
    "GroupDiversity",
    "diversity_report",
    "diversity_figure",
]
