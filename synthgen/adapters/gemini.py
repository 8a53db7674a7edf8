"""Gemini generateContent over plain HTTP (httpx2). The key travels in the x-goog-api-key header, never in the URL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx2

from ..catalog import ModelSpec
from ..results import FailureKind
from .base import ProviderError, retry_after_seconds
from .transport import HTTPAdapter, http_client, transport_error


class GeminiAdapter(HTTPAdapter):
    protocol = "gemini"

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self._http: httpx2.AsyncClient | None = None

    def _client(self) -> httpx2.AsyncClient:
        if self._http is None:
            self._http = http_client(self.max_connections, self.timeout)
        return self._http

    @staticmethod
    def url(spec: ModelSpec) -> str:
        return f"{spec.resolved_base_url()}/v1beta/models/{quote(spec.model_id, safe='.-_')}:generateContent"

    @classmethod
    def judge_params(cls, spec: ModelSpec, labels: tuple[str, ...]) -> dict[str, Any]:
        """Structured output: a JSON answer with `responseSchema`, the label an enum (OpenAPI's types)."""
        schema = {
            "type": "OBJECT",
            "properties": {"label": {"type": "STRING", "enum": list(labels)}, "confidence": {"type": "NUMBER"}},
            "required": ["label", "confidence"],
        }
        config = {"temperature": 0, "responseMimeType": "application/json", "responseSchema": schema}
        return {"generationConfig": config}

    async def _send(self, spec: ModelSpec, body: dict[str, Any]) -> tuple[Any, Mapping[str, str]]:
        headers = {"x-goog-api-key": spec.api_key() or "", "content-type": "application/json"}
        try:
            response = await self._client().post(self.url(spec), json=body, headers=headers)
        except httpx2.TransportError as exc:
            raise transport_error(exc) from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            error = data.get("error") if isinstance(data, dict) else None  # a proxy may send {"error": "text"}
            detail = (
                error.get("message", "") if isinstance(error, dict) else str(error) if error else response.text[:200]
            )
            raise ProviderError.from_status(
                response.status_code,
                f"HTTP {response.status_code}: {detail}",
                retry_after=retry_after_seconds(response.headers),
                raw=data if data is not None else response.text[:2000],
            )
        if data is None:
            raise ProviderError(
                FailureKind.ANSWER_MISSING,
                f"response body is not JSON: {response.text[:120]!r}",
                raw=response.text[:2000],
            )
        return data, response.headers

    @classmethod
    def credentials_present(cls, spec: ModelSpec) -> bool:
        return bool(spec.api_key())

    @classmethod
    def credentials_hint(cls, spec: ModelSpec) -> str:
        return f"set {spec.api_key_env} (and {spec.base_url_env} for another endpoint)"

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
