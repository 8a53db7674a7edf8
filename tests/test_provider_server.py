"""The fake provider server against the real SDKs: boto3 (Bedrock), openai, and plain httpx (Gemini)."""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
from typing import Any

import boto3
import httpx
import openai
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from provider_server import (
    ProviderServer,
    embed_text,
    make_answer,
    start_subprocess_server,
    stop_subprocess_server,
)

PROMPT = (
    "You are tasked with creating a single sentence that encapsulates a specific sentiment, given topics "
    "from specified categories.\nThe sentiment is positive, with the topics:\n"
    "- Contexts or Scenarios: Work environment\n- Emotions: Deep gratitude\n- Objects: Coffee mug\n"
    "The output should be concise and limited to this sentence alone.\n"
)
TOPICS = ("Work environment", "Deep gratitude", "Coffee mug")
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=10, connect_timeout=5)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))


@pytest.fixture
def srv(aws_env: None):
    with ProviderServer(seed=0) as server:
        yield server


def bedrock(url: str | None, **config: Any):
    cfg = NO_RETRY.merge(Config(**config)) if config else NO_RETRY
    return boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=url, config=cfg)


def invoke(client, model_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    resp = client.invoke_model(
        modelId=model_id, body=json.dumps(body).encode(), contentType="application/json", accept="application/json"
    )
    return json.loads(resp["body"].read()), resp["ResponseMetadata"]["HTTPHeaders"]


def converse_body(text: str = PROMPT) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": text}]}], "inferenceConfig": {"maxTokens": 200}}


# --- Bedrock ------------------------------------------------------------------------------------------------


def test_invoke_model_four_families_exact_shapes(srv: ProviderServer) -> None:
    client = bedrock(srv.url)

    out, headers = invoke(client, "ai21.j2-ultra-v1", {"prompt": PROMPT, "maxTokens": 200})
    assert set(out) == {"id", "prompt", "completions"}
    assert out["prompt"]["text"] == PROMPT and len(out["prompt"]["tokens"]) == len(PROMPT.split())
    [completion] = out["completions"]
    assert completion["finishReason"] == {"reason": "endoftext"}
    answer = completion["data"]["text"]
    assert all(t in answer for t in TOPICS)
    assert len(completion["data"]["tokens"]) == len(answer.split())
    for name in (
        "x-amzn-bedrock-input-token-count",
        "x-amzn-bedrock-output-token-count",
        "x-amzn-bedrock-invocation-latency",
        "x-amzn-requestid",
    ):
        assert headers[name]
    assert headers["content-type"] == "application/json"
    assert int(headers["x-amzn-bedrock-output-token-count"]) == len(answer.split())

    out, _ = invoke(
        client, "amazon.titan-text-express-v1", {"inputText": PROMPT, "textGenerationConfig": {"maxTokenCount": 2048}}
    )
    assert set(out) == {"inputTextTokenCount", "results"}
    [result] = out["results"]
    assert set(result) == {"tokenCount", "outputText", "completionReason"}
    assert result["completionReason"] == "FINISH" and "Coffee mug" in result["outputText"]

    out, _ = invoke(
        client, "anthropic.claude-v2", {"prompt": f"\n\nHuman: {PROMPT}\n\nAssistant:", "max_tokens_to_sample": 200}
    )
    assert set(out) == {"completion", "stop_reason", "stop"}
    assert out["stop_reason"] == "stop_sequence" and out["stop"] == "\n\nHuman:"
    assert "Deep gratitude" in out["completion"]

    out, _ = invoke(client, "meta.llama2-70b-chat-v1", {"prompt": f"[INST] {PROMPT} [/INST]", "max_gen_len": 200})
    assert set(out) == {"generation", "prompt_token_count", "generation_token_count", "stop_reason"}
    assert out["stop_reason"] == "stop" and out["generation_token_count"] == len(out["generation"].split())

    assert [r["protocol"] for r in srv.requests] == ["bedrock-invoke"] * 4
    assert [r["status"] for r in srv.requests] == [200] * 4
    assert srv.requests[0]["json"] == {"prompt": PROMPT, "maxTokens": 200}


def test_invoke_model_validation_and_truncation(srv: ProviderServer) -> None:
    client = bedrock(srv.url)
    with pytest.raises(ClientError) as exc:  # Claude v2 insists on the Human/Assistant template
        invoke(client, "anthropic.claude-v2", {"prompt": PROMPT, "max_tokens_to_sample": 10})
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    out, _ = invoke(client, "ai21.j2-ultra-v1", {"prompt": PROMPT, "maxTokens": 3})
    assert len(out["completions"][0]["data"]["text"].split()) == 3
    assert out["completions"][0]["finishReason"]["reason"] == "length"


def test_converse_shape_and_model_id_with_colon(srv: ProviderServer) -> None:
    model_id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    resp = bedrock(srv.url).converse(modelId=model_id, system=[{"text": "Be brief."}], **converse_body())
    assert resp["output"]["message"]["role"] == "assistant"
    answer = resp["output"]["message"]["content"][0]["text"]
    assert all(t in answer for t in TOPICS)
    assert resp["stopReason"] == "end_turn"
    usage = resp["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"] and usage["outputTokens"] > 0
    assert resp["metrics"]["latencyMs"] >= 1
    [rec] = srv.requests
    assert rec["model"] == model_id and rec["protocol"] == "bedrock-converse"
    assert "%3A" in rec["path"]  # botocore URL-encodes the id; the server decodes it for matching
    assert rec["json"]["system"] == [{"text": "Be brief."}]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, "ThrottlingException"),
        (403, "AccessDeniedException"),
        (500, "InternalServerException"),
        (503, "ServiceUnavailableException"),
        (400, "ValidationException"),
        (408, "ModelTimeoutException"),
    ],
)
def test_bedrock_error_codes(srv: ProviderServer, status: int, code: str) -> None:
    srv.configure(model="ai21.j2-ultra-v1", always_status=status)
    srv.configure(model="*", always_status=None)
    client = bedrock(srv.url)
    with pytest.raises(ClientError) as exc:
        invoke(client, "ai21.j2-ultra-v1", {"prompt": PROMPT})
    assert exc.value.response["Error"]["Code"] == code
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        client.converse(modelId="ai21.j2-ultra-v1", **converse_body())
    assert exc.value.response["Error"]["Code"] == code
    # other models are unaffected
    assert invoke(client, "meta.llama2-13b-chat-v1", {"prompt": PROMPT})[0]["generation"]


