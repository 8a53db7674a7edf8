"""What a provider sends is data, never a reason for a run to end, and keys never leave in what is kept or printed.

The provider test server's hostile options (tests/provider_server.py: `lone_surrogates`, `usage_value`,
`finish_reason`, `leak_key`, `echo_auth`, `error_message`, `extra`) drive every protocol through the real adapters
and SDKs, a real `synthgen.generate` run, both stores and the CLI.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import PROVIDER_GEMINI_KEY, PROVIDER_OPENAI_KEY, run_cli_output
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_dynalite import dynalite  # noqa: F401 - the session's dynalite server (skips where node is absent)

from synthgen import generate
from synthgen.adapters import Adapters
from synthgen.catalog import load_catalog
from synthgen.store import FAILED, OK, open_store

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_TOKEN = "FwoGZXIvYXdzEJr//////////wEaDHostile0123456789SessionToken"
PROXY_KEY = "proxy-key-9f8e7d6c5b4a"  # the value of a table's own `api_key_env`
GOOGLE_SHAPED = "AIzaSyA1234567890abcdefghijklmnopq"
KEYS = (PROVIDER_GEMINI_KEY, PROVIDER_OPENAI_KEY, AWS_KEY_ID, AWS_SECRET, AWS_TOKEN, PROXY_KEY, GOOGLE_SHAPED)
PROMPT = "The sentiment is positive, with the topics:\n- Contexts or Scenarios: Work environment"
# Every protocol, and every seed family of Bedrock InvokeModel (OpenAI chat and completions, Gemini, Converse).
ALIASES = [
    "gpt-4",
    "local-completion",
    "gemini-pro",
    "j2-ultra",
    "titan-express",
    "claude-v2",
    "llama2",
    "claude-haiku",
]
RUN_MODELS = ["gpt-4", "gemini-pro", "llama2", "claude-v2", "titan-express", "claude-haiku", "proxy-gpt"]
SURROGATE = re.compile("[\\ud800-\\udfff]")


@pytest.fixture
def hostile(provider_server, monkeypatch, tmp_path):
    """The provider server, with AWS credentials shaped like real ones (a session token too, so requests carry
    X-Amz-Security-Token), the local server entries and a table `proxy-gpt` whose key comes from its own
    `api_key_env`."""
    import boto3

    # boto3's default session keeps the credentials it first found: a fresh one here, and the old one after
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", AWS_TOKEN)
    monkeypatch.setenv("SYNTHGEN_LOCAL_BASE_URL", f"{provider_server.url}/v1")
    monkeypatch.setenv("HOSTILE_PROXY_KEY", PROXY_KEY)
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    entry = '[models.proxy-gpt]\nbase = "gpt-4"\nmodel_id = "gpt-4-proxy"\napi_key_env = "HOSTILE_PROXY_KEY"\n'
    (catalog / "proxy.toml").write_text(entry)
    monkeypatch.setenv("SYNTHGEN_CATALOG", str(catalog))
    return provider_server


def call(alias, prompt=PROMPT):
    spec = load_catalog()[alias]

    async def once():
        adapters = Adapters(timeout=5)
        try:
            return await adapters.for_spec(spec).call(spec, prompt)
        finally:
            await adapters.aclose()

    return asyncio.run(once())


def model_id(alias):
    return load_catalog()[alias].model_id


def signatures(srv):
    """The SigV4 signatures the requests carried: none may be kept anywhere."""
    auth = [r["headers"].get("authorization", "") for r in srv.requests]
    return {m for a in auth for m in re.findall(r"Signature=([0-9a-f]{64})", a)}


def assert_nothing_leaks(text, srv=None):
    for secret in (*KEYS, *(signatures(srv) if srv else ())):
        assert secret not in text
    assert not SURROGATE.search(text)


# --- one call per protocol and family ---


@pytest.mark.parametrize("alias", ALIASES)
def test_lone_surrogates_in_an_answer_become_replacement_characters_and_the_note_says_so(hostile, alias):
    hostile.configure(model=model_id(alias), lone_surrogates=True, finish_reason="stop \udc00", extra={"k\ud800": 1})
    result = call(alias)
    assert result.ok, result.failure
    assert "\ufffd" in result.text and not SURROGATE.search(result.text)
    assert "2 lone surrogates in the answer replaced by U+FFFD" in result.notes
    assert result.finish_reason == "stop \ufffd"
    assert "1 lone surrogate in the finish reason replaced by U+FFFD" in result.notes
    json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")  # every string is UTF-8 now
    assert any("in the response replaced by U+FFFD" in note for note in result.notes)


ABSURD = [1e308, -5, float("nan"), float("inf"), "12", True, 2**70, 12.5, {"n": 3}]


@pytest.mark.parametrize("value", ABSURD, ids=repr)
@pytest.mark.parametrize("alias", ["gpt-4", "gemini-pro", "j2-ultra", "titan-express", "llama2", "claude-haiku"])
def test_an_absurd_token_count_is_unknown_with_a_note_and_the_answer_stays_ok(hostile, alias, value):
    hostile.configure(model=model_id(alias), usage_value=value)
    result = call(alias)
    assert result.ok, result.failure
    if alias == "j2-ultra" and value == "12":  # its counts are headers: there a count is digits
        assert result.usage.output_tokens == 12 and not result.notes
        return
    assert result.usage.input_tokens is None and result.usage.output_tokens is None
    assert any(note.startswith("output token count ") and "stored as unknown" in note for note in result.notes)


@pytest.mark.parametrize("value, count", [(12.0, 12), (0, 0), (999_999_999, 999_999_999), (10**9, None)])
def test_a_sane_count_is_a_non_negative_integer_below_a_billion(hostile, value, count):
    hostile.configure(model="gpt-4", usage_value=value)
    result = call("gpt-4")
    assert result.ok and result.usage.output_tokens == count


@pytest.mark.parametrize("alias", ALIASES)
def test_a_key_in_the_answer_text_is_redacted_and_the_note_says_so(hostile, alias):
    hostile.configure(model=model_id(alias), answer=f"Fine day. {AWS_SECRET} {GOOGLE_SHAPED}", leak_key=True)
    result = call(alias)
    assert result.ok, result.failure
    assert "a credential in the answer text was redacted" in result.notes
    assert "Fine day. *** AIza***" in result.text
    assert_nothing_leaks(json.dumps(result.to_dict(), ensure_ascii=False), hostile)


@pytest.mark.parametrize("alias", ["j2-ultra", "llama2", "claude-haiku"])
def test_an_echoed_sigv4_authorization_in_a_bedrock_error_keeps_no_key_id_signature_or_token(hostile, alias):
    hostile.configure(model=model_id(alias), always_status=400, echo_auth=True, error_message="bad \ud800 body")
    result = call(alias)
    assert result.failure.kind == "invalid_request"
    assert "Credential=***/" in result.failure.message and "Signature=***" in result.failure.message
    assert "1 lone surrogate in the failure message replaced by U+FFFD" in result.notes
    assert_nothing_leaks(json.dumps(result.to_dict(), ensure_ascii=False), hostile)
    assert signatures(hostile)  # the requests were signed: there was something to leak


# --- whole runs: random hostile answers, every protocol at once, both stores ---

TEXTS = st.lists(
    st.sampled_from(["ok.", "\ud800", "\udfff", " ", "\n", "é", "😀", f"Bearer {PROXY_KEY}", AWS_SECRET, GOOGLE_SHAPED])
    | st.text(max_size=8),
    min_size=1,
    max_size=5,
).map("".join)
BEHAVIOUR = st.fixed_dictionaries(
    {},
    optional={
        "answer": TEXTS,
        "lone_surrogates": st.booleans(),
        "leak_key": st.booleans(),
        "usage_value": st.sampled_from([1e308, -1, float("nan"), float("-inf"), "7", "x", False, 2**64, 3.0]),
        "finish_reason": TEXTS | st.integers(-(2**70), 2**70) | st.just({"why": "\ud800"}),
        "extra": st.just({"\udc00": float("nan"), "note": f"x-amz-security-token: {AWS_TOKEN}"}),
        "always_status": st.sampled_from([400, 403, 500]),
        "echo_auth": st.booleans(),
        "echo_key": st.booleans(),
        "error_message": TEXTS,
        "p_malformed": st.just(0.5),
    },
)
ROUNDS = 2


def run_hostile(srv, behaviours, store):
    srv.reset()
    for alias, behaviour in zip(RUN_MODELS, behaviours, strict=True):
        srv.configure(model=model_id(alias), **behaviour)
    generate(ROUNDS, RUN_MODELS, store=store, seed=1, max_attempts=2, backoff_base=0.001, timeout=10)


def check_records(records, dump, srv):
    assert len(records) == ROUNDS * len(RUN_MODELS)
    assert {r.status for r in records} <= {OK, FAILED}
    assert not any("cannot be stored" in (r.failure_message or "") for r in records)  # storable at the adapter
    assert_nothing_leaks(dump, srv)


def sqlite_dump(path):
    import sqlite3

    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = [row for table in tables for row in db.execute(f'SELECT * FROM "{table}"')]
        return "\n".join("\t".join(map(str, row)) for row in rows)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(behaviours=st.lists(BEHAVIOUR, min_size=len(RUN_MODELS), max_size=len(RUN_MODELS)))
def test_a_run_of_random_hostile_answers_ends_normally_with_every_cell_stored_and_no_key_on_sqlite(
    hostile, tmp_path, behaviours
):
    db = tmp_path / f"{uuid.uuid4().hex}.db"
    run_hostile(hostile, behaviours, f"sqlite:///{db}")
    with open_store(f"sqlite:///{db}", create=False) as store:
        records = list(store.records(store.resolve_run("last").run_id))
    check_records(records, sqlite_dump(db), hostile)


@pytest.fixture
def dynalite_url(dynalite, hostile, monkeypatch):  # noqa: F811 - the fixture imported above
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite)
    return dynalite


def dynamodb_dump(url, table):
    import zlib

    import boto3

    client = boto3.client("dynamodb", endpoint_url=url)
    parts = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            for value in item.values():
                packed = value.get("B")
                parts.append(zlib.decompress(packed).decode() if packed else json.dumps(value, ensure_ascii=False))
    return "\n".join(parts)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(behaviours=st.lists(BEHAVIOUR, min_size=len(RUN_MODELS), max_size=len(RUN_MODELS)))
def test_a_run_of_random_hostile_answers_ends_normally_with_every_cell_stored_and_no_key_on_dynalite(
    hostile, dynalite_url, behaviours
):
    table = f"synthgen-hostile-{uuid.uuid4().hex[:10]}"
    run_hostile(hostile, behaviours, f"dynamodb://{table}")
    with open_store(f"dynamodb://{table}", create=False) as store:
        records = list(store.records(store.resolve_run("last").run_id))
    check_records(records, dynamodb_dump(dynalite_url, table), hostile)


# --- the CLI on a hostile provider ---

HOSTILE_ALL = {"lone_surrogates": True, "usage_value": float("nan"), "finish_reason": "stop\udfff", "leak_key": True}


def test_generate_on_a_hostile_provider_exits_0_without_a_traceback(hostile, tmp_path):
    hostile.configure(**HOSTILE_ALL)
    hostile.configure(model=model_id("claude-haiku"), always_status=400, echo_auth=True)
    db = tmp_path / "cli.db"
    argv = ["generate", "--rounds", "3", "--models", ",".join(RUN_MODELS), "--store", f"sqlite:///{db}"]
    done = subprocess.run(
        [sys.executable, "-c", "from synthgen.cli import main; main()", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert_nothing_leaks(done.stdout + done.stderr + sqlite_dump(db), hostile)


def test_ask_prints_a_surrogate_answer_with_replacement_characters_and_exits_0(hostile, capsys):
    hostile.configure(model="gpt-4", answer="bad \ud800 happy.")
    assert run_cli_output(["ask", "gpt-4", "Say something"], capsys) == (0, "bad \ufffd happy.\n", "")
    hostile.configure(model="gpt-4", answer=f"my key: {PROVIDER_OPENAI_KEY}", usage_value=1e308)
    code, out, _ = run_cli_output(["ask", "gpt-4", "Say something", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["text"] == "my key: ***" and result["usage"]["output_tokens"] is None
    assert "a credential in the answer text was redacted" in result["notes"]


def test_every_reading_command_reads_a_run_full_of_hostile_records(hostile, tmp_path, capsys):
    hostile.configure(**HOSTILE_ALL)
    hostile.configure(model=model_id("titan-express"), answer=f"Calm day. {PROXY_KEY} {AWS_SECRET}")  # duplicates
    hostile.configure(model=model_id("claude-v2"), always_status=400, echo_auth=True, error_message="no \ud800")
    url = f"sqlite:///{tmp_path / 'h.db'}"
    generate(8, RUN_MODELS, store=url, seed=3, max_attempts=1)
    printed = []
    for argv in (
        ["log", "--run", "last", "--json"],
        ["log", "--run", "last", "--text"],
        ["export", "--out", str(tmp_path / "out"), "--format", "jsonl"],
        ["clean", "--model", "llama2"],
        ["stats"],
        ["topics", "--run", "last"],
    ):
        code, out, err = run_cli_output([*argv, "--store", url], capsys)
        assert code == 0, (argv, err)
        printed.append(out + err)
    records = [json.loads(line) for line in printed[0].splitlines()]
    assert len(records) == 8 * len(RUN_MODELS)
    ok = [r for r in records if r["status"] == OK]
    assert ok and all("\ufffd" in r["text"] and r["output_tokens"] is None for r in ok)
    assert all("a credential in the answer text was redacted" in r["note"] for r in ok)
    exported = "".join(p.read_text("utf-8") for p in Path(tmp_path / "out").rglob("*") if p.is_file())
    assert "dropped.jsonl" in {p.name for p in Path(tmp_path / "out").iterdir()}
    assert_nothing_leaks("\n".join(printed) + exported, hostile)
