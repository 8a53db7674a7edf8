"""OpenAI chat completions through the openai SDK; serves OpenAI and every OpenAI-compatible server.

`options.endpoint = "completions"` switches an entry to the plain /v1/completions endpoint (llama.cpp, llamafile);
there `options.few_shot_template` builds a base model's few-shot prompt from the round (as in llama-cpp, see
`adapters.fewshot`), a copy of a worked example is a failed answer, and a retried round is sent with another seed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..catalog import ModelSpec
from ..results import FailureKind
from .base import ProviderError, build_body, label_schema, retry_after_seconds
from .fewshot import FewShotCompletion, completion_prompt, round_seed
from .transport import HTTPAdapter, client_options, json_or_text

NO_KEY = "sk-no-key-required"  # local servers ignore the key, the SDK insists on one


class OpenAIChatAdapter(FewShotCompletion, HTTPAdapter):
    protocol = "openai-chat"

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self._clients: dict[tuple[str | None, str], Any] = {}

    def _client(self, spec: ModelSpec) -> Any:
        import openai

        key = spec.api_key() or (NO_KEY if spec.key_optional else "")
        base = spec.resolved_base_url()
        cache_key = (base, key)
        if cache_key not in self._clients:
            options = client_options(self.max_connections, self.timeout)
            # The SDK's own httpx2 client with its defaults (redirects followed), sized to what can be in flight,
            # over synthgen's pool (transport.client_options)
            self._clients[cache_key] = openai.AsyncOpenAI(
                api_key=key,
                base_url=base,
                max_retries=0,
                timeout=options["timeout"],
                http_client=openai.DefaultAsyncHttpxClient(**options),
            )
        return self._clients[cache_key]

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
        import httpx2
        import openai

        client = self._client(spec)
        path = "/completions" if self.endpoint(spec) == "completions" else "/chat/completions"
        try:
            # The SDK's generic post: its auth, base URL, timeouts and typed errors, without re-validating a body
            # the table already shaped; the raw response keeps the provider's JSON exactly as sent.
            http = await client.post(path, body=body, cast_to=httpx2.Response)
        except openai.APIStatusError as exc:
            raise ProviderError.from_status(
                exc.status_code,
                f"HTTP {exc.status_code}: {exc.message}",
                retry_after=retry_after_seconds(exc.response.headers),
                raw=json_or_text(exc.response),
            ) from None
        except openai.APITimeoutError:
            raise ProviderError(FailureKind.TRANSIENT, "timeout") from None
        except openai.APIConnectionError as exc:
            raise ProviderError(FailureKind.TRANSIENT, f"connection failed: {exc}") from None
        data = json_or_text(http)
        if not isinstance(data, dict):
            raise ProviderError(
                FailureKind.ANSWER_MISSING, f"response body is not a JSON object: {str(data)[:120]!r}", raw=data
            )
        return data, http.headers

    @classmethod
    def credentials_present(cls, spec: ModelSpec) -> bool:
        if spec.key_optional:  # a local server: configured when its address is
            return bool(spec.base_url_env and os.environ.get(spec.base_url_env))
        return bool(spec.api_key())

    @classmethod
    def credentials_hint(cls, spec: ModelSpec) -> str:
        if spec.key_optional:
            return f"start an OpenAI-compatible server and set {spec.base_url_env} to its /v1 address"
        return f"set {spec.api_key_env} (and {spec.base_url_env} for another endpoint)"

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
