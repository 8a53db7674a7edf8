"""Bedrock Converse: one message-shaped body for every current model (Claude 3+, Llama 3+, Nova, Mistral)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..catalog import ModelSpec
from ._aws import AWS_HINT, BedrockRuntime, aws_credentials_present
from .base import Adapter, build_body


class BedrockConverseAdapter(Adapter):
    protocol = "bedrock-converse"

    def __init__(self, *, runtime: BedrockRuntime | None = None, **kw: Any):
        super().__init__(**kw)
        self.runtime = runtime or BedrockRuntime(self.max_connections, self.timeout)

    def build_body(self, spec: ModelSpec, prompt: str, params: Mapping[str, Any] | None = None, *,
                   round: Any = None) -> dict[str, Any]:
        body = build_body(spec, prompt, params)
        if spec.system and "system" not in body:
            body["system"] = [{"text": spec.system}]
        return body

    async def _send(self, spec: ModelSpec, body: dict[str, Any]) -> tuple[Any, Mapping[str, str]]:
        response = await self.runtime.run("converse", modelId=spec.model_id, **body)
        headers = response.pop("ResponseMetadata", {}).get("HTTPHeaders", {})
        return response, headers

    @classmethod
    def credentials_present(cls, spec: ModelSpec) -> bool:
        return aws_credentials_present()

    @classmethod
    def credentials_hint(cls, spec: ModelSpec) -> str:
        return AWS_HINT

    async def aclose(self) -> None:
        self.runtime.close()