def test_bedrock_through_env_endpoint(provider_server: ProviderServer) -> None:
    client = boto3.client("bedrock-runtime", config=NO_RETRY)  # endpoint + region + credentials from env
    resp = client.converse(modelId="amazon.nova-lite-v1:0", **converse_body())
    assert "Work environment" in resp["output"]["message"]["content"][0]["text"]
    auth = provider_server.requests[0]["headers"]["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=testing/")


# --- OpenAI -------------------------------------------------------------------------------------------------


def test_openai_sdk_chat_completions_embeddings_models(provider_server: ProviderServer) -> None:
    client = openai.OpenAI(max_retries=0)  # OPENAI_BASE_URL / OPENAI_API_KEY from the fixture
    chat = client.chat.completions.create(
        model="gpt-4",
        messages=[{"role": "system", "content": "You are an assistant"}, {"role": "user", "content": PROMPT}],
    )
    assert chat.object == "chat.completion" and chat.id.startswith("chatcmpl-") and chat.model == "gpt-4"
    assert chat.choices[0].finish_reason == "stop" and chat.choices[0].message.role == "assistant"
    assert all(t in chat.choices[0].message.content for t in TOPICS)
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens
    assert provider_server.requests[0]["headers"]["authorization"] == "Bearer sk-test-openai-key-123456"

    comp = client.completions.create(model="local-model", prompt=PROMPT, max_tokens=5)
    assert comp.object == "text_completion" and comp.choices[0].finish_reason == "length"
    assert len(comp.choices[0].text.split()) == 5

    texts = ["I love my work environment", "I love my work environment today", "Quarterly tax forms are due"]
    emb = client.embeddings.create(model="text-embedding-3-small", input=texts)  # SDK asks for base64
    vecs = [d.embedding for d in emb.data]
    assert [d.index for d in emb.data] == [0, 1, 2] and all(len(v) == 64 for v in vecs)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5 for v in vecs)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(vecs[0], vecs[1]) > 0.8 > cos(vecs[0], vecs[2])
    floats = client.embeddings.create(model="text-embedding-3-small", input=texts[0], encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(embed_text(texts[0]))
    assert "gpt-4" in {m.id for m in client.models.list()}
    assert [r["protocol"] for r in provider_server.requests] == [
        "openai-chat",
        "openai-completions",
        "openai-embeddings",
        "openai-embeddings",
    ]


def test_openai_sdk_errors(srv: ProviderServer) -> None:
    client = openai.OpenAI(api_key="sk-test", base_url=f"{srv.url}/v1", max_retries=0)
    srv.configure(model="gpt-4", always_status=429, retry_after=2)
    with pytest.raises(openai.RateLimitError) as exc:
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    assert exc.value.response.headers["retry-after"] == "2"
    assert exc.value.body["code"] == "rate_limit_exceeded" and exc.value.body["param"] is None
    srv.configure(model="gpt-4", always_status=500)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    srv.configure(model="gpt-4", always_status=403)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    srv.openai_api_key = "sk-right"
    with pytest.raises(openai.AuthenticationError) as auth:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert auth.value.body["code"] == "invalid_api_key"


def test_echo_key_puts_the_request_credential_in_the_error_body(srv: ProviderServer) -> None:
    srv.configure(model="*", always_status=401, echo_key=True)
    client = openai.OpenAI(api_key="sk-echoed-secret-123456", base_url=f"{srv.url}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    assert "sk-echoed-secret-123456" in caught.value.body["message"]
    with httpx.Client() as http:
        r = http.post(
            f"{srv.url}/v1beta/models/gemini-pro:generateContent",
            headers={"x-goog-api-key": "g-key-98765"},
            json={"contents": [{"parts": [{"text": "hi"}]}]},
        )
    assert r.status_code == 401 and "g-key-98765" in r.json()["error"]["message"]
    with pytest.raises(ClientError) as bedrock_error:
        invoke(bedrock(srv.url), "ai21.j2-ultra-v1", {"prompt": "hi"})
    assert "testing" in bedrock_error.value.response["Error"]["Message"]  # the access key id of aws_env


# --- Gemini -------------------------------------------------------------------------------------------------


def test_gemini_generate_content_and_key_handling(provider_server: ProviderServer) -> None:
    url = f"{provider_server.url}/v1beta/models/gemini-2.5-flash:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}], "generationConfig": {"maxOutputTokens": 800}}
    with httpx.Client() as http:
        r = http.post(url, json=body, headers={"x-goog-api-key": "test-gemini-key-123456"})
        assert r.status_code == 200
        out = r.json()
        [cand] = out["candidates"]
        assert cand["finishReason"] == "STOP" and cand["index"] == 0 and cand["content"]["role"] == "model"
        assert all(t in cand["content"]["parts"][0]["text"] for t in TOPICS) and cand["safetyRatings"]
        usage = out["usageMetadata"]
        assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
        assert out["modelVersion"] == "gemini-2.5-flash"

        missing = http.post(url, json=body)
        assert missing.status_code == 403 and missing.json()["error"]["status"] == "PERMISSION_DENIED"
        wrong = http.post(url, json=body, headers={"x-goog-api-key": "nope"})
        assert wrong.status_code == 400
        assert wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"

        provider_server.script(model="gemini-2.5-flash", statuses=[429, 500, 503, 400])
        key = {"x-goog-api-key": "test-gemini-key-123456"}
        errors = [http.post(url, json=body, headers=key).json()["error"] for _ in range(4)]
        assert [(e["code"], e["status"]) for e in errors] == [
            (429, "RESOURCE_EXHAUSTED"),
            (500, "INTERNAL"),
            (503, "UNAVAILABLE"),
            (400, "INVALID_ARGUMENT"),
        ]

        leaky = http.post(url, params={"key": "test-gemini-key-123456"}, json=body)
        assert leaky.status_code == 200  # accepted like Google does, but recorded:
    urls = [r["url"] for r in provider_server.requests]
    assert not any("test-gemini-key" in u for u in urls[:-1])
    assert urls[-1].endswith("?key=test-gemini-key-123456") and provider_server.requests[-1]["query"]


# --- behaviour control --------------------------------------------------------------------------------------


def test_script_order_then_random_behaviour(srv: ProviderServer) -> None:
    client = openai.OpenAI(api_key="sk-test", base_url=f"{srv.url}/v1", max_retries=0)
    srv.script(model="gpt-4", statuses=[429, 500, 200, "malformed"])
    seen = []
    for _ in range(6):
        try:
            r = client.chat.completions.with_raw_response.create(
                model="gpt-4", messages=[{"role": "user", "content": PROMPT}]
            )
            seen.append((r.status_code, "choices" in json.loads(r.text)))
        except openai.APIStatusError as exc:
            seen.append((exc.status_code, False))
    assert seen == [(429, False), (500, False), (200, True), (200, False), (200, True), (200, True)]
    assert [r["status"] for r in srv.requests_for(model="gpt-4")] == [429, 500, 200, 200, 200, 200]


def test_probabilities_are_seeded_and_reproducible(aws_env: None) -> None:
    def run() -> list[int]:
        with ProviderServer(seed=7, p429=0.3, p500=0.2) as server, httpx.Client() as http:
            return [
                http.post(
                    f"{server.url}/v1/chat/completions",
                    json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
                ).status_code
                for _ in range(60)
            ]

    first = run()
    assert first == run()
    assert 8 <= first.count(429) <= 30 and 4 <= first.count(500) <= 22 and first.count(200) >= 20


def test_malformed_timeout_and_fast_shutdown(srv: ProviderServer) -> None:
    srv.configure(model="*", p_malformed=1.0)
    with httpx.Client() as http:
        bodies = [
            http.post(
                f"{srv.url}/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": str(i)}]}
            )
            for i in range(12)
        ]
    assert all(b.status_code == 200 for b in bodies)
    parsed = []
    for b in bodies:
        try:
            parsed.append(b.json())
        except ValueError:
            parsed.append(None)
    assert {"unexpected": True} in parsed and None in parsed
    assert not any(isinstance(p, dict) and "choices" in p for p in parsed)

    srv.configure(model="*", p_malformed=0.0, p_timeout=1.0, timeout_sleep=30)
    client = bedrock(srv.url, read_timeout=0.3)
    with pytest.raises(ReadTimeoutError):
        invoke(client, "ai21.j2-ultra-v1", {"prompt": PROMPT})
    [sleeper] = srv.requests_for(model="ai21.j2-ultra-v1")
    assert sleeper["outcome"] == "timeout" and sleeper["status"] is None  # still hanging after the client gave up
    srv.stop()  # wakes the 30 s sleeper instead of waiting for it (how long that takes: bench_provider_server.py)
    for _ in range(500):  # the sleeper's thread records it was dropped; a sleeper left asleep never would
        if sleeper["outcome"] == "dropped":
            break
        time.sleep(0.01)
    assert sleeper["outcome"] == "dropped" and sleeper["status"] is None


