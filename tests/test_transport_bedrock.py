"""Bedrock's runtime calls over httpx2, signed with botocore's SigV4: what goes on the wire is exactly what was
signed and what boto3 would send, credentials that refresh are re-read, and no credential is ever kept."""

from __future__ import annotations

import asyncio
import http.server
import json
import sqlite3
import sys
import threading

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials

from synthgen.adapters import Adapters
from synthgen.catalog import load_catalog
from synthgen.generation import generate
from synthgen.results import FailureKind

PROMPT = "The sentiment is positive, with the topics:\n- Contexts or Scenarios: Work environment"
ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"


def call(alias, catalog=None, n=1, timeout=5.0):
    spec = (catalog or load_catalog())[alias]

    async def run():
        adapters = Adapters(timeout=timeout)
        try:
            return [await adapters.for_spec(spec).call(spec, PROMPT) for _ in range(n)]
        finally:
            await adapters.aclose()

    return asyncio.run(run())


class Capture(http.server.BaseHTTPRequestHandler):
    """Keeps each request's raw bytes, answers as Converse does."""

    seen: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["content-length"]))
        Capture.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        answer = json.dumps(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "A sentence."}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def capture(provider_server, monkeypatch):
    Capture.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", f"http://127.0.0.1:{server.server_port}")
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_the_request_sent_is_the_request_signed(capture):
    """Recompute the signature from the bytes that arrived (path as sent, body as sent, the signed headers):
    it matches, so nothing between the signer and the socket changed the request."""
    [result] = call("claude-haiku")
    assert result.ok, result.failure
    [(path, headers, body)] = Capture.seen
    assert path == "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    assert json.loads(body)["messages"] == [{"role": "user", "content": [{"text": PROMPT}]}]
    auth = headers["authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert signed == ["accept", "content-type", "host", "x-amz-date"]
    again = AWSRequest(method="POST", url=capture + path, data=body, headers={h: headers[h] for h in signed})
    again.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(ReadOnlyCredentials("testing", "testing", None), "bedrock", "us-east-1")
    canonical = signer.canonical_request(again)
    assert "%253A0" in canonical  # the label's %3A encoded once more in the canonical URI, as AWS expects
    expected = signer.signature(signer.string_to_sign(again, canonical), again)
    assert auth.endswith(f"Signature={expected}")


def test_model_ids_with_colons_and_slashes_reach_the_path_as_boto3_sends_them(provider_server, tmp_path):
    (tmp_path / "arn.toml").write_text(f'[models.arn-haiku]\nbase = "claude-haiku"\nmodel_id = "{ARN}"\n')
    [result] = call("arn-haiku", catalog=load_catalog(tmp_path))
    assert result.ok, result.failure
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    boto3.client("bedrock-runtime", config=config).converse(
        modelId=ARN, messages=[{"role": "user", "content": [{"text": PROMPT}]}]
    )
    ours, boto3s = provider_server.requests
    assert ours["path"] == boto3s["path"] == f"/model/{ARN.replace(':', '%3A').replace('/', '%2F')}/converse"
    assert ours["model"] == ARN


def test_the_provider_server_refuses_a_request_that_is_not_sigv4_signed(provider_server):
    import httpx2

    url = f"{provider_server.url}/model/anthropic.claude-v2/invoke"
    for auth in ("Bearer abc", "AWS4-HMAC-SHA256 Credential=x/20250101/us-east-1/s3/aws4_request, SignedHeaders=host"):
        response = httpx2.post(url, json={"prompt": "\n\nHuman: hi\n\nAssistant:"}, headers={"authorization": auth})
        assert response.status_code == 403
        assert response.headers["x-amzn-errortype"].startswith("IncompleteSignatureException")
    [result] = call("claude-v2")  # and takes ours
    assert result.ok


CREDENTIAL_PROCESS = """
import json, sys, datetime
from pathlib import Path
counter = Path(sys.argv[1])
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)  # inside botocore's refresh window
print(json.dumps({"Version": 1, "AccessKeyId": f"ASIAROTATING{n:08d}", "SecretAccessKey": f"secret-{n}-0123456789",
                  "SessionToken": f"session-token-{n}-0123456789", "Expiration": soon.isoformat()}))
"""


def test_refreshable_credentials_are_re_read_per_request_and_never_stored(provider_server, tmp_path, monkeypatch):
    """A credential process whose credentials near expiry at once: every request gets fresh ones (refreshed in a
    thread), each signed with its own key id and token, and none of them reaches a record."""
    script = tmp_path / "creds.py"
    script.write_text(CREDENTIAL_PROCESS)
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\ncredential_process = {sys.executable} {script} {tmp_path / 'n'}\n")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    db = tmp_path / "s.db"
    summary = generate(rounds=3, models=["claude-v2"], store=f"sqlite:///{db}", seed=1, concurrency=1)
    assert summary.ok == 3
    auths = [r["headers"]["authorization"] for r in provider_server.requests]
    key_ids = [a.split("Credential=")[1].split("/")[0] for a in auths]
    assert len(set(key_ids)) == 3 and all(k.startswith("ASIAROTATING") for k in key_ids)
    tokens = [r["headers"]["x-amz-security-token"] for r in provider_server.requests]
    assert len(set(tokens)) == 3 and all("x-amz-security-token" in a for a in auths)
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    for secret in [*key_ids, *tokens, "secret-1-", "Signature=", "ASIAROTATING"]:
        assert secret not in dump


def test_bedrock_errors_are_typed_from_the_error_type_header_with_retry_after(provider_server):
    provider_server.configure(model="*", retry_after=3)
    provider_server.script("us.anthropic.claude-3-5-haiku-20241022-v1:0", [429, 503, 403, 400])
    throttled, unavailable, denied, invalid = call("claude-haiku", n=4)
    assert throttled.failure.kind is FailureKind.THROTTLED and throttled.failure.retry_after == 3
    assert throttled.failure.message == "ThrottlingException: Too many requests, please wait before trying again."
    assert unavailable.failure.kind is FailureKind.TRANSIENT and unavailable.failure.status == 503
    assert denied.failure.kind is FailureKind.ACCESS_DENIED
    assert invalid.failure.kind is FailureKind.INVALID_REQUEST
    assert invalid.raw == {"message": "The provided request is not valid."}


def test_an_error_body_quoting_the_credential_is_redacted(provider_server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "plainkeyid-0123456789")  # not AKIA-shaped: only its value gives it away
    provider_server.configure(model="*", always_status=403, echo_key=True)
    [result] = call("claude-v2")
    assert "Credential=plainkeyid-0123456789/" in provider_server.requests[0]["headers"]["authorization"]
    blob = json.dumps(result.to_dict())
    assert result.failure.kind is FailureKind.ACCESS_DENIED
    assert "plainkeyid-0123456789" not in blob and "credential received: ***" in blob


def test_missing_credentials_are_access_denied_and_nothing_is_sent(provider_server, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    [result] = call("claude-v2")
    assert result.failure.kind is FailureKind.ACCESS_DENIED
    assert result.failure.message.startswith("Unable to locate credentials; set AWS credentials")
    assert provider_server.requests == []


def test_many_bedrock_requests_are_in_flight_together_without_a_thread_each(provider_server):
    provider_server.configure(model="*", latency=1.0)
    spec = load_catalog()["llama2"]
    before = {t.name for t in threading.enumerate()}

    async def run():
        adapters = Adapters(max_connections=100, timeout=30)
        try:
            adapter = adapters.for_spec(spec)
            results = await asyncio.gather(*(adapter.call(spec, PROMPT) for _ in range(100)))
            return results, {t.name for t in threading.enumerate()}
        finally:
            await adapters.aclose()

    results, during = asyncio.run(run())
    assert all(r.ok for r in results)
    assert provider_server.peak_in_flight >= 90  # no pool of 16 (or of threads) in the way
    client_threads = {n for n in during - before if not n.startswith("Thread-")}  # the server's are "Thread-N"
    assert len(client_threads) <= 1, client_threads  # at most asyncio's one helper thread (the setup, once)


def test_the_runtime_is_shared_by_both_bedrock_protocols(provider_server):
    catalog = load_catalog()
    adapters = Adapters()
    invoke, converse = adapters.for_spec(catalog["claude-v2"]), adapters.for_spec(catalog["claude-haiku"])
    assert invoke.runtime is converse.runtime
