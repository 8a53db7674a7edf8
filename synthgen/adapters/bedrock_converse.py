"""Bedrock Converse: one message-shaped body for every current model (Claude 3+, Llama 3+, Nova, Mistral)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..catalog import ModelSpec
from ._aws import BedrockAdapter
from .base import build_body


class BedrockConverseAdapter(BedrockAdapter):
    protocol = "bedrock-converse"

    def build_body(
        self,
        spec: ModelSpec,
        prompt: str,
        params: Mapping[str, Any] | None = None,
        *,
        round: Any = None,
        attempt: int = 0,
    ) -> dict[str, Any]:
        body = build_body(spec, prompt, params)
        if spec.system and "system" not in body:
            body["system"] = [{"text": spec.system}]
        return body

    async def _send(self, spec: ModelSpec, body: dict[str, Any]) -> tuple[Any, Mapping[str, str]]:
        response = await self.runtime.run("converse", modelId=spec.model_id, **body)
        headers = response.pop("ResponseMetadata", {}).get("HTTPHeaders", {})
        return response, headers
