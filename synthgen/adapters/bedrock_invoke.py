"""Bedrock InvokeModel: each model family has its own JSON body and answer shape, both given by its table."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..catalog import ModelSpec
from ..results import FailureKind
from ._aws import BedrockAdapter
from .base import ProviderError


class BedrockInvokeAdapter(BedrockAdapter):
    protocol = "bedrock-invoke"

    async def _send(self, spec: ModelSpec, body: dict[str, Any]) -> tuple[Any, Mapping[str, str]]:
        response = await self.runtime.run(
            "invoke_model",
            modelId=spec.model_id,
            body=json.dumps(body).encode(),
            contentType="application/json",
            accept="application/json",
        )
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        payload = response["body"]
        try:
            return json.loads(payload), headers
        except ValueError:
            raise ProviderError(
                FailureKind.ANSWER_MISSING,
                f"response body is not JSON: {payload[:120]!r}",
                raw=payload.decode("utf-8", "replace")[:2000],
            ) from None
