"""Each adapter against a local server speaking the provider's wire format, through real boto3 and the openai SDK."""

import asyncio
import json

import pytest
from conftest import PROVIDER_GEMINI_KEY, PROVIDER_OPENAI_KEY, run_cli

from synthgen.adapters import Adapters
from synthgen.catalog import load_catalog
from synthgen.results import FailureKind

PROMPT = "The sentiment is positive, with the topics:\n- Contexts or Scenarios: Work environment"


def call(alias, prompt=PROMPT, params=None, catalog=None):
    spec = (catalog or load_catalog())[alias]

    async def once():
        adapters = Adapters(timeout=5)
        try:
            return await adapters.for_spec(spec).call(spec, prompt, params)
        finally:
            await adapters.aclose()

    return asyncio.run(once())


EXPECTED_BODIES = {
    "j2-ultra": (
        "ai21.j2-ultra-v1",
        {
            "prompt": PROMPT,
            "maxTokens": 200,
            "temperature": 0.1,
            "topP": 1,
            "stopSequences": [],
            "countPenalty": {"scale": 0},
            "presencePenalty": {"scale": 0.8},
            "frequencyPenalty": {"scale": 0.1},
        },
    ),
    "titan-express": (
        "amazon.titan-text-express-v1",
        {
            "inputText": PROMPT,
            "textGenerationConfig": {
                "maxTokenCount": 2048,
                "stopSequences": ["User:"],
                "temperature": 0.5,
                "topP": 0.9,
            },
        },
    ),
    "claude-v2": (
        "anthropic.claude-v2",
        {
            "prompt": f"\n\nHuman: {PROMPT}\n\nAssistant:",
            "max_tokens_to_sample": 200,
            "temperature": 0.5,
            "stop_sequences": ["\n\nHuman:"],
        },
    ),
    "llama2": (
        "meta.llama2-70b-chat-v1",
        {"prompt": f"[INST] {PROMPT} [/INST]", "temperature": 0.5, "top_p": 0.9, "max_gen_len": 200},
    ),
    "gemini-pro": (
        "gemini-pro",
        {
            "contents": [{"parts": [{"text": PROMPT}]}],  # SPEC §1 exactly
            "safetySettings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH"}],
            "generationConfig": {
                "stopSequences": ["Title"],
                "temperature": 1.0,
                "maxOutputTokens": 800,
                "topP": 0.8,
                "topK": 10,
            },
        },
    ),
    "gpt-4": (
        "gpt-4",
        {
            "model": "gpt-4",
            "messages": [{"role": "system", "content": "You are an assistant"}, {"role": "user", "content": PROMPT}],
            "temperature": 0.7,
            "max_tokens": 512,
            "top_p": 0.95,
            "frequency_penalty": 0,
            "presence_penalty": 0,
        },
    ),
}


@pytest.mark.parametrize("alias", list(EXPECTED_BODIES))
def test_seed_model_request_body_and_answer_extraction(provider_server, alias):
    model_id, body = EXPECTED_BODIES[alias]
    result = call(alias)
    assert result.ok, result.failure
    [request] = provider_server.requests
    assert request["model"] == model_id
    assert request["json"] == body
    assert result.request_body == body
    raw = result.raw
    expected_text = {
        "j2-ultra": lambda: raw["completions"][0]["data"]["text"],
        "titan-express": lambda: raw["results"][0]["outputText"],
        "claude-v2": lambda: raw["completion"],
        "llama2": lambda: raw["generation"],
        "gemini-pro": lambda: raw["candidates"][0]["content"]["parts"][0]["text"],
        "gpt-4": lambda: raw["choices"][0]["message"]["content"],
    }[alias]()
    assert result.text == expected_text and "Work environment" in result.text
    assert result.usage.input_tokens and result.usage.output_tokens
    assert result.finish_reason
    assert result.latency_s > 0


