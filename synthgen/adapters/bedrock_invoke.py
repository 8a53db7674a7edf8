"""Bedrock InvokeModel: each model family has its own JSON body and answer shape, both given by its table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..catalog import ModelSpec
from .bedrock_http import BedrockAdapter


class BedrockInvokeAdapter(BedrockAdapter):
    protocol = "bedrock-invoke"

    async def _send(self, spec: ModelSpec, body: dict[str, Any]) -> tuple[Any, Mapping[str, str]]:
        # The body is the model family's own JSON, sent as it is; token counts arrive in the
        # x-amzn-bedrock-input/output-token-count headers (the tables' `header:` usage paths).
        return await self._post(spec, "invoke", body)
