"""`--timeout` is a deadline per attempt, for every protocol: a server trickling a valid answer one byte at a time
(each byte well inside any read timeout) is cut off at the deadline, the attempt is a transient failure retried
like others, and its connection is freed. Bounds here are generous on purpose: precise timings are in
benchmarks/bench_transport.py."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import run_cli_output

from synthgen.adapters import Adapters, adapter_class
from synthgen.catalog import load_catalog
from synthgen.generation import generate
from synthgen.results import FailureKind
from synthgen.store import open_store

PROMPT = "The sentiment is positive, with the topics:\n- Contexts or Scenarios: Work environment"
# one model per network protocol: OpenAI chat, Gemini, Bedrock InvokeModel, Bedrock Converse
PER_PROTOCOL = ["gpt-4", "gemini-pro", "claude-v2", "claude-haiku"]


def model_id(alias: str) -> str:
    return load_catalog()[alias].model_id


def calls(alias: str, n: int, *, timeout: float, max_connections: int = 64):
    """`n` calls one after another through one set of adapters (one pool), as a run makes them."""
    spec = load_catalog()[alias]

    async def run():
        adapters = Adapters(max_connections=max_connections, timeout=timeout)
        try:
            return [await adapters.for_spec(spec).call(spec, PROMPT) for _ in range(n)]
        finally:
            await adapters.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("alias", PER_PROTOCOL)
def test_a_trickled_answer_is_cut_off_at_the_deadline_as_a_transient_failure(provider_server, alias):
    provider_server.configure(model=model_id(alias), trickle=0.3)  # a whole answer would take minutes
    started = time.monotonic()
    [result] = calls(alias, 1, timeout=1)
    assert time.monotonic() - started < 15
    assert result.failure.kind is FailureKind.TRANSIENT and result.failure.kind.retryable
    assert result.failure.message == "no answer within 1 s (--timeout)"
    assert result.text is None and result.raw is None
    assert len(provider_server.requests) == 1


@pytest.mark.parametrize("alias", PER_PROTOCOL)
def test_a_timed_out_attempt_frees_its_connection(provider_server, alias):
    # one connection in the pool: if the trickle still held it, the next request could never be sent
    provider_server.script(model_id(alias), ["trickle", 200, "trickle", 200])
    results = calls(alias, 4, timeout=1, max_connections=1)
    assert [r.ok for r in results] == [False, True, False, True]
    assert all(r.failure.message == "no answer within 1 s (--timeout)" for r in results[::2])
    assert "Work environment" in results[1].text


@pytest.mark.parametrize("alias", PER_PROTOCOL)
def test_a_slow_answer_inside_the_deadline_is_an_answer(provider_server, alias):
    provider_server.configure(model=model_id(alias), trickle=0.0005)  # every byte arrives, the whole well in time
    [result] = calls(alias, 1, timeout=30)
    assert result.ok, result.failure
    assert provider_server.requests[0]["trickle"] == 0.0005


def test_network_adapters_run_under_the_deadline_and_llama_cpp_bounds_its_own():
    for protocol in ("openai-chat", "gemini", "bedrock-invoke", "bedrock-converse"):
        assert adapter_class(protocol)(timeout=7).deadline == 7
    # in-process generation is stopped at every sampled token (the worker thread cannot be cancelled from here)
    assert adapter_class("llama-cpp", check_extra=False)(timeout=7).deadline is None


@pytest.mark.parametrize("alias", PER_PROTOCOL)
def test_ask_with_timeout_2_ends_at_the_deadline(provider_server, capsys, alias):
    provider_server.configure(model="*", trickle=0.3)
    started = time.monotonic()
    code, out, err = run_cli_output(["ask", alias, PROMPT, "--timeout", "2"], capsys)
    assert time.monotonic() - started < 20  # minutes before the deadline (127 s for gpt-4)
    assert code == 1 and out == ""
    assert err.strip() == f"{alias}: transient: no answer within 2 s (--timeout)"


def test_generate_with_timeout_2_retries_each_attempt_and_ends(provider_server, tmp_path, capsys):
    """The run that never ended: every attempt of every cell is cut off at 2 s, retried, and stored failed."""
    provider_server.configure(model="*", trickle=0.3)
    db = tmp_path / "s.db"
    started = time.monotonic()
    argv = ["generate", "--rounds", "3", "--models", ",".join(PER_PROTOCOL), "--timeout", "2", "--max-attempts", "2"]
    code, out, _ = run_cli_output([*argv, "--store", f"sqlite:///{db}", "--seed", "1", "--quiet"], capsys)
    assert time.monotonic() - started < 30  # 2 attempts x 2 s each, all cells in parallel, plus backoff
    assert code == 0 and '"ok": 0' in out
    with open_store(f"sqlite:///{db}", create=False) as store:
        records = list(store.records())
    assert len(records) == 12
    for record in records:
        assert record.status == "failed" and record.failure_kind == "transient" and record.attempts == 2
        assert record.failure_message == "no answer within 2 s (--timeout)"
    assert len(provider_server.requests) == 12 * 2


def test_a_trickle_that_stops_in_time_retries_to_an_answer(provider_server, tmp_path):
    for alias in PER_PROTOCOL:
        provider_server.script(model_id(alias), ["trickle"])  # the first attempt trickles, the retry answers
    summary = generate(
        rounds=1, models=PER_PROTOCOL, store=f"sqlite:///{tmp_path / 's.db'}", seed=1, timeout=1, backoff_base=0.01
    )
    assert summary.ok == len(PER_PROTOCOL)
    with open_store(f"sqlite:///{tmp_path / 's.db'}", create=False) as store:
        assert {r.attempts for r in store.records()} == {2}