def test_bedrock_token_usage_comes_from_the_invocation_headers(provider_server):
    result = call("claude-v2")  # Claude v2's body has no token counts
    assert result.usage.input_tokens == len(EXPECTED_BODIES["claude-v2"][1]["prompt"].split())
    assert result.usage.output_tokens == len(result.text.split())


def test_converse_entries_send_the_converse_shape(provider_server):
    result = call("claude-haiku")
    assert result.ok, result.failure
    [request] = provider_server.requests
    assert request["protocol"] == "bedrock-converse"
    assert request["model"] == "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert request["json"]["messages"] == [{"role": "user", "content": [{"text": PROMPT}]}]
    assert request["json"]["inferenceConfig"] == {"maxTokens": 200, "temperature": 0.5}
    assert result.text == result.raw["output"]["message"]["content"][0]["text"]
    assert result.usage.input_tokens == result.raw["usage"]["inputTokens"]


def test_params_deep_merge_over_defaults_on_the_wire(provider_server):
    call("gemini-pro", params={"generationConfig": {"temperature": 0.2}})
    sent = provider_server.requests[0]["json"]["generationConfig"]
    assert sent == {"stopSequences": ["Title"], "temperature": 0.2, "maxOutputTokens": 800, "topP": 0.8, "topK": 10}


@pytest.mark.parametrize("alias", list(EXPECTED_BODIES))
@pytest.mark.parametrize(
    "status, kind",
    [
        (429, FailureKind.THROTTLED),
        (500, FailureKind.TRANSIENT),
        (503, FailureKind.TRANSIENT),
        (400, FailureKind.INVALID_REQUEST),
        (403, FailureKind.ACCESS_DENIED),
    ],
)
def test_error_statuses_map_to_typed_failures(provider_server, alias, status, kind):
    provider_server.script(EXPECTED_BODIES[alias][0], [status])
    result = call(alias)
    assert not result.ok and result.text is None
    assert result.failure.kind is kind
    assert result.failure.status == status


@pytest.mark.parametrize("alias", ["j2-ultra", "gemini-pro", "gpt-4", "claude-haiku"])
def test_a_missing_answer_path_is_a_failure_never_text(provider_server, alias):
    model_id = load_catalog()[alias].model_id
    # both flavours: JSON without the path, and garbage (an HTML error page or JSON cut short, drawn at random)
    provider_server.script(model_id, ["malformed"] + ["garbage"] * 5)
    for _ in range(6):
        result = call(alias)
        assert not result.ok and result.text is None
        assert result.failure.kind is FailureKind.ANSWER_MISSING, result.failure


def test_timeouts_are_transient(provider_server):
    provider_server.script("gpt-4", ["timeout"])
    spec = load_catalog()["gpt-4"]

    async def once():
        adapters = Adapters(timeout=0.5)
        try:
            return await adapters.for_spec(spec).call(spec, PROMPT)
        finally:
            await adapters.aclose()

    result = asyncio.run(once())
    assert result.failure.kind is FailureKind.TRANSIENT


def test_gemini_key_travels_in_the_header_and_never_in_a_url(provider_server):
    assert call("gemini-pro").ok
    [request] = provider_server.requests
    assert request["headers"]["x-goog-api-key"] == PROVIDER_GEMINI_KEY
    assert PROVIDER_GEMINI_KEY not in request["url"] and "key=" not in request["url"]
    assert request["path"] == "/v1beta/models/gemini-pro:generateContent"


def test_a_wrong_key_never_appears_in_the_failure(provider_server, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "wrong-key-abcdef123456")
    result = call("gemini-pro")
    assert result.failure.kind in (FailureKind.INVALID_REQUEST, FailureKind.ACCESS_DENIED)
    assert "wrong-key-abcdef123456" not in json.dumps(result.to_dict())


