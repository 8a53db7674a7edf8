"""OpenAI chat completions over plain HTTP (httpx2); serves OpenAI and every OpenAI-compatible server.

The request is the one the openai SDK sent for synthgen (`POST {base}/chat/completions`, the key as a Bearer
token, OpenAI-Organization / OpenAI-Project from OPENAI_ORG_ID / OPENAI_PROJECT_ID, redirects followed), without
the SDK's own work per request (its request options, headers and error types: about 0.45 ms of CPU a request,
benchmarks/bench_transport.py). Its failures read as they did: `HTTP 429: Error code: 429 - <message>`. The SDK
stays where it serves: the Batch API's control plane (synthgen.batch.openai_batch) and the OpenAI embedder.

`options.endpoint = "completions"` switches an entry to the plain /v1/completions endpoint (llama.cpp, llamafile);
there `options.few_shot_template` builds a base model's few-shot prompt from the round (as in llama-cpp, see
`adapters.fewshot`), a copy of a worked example is a failed answer, and a retried round is sent with another seed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import httpx2

from ..catalog import ModelSpec
from ..results import FailureKind
from .base import ProviderError, build_body, label_schema, retry_after_seconds
from .fewshot import FewShotCompletion, completion_prompt, round_seed
from .transport import HTTPAdapter, http_client, json_or_text, transport_error

NO_KEY = "sk-no-key-required"  # what a local server is sent without a key (as the SDK sent it: the batch plane does)
OPENAI_URL = "https://api.openai.com/v1"


class OpenAIChatAdapter(FewShotCompletion, HTTPAdapter):
    protocol = "openai-chat"

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self._http: httpx2.AsyncClient | None = None
        self._headers: dict[str, dict[str, str]] = {}  # per key: the headers of every request made with it

    def _client(self) -> httpx2.AsyncClient:
        if self._http is None:
            # redirects followed, as the SDK's client did (httpx2 drops the Authorization header across origins)
            self._http = http_client(self.max_connections, self.timeout, follow_redirects=True)
        return self._http

    def _headers_for(self, spec: ModelSpec) -> dict[str, str]:
        key = spec.api_key() or (NO_KEY if spec.key_optional else "")
        headers = self._headers.get(key)
        if headers is None:
            headers = {"accept": "application/json"}
            if key:
                headers["authorization"] = f"Bearer {key}"
            for name, variable in (("openai-organization", "OPENAI_ORG_ID"), ("openai-project", "OPENAI_PROJECT_ID")):
                if os.environ.get(variable):
                    headers[name] = os.environ[variable]
            self._headers[key] = headers
        return headers

    def url(self, spec: ModelSpec) -> str:
        base = spec.resolved_base_url() or os.environ.get("OPENAI_BASE_URL", "").rstrip("/") or OPENAI_URL
        return f"{base}/completions" if self.endpoint(spec) == "completions" else f"{base}/chat/completions"

    @staticmethod
    def model_name(spec: ModelSpec) -> str:
        env = spec.options.get("model_id_env")
        return os.environ.get(env, spec.model_id) if env else spec.model_id

    @staticmethod
    def endpoint(spec: ModelSpec) -> str:
        return spec.options.get("endpoint", "chat")

    @classmethod
    def completes_fewshot(cls, spec: ModelSpec) -> bool:
        return bool(spec.options.get("few_shot_template")) and cls.endpoint(spec) == "completions"

    def build_body(
        self,
        spec: ModelSpec,
        prompt: str,
        params: Mapping[str, Any] | None = None,
        *,
        round: Any = None,
        attempt: int = 0,
    ) -> dict[str, Any]:
        if self.endpoint(spec) == "completions":
            body = {"prompt": completion_prompt(spec, prompt, round), **spec.merged_params(params)}
            if "seed" in body:
                body["seed"] = round_seed(body["seed"], round, attempt)
        else:
            body = build_body(spec, prompt, params)
            if spec.system:
                body["messages"] = [{"role": "system", "content": spec.system}, *body.get("messages", [])]
        return {"model": self.model_name(spec), **body}

    @classmethod
    def judge_params(cls, spec: ModelSpec, labels: tuple[str, ...]) -> dict[str, Any]:
        """Structured output: `response_format` with a strict JSON schema whose label is an enum."""
        schema = {"name": "verdict", "strict": True, "schema": label_schema(labels)}
        return {"temperature": 0, "response_format": {"type": "json_schema", "json_schema": schema}}

    async def _send(self, spec: ModelSpec, body: dict[str, Any]) -> tuple[Any, Mapping[str, str]]:
        try:
            response = await self._client().post(self.url(spec), json=body, headers=self._headers_for(spec))
        except httpx2.RequestError as exc:  # no HTTP answer (refused, reset, a phase timeout, a redirect loop)
            raise transport_error(exc) from None
        status = response.status_code
        if not 200 <= status < 300:
            raise ProviderError.from_status(
                status,
                f"HTTP {status}: {status_message(status, response)}",
                retry_after=retry_after_seconds(response.headers),
                raw=json_or_text(response),
            )
        data = json_or_text(response)
        if not isinstance(data, dict):
            raise ProviderError(
                FailureKind.ANSWER_MISSING, f"response body is not a JSON object: {str(data)[:120]!r}", raw=data
            )
        return data, response.headers

    @classmethod
    def credentials_present(cls, spec: ModelSpec) -> bool:
        if spec.key_optional:  # a local server: configured when its address is (a table's list of them counts)
            return bool(spec.base_urls or (spec.base_url_env and os.environ.get(spec.base_url_env)))
        return bool(spec.api_key())

    @classmethod
    def credentials_hint(cls, spec: ModelSpec) -> str:
        if spec.key_optional:
            return f"start an OpenAI-compatible server and set {spec.base_url_env} to its /v1 address"
        return f"set {spec.api_key_env} (and {spec.base_url_env} for another endpoint)"

    async def aclose(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()


def status_message(status: int, response: httpx2.Response) -> str:
    """An error answer's message as the openai SDK wrote it: `Error code: 404 - <the body's error.message>`."""
    message = f"Error code: {status}"
    try:
        body = json.loads(response.text.strip())
    except Exception:  # noqa: BLE001 - not JSON (or past any sane nesting): the status is the message
        return message
    error = body.get("error", body) if isinstance(body, dict) else None
    detail = error.get("message") if isinstance(error, dict) else None
    return f"{message} - {detail}" if isinstance(detail, str) and detail else message
