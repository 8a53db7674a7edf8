"""Bedrock Converse: one message-shaped body for every current model (Claude 3+, Llama 3+, Nova, Mistral)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..catalog import ModelSpec
from .base import build_body
from .bedrock_http import BedrockAdapter


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
        # Converse's JSON body is the API's request minus the model id, which travels in the path
        return await self._post(spec, "converse", body)
