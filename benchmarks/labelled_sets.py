"""The hand-labelled answer sets of tests/data, as the clean benchmarks read them (tests/data/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

from synthgen.clean import Answer, strip_quotes
from synthgen.text import flat

DATA_DIR = Path(__file__).resolve().parent.parent / "tests" / "data"
DATA = DATA_DIR / "llama2_padded.jsonl"
# Every set but llama2_padded.jsonl is held out: never used to tune the cleaner (see tests/data/README.md).
SETS = {
    # 191 answers combined by make_llama2_padded.py from hand-written pools; the cleaner was built on it.
    "padded": DATA,
    # 36 answers written one at a time after the cleaner was built, phrasings the pools do not have.
    "heldout": DATA_DIR / "llama2_heldout.jsonl",
    # Llama 2's most common shape alone: preface line + quoted sentence (190 answers, from the pools).
    "prefaced": DATA_DIR / "llama2_prefaced.jsonl",
    # 80 answers written by hand before the selector was reworked; looked at while fixing it.
    "dev": DATA_DIR / "llama2_dev.jsonl",
    # 80 answers written by hand at the same time as dev; scored only, never looked at while fixing.
    "test": DATA_DIR / "llama2_test.jsonl",
}


def load(path: Path = DATA) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def norm(text: str | None) -> str | None:
    return None if text is None else flat(strip_quotes(text))


def answers(rows: list[dict]) -> list[Answer]:
    return [Answer(r["id"], r["response"], r.get("finish_reason")) for r in rows]