def test_trickle_sends_a_valid_answer_one_byte_at_a_time_and_stop_cuts_it_short(srv: ProviderServer) -> None:
    body = json.dumps({"model": "gpt-4", "messages": [{"role": "user", "content": PROMPT}]})
    srv.configure(model="gpt-4", trickle=0.001)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json"})
    response = conn.getresponse()
    sizes = []
    while chunk := response.read1(4096):  # what arrives per read: a byte or a few, never the whole body
        sizes.append(len(chunk))
    assert max(sizes) < 16 and sum(sizes) == int(response.headers["content-length"]) > 300
    conn.close()
    [first] = srv.requests
    assert first["trickle"] == 0.001 and first["status"] == 200

    srv.configure(model="gpt-4", trickle=None)
    srv.script("gpt-4", ["trickle"])  # a scripted trickle: 0.3 s per byte unless the model sets its own
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200 and len(response.read1(4096)) == 1
    started = time.monotonic()
    srv.stop()  # mid-trickle: the connection is dropped, not held for the minutes the body would take
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    assert time.monotonic() - started < 5
    assert srv.requests[-1]["trickle"] == 0.3


def test_concurrent_slow_requests_do_not_block_each_other(srv: ProviderServer) -> None:
    srv.configure(model="*", latency=0.5, jitter=0.1)
    n = 128
    results: list[int] = []
    lock = threading.Lock()
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "q"}]})

    def one() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        try:
            for _ in range(2):  # the second request reuses the kept-alive connection
                conn.request("POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json"})
                response = conn.getresponse()
                response.read()
                with lock:
                    results.append(response.status)
        finally:
            conn.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * (2 * n)
    # Requests wait out their latency together, not one after another (serialised, the peak would be 1). The
    # wall time this saves is measured in benchmarks/bench_provider_server.py, not asserted here.
    assert srv.peak_in_flight >= n // 2, srv.peak_in_flight
    delays = [r["delay"] for r in srv.requests]
    assert all(0.4 <= d <= 0.6 for d in delays) and max(delays) - min(delays) > 0.05


