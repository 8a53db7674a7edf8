"""`import synthgen` gives the Python API lazily, and the API's store-mode `topics` entry point."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

import synthgen
import synthgen.api as api
from synthgen.errors import UserError
from synthgen.store import CleanedText, Record, RunInfo, utc_now
from synthgen.store.sqlite import SQLiteStore
from synthgen.topicmodel import TopicReport

HEAVY = ("synthgen.api", "datasets", "matplotlib", "sklearn", "synthgen.generation", "boto3", "openai")


def test_import_synthgen_is_fast_and_imports_nothing_heavy():
    probe = f"import sys, synthgen; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + probe], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []


def test_every_api_name_is_reachable_from_the_package():
    assert list(synthgen.API_NAMES) == api.__all__
    for name in api.__all__:
        assert getattr(synthgen, name) is getattr(api, name), name
    assert set(api.__all__) <= set(dir(synthgen))
    with pytest.raises(AttributeError):
        synthgen.no_such_name  # noqa: B018


def test_synthgen_generate_is_the_api_function_even_after_the_generation_module_is_imported(tmp_path):
    code = (
        "import synthgen, synthgen.api; from synthgen.generation import plan_cells; "
        "assert synthgen.generate is synthgen.api.generate; "
        f"synthgen.generate(rounds=0, store='sqlite:///{tmp_path / 'x.db'}')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1 and "--rounds 0: must be at least 1" in done.stderr  # the API ran and refused


VOCAB = {
    "stars": "planet star galaxy telescope orbit comet nebula asteroid".split(),
    "boats": "yacht mast harbour anchor keel regatta sail tide".split(),
    "chess": "bishop rook checkmate gambit pawn endgame castling knight".split(),
}


def texts() -> tuple[list[str], list[str]]:
    rng = random.Random(0)
    out = [(" ".join(rng.sample(words, 6)), ["m1", "m2"][i % 2]) for words in VOCAB.values() for i in range(8)]
    return [t for t, _ in out], [m for _, m in out]


def test_topics_of_a_list_of_texts_returns_the_report_with_a_map(tmp_path):
    items, models = texts()
    report = synthgen.topics(texts=items, models=models, k="auto", seed=0, plot=tmp_path / "map.png", plot_size=(6, 4))
    assert isinstance(report, TopicReport)
    assert report.k == 3 and sorted(t.size for t in report.topics) == [8, 8, 8]
    assert {v.model for v in report.models} == {"m1", "m2"}
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"
    assert f"map written to {tmp_path / 'map.png'}" in report.notes


def test_topics_of_a_run_uses_its_cleaned_texts(tmp_path):
    items, models = texts()
    store = SQLiteStore(tmp_path / "s.db")
    info = RunInfo(
        run_id="r1",
        created_at=utc_now(),
        seed=1,
        rounds=len(items) // 2,
        models=["m1", "m2"],
        template="sentiment",
        template_text="{sentiment}",
        topics_source="sentiment",
    )
    cells = [
        Record(run_id="r1", round=i // 2, model=m, model_id=m, sentiment="positive", topics=[], prompt="p")
        for i, m in enumerate(models)
    ]
    store.create_run(info, cells)
    for cell, text in zip(cells, items, strict=True):
        cell.status, cell.text = "ok", f"Sure! Here it is:\n{text}"
        store.put_record(cell)
    store.put_cleaned([CleanedText(c.id, "r1", c.model, t) for c, t in zip(cells, items, strict=True)])
    store.close()
    report = synthgen.topics("last", store=f"sqlite:///{tmp_path / 's.db'}", k=3)
    assert report.source == "run r1" and report.n_texts == 24
    assert not any("Sure!" in e for t in report.topics for e in t.examples)
    assert "cleaned texts used for 24 answers" in report.notes


def test_topics_refuses_bad_arguments_before_any_work(tmp_path):
    items, _ = texts()
    with pytest.raises(UserError, match="not both"):
        api.topics("last", texts=items)
    with pytest.raises(UserError, match="as many as texts"):
        api.topics(texts=items, models=["m1"])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="is not a folder"):
        api.topics(texts=items, plot=blocker / "map.png")