def test_error_bodies_that_echo_the_key_are_redacted_even_for_a_key_variable_of_your_own(
    provider_server, tmp_path, monkeypatch
):
    (tmp_path / "mine.toml").write_text(
        '[models.proxied]\nprotocol = "openai-chat"\nmodel_id = "gpt-4"\napi_key_env = "MY_PROXY_KEY"\n'
    )
    monkeypatch.setenv("MY_PROXY_KEY", "proxy-secret-0123456789")
    provider_server.configure(model="gpt-4", always_status=401, echo_key=True)
    result = call("proxied", catalog=load_catalog(tmp_path))
    assert result.failure.kind is FailureKind.ACCESS_DENIED
    assert "proxy-secret-0123456789" in provider_server.requests[0]["headers"]["authorization"]
    blob = json.dumps(result.to_dict())
    assert "credential received: ***" in blob and "proxy-secret-0123456789" not in blob


def test_what_an_adapters_pre_send_step_raises_is_the_calls_one_line_redacted_failure(provider_server, monkeypatch):
    """Adapter.prepare runs inside call's error handling: a model that will not load, or a surprise, is a typed
    failure (kind invalid_request or error), one line, keys redacted; call never raises and nothing is sent."""
    from synthgen.adapters.openai_chat import OpenAIChatAdapter
    from synthgen.errors import UserError

    monkeypatch.setenv("OPENAI_API_KEY", "sk-own-key-0123456789")
    raised = [
        UserError("models.gpt-4: could not load\n  /models/sk-own-key-0123456789.gguf"),
        RuntimeError("native\ncrash"),
    ]

    class Preparing(OpenAIChatAdapter):
        async def prepare(self, spec):
            raise raised.pop(0)

    spec = load_catalog()["gpt-4"]

    async def twice():
        adapter = Preparing()
        try:
            return [await adapter.call(spec, PROMPT) for _ in range(2)]
        finally:
            await adapter.aclose()

    unloadable, surprise = asyncio.run(twice())
    assert unloadable.failure.kind is FailureKind.INVALID_REQUEST and unloadable.latency_s == 0.0
    assert unloadable.failure.message == "models.gpt-4: could not load /models/***.gguf"
    assert surprise.failure.kind is FailureKind.ERROR and surprise.failure.message == "RuntimeError: native crash"
    assert provider_server.requests == []


def test_a_gemini_error_body_with_a_plain_string_error_is_typed(provider_server, monkeypatch):
    import http.server
    import threading

    class Proxy(http.server.BaseHTTPRequestHandler):  # what some proxies answer: {"error": "text"}
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["content-length"]))
            body = b'{"error": "quota exceeded for this key"}'
            self.send_response(429)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("GEMINI_BASE_URL", f"http://127.0.0.1:{server.server_port}")
        result = call("gemini-pro")
    finally:
        server.shutdown()
        server.server_close()
    assert result.failure.kind is FailureKind.THROTTLED
    assert result.failure.message == "HTTP 429: quota exceeded for this key"


def test_user_table_overrides_a_shipped_entry_on_the_wire(provider_server, tmp_path):
    (tmp_path / "mine.toml").write_text(
        '[models.gpt-4]\nprotocol = "openai-chat"\nmodel_id = "gpt-4-turbo"\nparams = { temperature = 0.1 }\n'
    )
    result = call("gpt-4", catalog=load_catalog(tmp_path))
    assert result.ok
    sent = provider_server.requests[0]["json"]
    assert sent["model"] == "gpt-4-turbo" and sent["temperature"] == 0.1 and "max_tokens" not in sent


def test_local_entry_reaches_an_openai_compatible_server(provider_server, monkeypatch):
    monkeypatch.setenv("SYNTHGEN_LOCAL_BASE_URL", f"{provider_server.url}/v1")
    monkeypatch.setenv("SYNTHGEN_LOCAL_MODEL", "qwen2.5:0.5b")
    result = call("local")
    assert result.ok
    assert provider_server.requests[0]["json"]["model"] == "qwen2.5:0.5b"
    assert provider_server.requests[0]["headers"]["authorization"] == "Bearer sk-no-key-required"


# --- the commands ---


@pytest.mark.parametrize("alias", list(EXPECTED_BODIES))
def test_ask_prints_the_answer_of_each_seed_model(provider_server, capsys, alias):
    assert run_cli("ask", alias, PROMPT) == 0
    out = capsys.readouterr().out.strip()
    assert "Work environment" in out


