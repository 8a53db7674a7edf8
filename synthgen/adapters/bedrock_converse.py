"""Bedrock Converse: one message-shaped body for every current model (Claude 3+, Llama 3+, Nova, Mistral)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..catalog import ModelSpec
from .base import build_body, label_schema
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

    @classmethod
    def judge_params(cls, spec: ModelSpec, labels: tuple[str, ...]) -> dict[str, Any]:
        """Structured output the Converse way: one tool whose input schema's label is an enum, and the model made
        to call it (the verdict is the tool call's input, `output.message.content[].toolUse.input`)."""
        tool = {
            "name": "classify",
            "description": "Record the one label that fits the text.",
            "inputSchema": {"json": label_schema(labels)},
        }
        return {
            "inferenceConfig": {"temperature": 0},
            "toolConfig": {"tools": [{"toolSpec": tool}], "toolChoice": {"tool": {"name": "classify"}}},
        }

    async def _send(self, spec: ModelSpec, body: dict[str, Any]) -> tuple[Any, Mapping[str, str]]:
        # Converse's JSON body is the API's request minus the model id, which travels in the path
        return await self._post(spec, "converse", body)