def test_answers_are_deterministic_and_llama_chatter(srv: ProviderServer) -> None:
    assert make_answer(PROMPT, "gpt-4") == make_answer(PROMPT, "gpt-4")
    negative = make_answer(PROMPT.replace("positive", "negative"), "gpt-4")
    assert all(t in negative for t in TOPICS) and negative != make_answer(PROMPT, "gpt-4")
    prompts = [PROMPT.replace("Coffee mug", f"Coffee mug {i}") for i in range(24)]
    wrapped = [make_answer(p, "meta.llama2-70b-chat-v1") for p in prompts]
    assert any(w.startswith("Sure! Here's a sentence") for w in wrapped)
    assert any(w.endswith("Can I help you with anything else?") for w in wrapped)
    assert any("Please let me know if this meets your requirements." in w for w in wrapped)
    assert any("\n" not in w for w in wrapped)
    assert all("\n" not in make_answer(p, "meta.llama2-70b-chat-v1", chatter=False) for p in prompts)

    client = bedrock(srv.url)
    srv.configure(model="meta.llama2*", chatter=False)
    out, _ = invoke(client, "meta.llama2-70b-chat-v1", {"prompt": prompts[0]})
    assert out["generation"] == make_answer(prompts[0], "meta.llama2-70b-chat-v1", chatter=False)
    srv.configure(model="meta.llama2-70b-chat-v1", answer="fixed")
    assert invoke(client, "meta.llama2-70b-chat-v1", {"prompt": PROMPT})[0]["generation"] == "fixed"
    srv.reset()
    assert srv.requests == [] and srv.behaviour("meta.llama2-70b-chat-v1")["answer"] is None