def test_ask_json_prints_the_typed_result(provider_server, capsys):
    assert run_cli("ask", "titan-express", PROMPT, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["model_id"] == "amazon.titan-text-express-v1"
    assert data["usage"]["input_tokens"] and data["raw"]["results"][0]["outputText"] == data["text"]


def test_ask_failure_is_one_line_naming_the_model_and_exit_1(provider_server, capsys):
    provider_server.script("gpt-4", [403])
    assert run_cli("ask", "gpt-4", PROMPT) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("gpt-4: access_denied (HTTP 403)") and "\n" not in err
    assert PROVIDER_OPENAI_KEY not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ask", "nope", "hi"], "unknown model 'nope'"),
        (["ask", "gpt-4", "hi", "--catalog", "/nonexistent-dir"], "--catalog /nonexistent-dir"),
    ],
)
def test_ask_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ask", "gpt-4", "hi", "--param", "a=1", "--param", "a.b=2"], "--param a.b=2: a is already set to 1"),
        (["ask", "gpt-4", "hi", "--param", "a..b=2"], "--param a..b=2: a dotted key needs a name"),
        (["ask", "gpt-4", "hi", "--timeout", "-1"], "--timeout -1: must be a positive number"),
    ],
)
def test_ask_bad_params_are_one_line_and_exit_2(provider_server, argv, message, capsys):
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert provider_server.requests == []


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "notaurl", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME 'notaurl' is not a URL"),
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "ftp://127.0.0.1:1", "is not an http(s) URL"),
        ("AWS_REGION", "bad region!", "AWS_REGION 'bad region!' is not an AWS region name"),
        ("OPENAI_BASE_URL", "notaurl", "OPENAI_BASE_URL is 'notaurl', not an http(s) URL"),
        (
            "GEMINI_BASE_URL",
            "http://127.0.0.1:99999",
            "GEMINI_BASE_URL is 'http://127.0.0.1:99999', not an http(s) URL",
        ),
    ],
)
def test_ask_with_a_bad_endpoint_or_region_is_one_line_naming_the_variable(
    provider_server, monkeypatch, capsys, variable, value, message
):
    monkeypatch.setenv(variable, value)
    alias = {"OPENAI_BASE_URL": "gpt-4", "GEMINI_BASE_URL": "gemini-pro"}.get(variable, "claude-v2")
    assert run_cli("ask", alias, "hi") == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert provider_server.requests == []


def test_ask_prints_one_line_for_an_unexpected_error(provider_server, capsys):
    # a parameter of the wrong shape breaks the OpenAI body before it is sent: a typed failure, not a traceback
    assert run_cli("ask", "gpt-4", "hi", "--param", "messages=3") == 1
    err = capsys.readouterr().err
    assert err.startswith("gpt-4: error: TypeError:") and err.count("\n") == 1 and "Traceback" not in err


def test_ask_with_missing_credentials_says_what_to_set(monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert run_cli("ask", "gpt-4", "hi") == 2
    assert "set OPENAI_API_KEY" in capsys.readouterr().err


def test_models_lists_every_entry_with_credentials(provider_server, capsys):
    assert run_cli("models", "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_alias = {r["alias"]: r for r in rows}
    assert set(load_catalog()) == set(by_alias)
    assert by_alias["gpt-4"]["credentials"] and by_alias["j2-ultra"]["credentials"]
    assert not by_alias["local"]["credentials"]


@pytest.mark.parametrize("columns", [80, 100, 200])
def test_models_table_never_cuts_an_alias_or_a_model_id(provider_server, monkeypatch, capsys, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    assert run_cli("models") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "…" not in out and max(len(line) for line in lines) <= columns
    for spec in load_catalog().values():
        [row] = [line for line in lines if line.split() and line.split()[0] == spec.alias]
        assert spec.model_id in row.split()  # whole, on the model's own row
        assert spec.description.split()[0] in out