def test_subprocess_server_with_control_endpoints(aws_env: None) -> None:
    proc, url = start_subprocess_server(
        seed=1, latency=0.0, p429=0.0, chatter=False, model_config={"ai21.j2-ultra-v1": {"always_status": 503}}
    )
    try:
        client = bedrock(url)
        with pytest.raises(ClientError) as exc:
            invoke(client, "ai21.j2-ultra-v1", {"prompt": PROMPT})
        assert exc.value.response["Error"]["Code"] == "ServiceUnavailableException"
        with httpx.Client(base_url=url) as http:
            clear = {"model": "ai21.j2-ultra-v1", "always_status": None}
            cleared = http.post("/_control/configure", json=clear)
            assert cleared.json() == {"ok": True}
            assert invoke(client, "ai21.j2-ultra-v1", {"prompt": PROMPT})[0]["completions"]
            assert http.post("/_control/script", json={"model": "*", "statuses": [429]}).json()["ok"]
            with pytest.raises(ClientError) as exc:
                client.converse(modelId="amazon.nova-lite-v1:0", **converse_body())
            assert exc.value.response["Error"]["Code"] == "ThrottlingException"
            records = http.get("/_control/requests").json()
            assert [r["status"] for r in records] == [503, 200, 429]
            [last] = http.get("/_control/requests", params={"since": 2}).json()
            assert last["model"] == "amazon.nova-lite-v1:0"
            assert http.get("/_control/stats").json()["total"] == 3
            assert http.post("/_control/reset").json()["ok"]
            assert http.get("/_control/requests").json() == []
    finally:
        assert stop_subprocess_server(proc) == 0
