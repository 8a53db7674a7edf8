"""Checks of a batch run's set-up that need the provider (an S3 bucket that is there), before anything is stored."""

from __future__ import annotations

from collections.abc import Sequence

from ..catalog import ModelSpec
from .options import BatchOptions


def preflight(specs: Sequence[ModelSpec], options: BatchOptions | None) -> None:
    if options is None:
        return
    checked: set[str] = set()
    for spec in specs:
        if spec.alias not in options.models:
            continue
        if spec.protocol.startswith("bedrock-") and "bedrock" not in checked:
            from .bedrock_batch import BedrockBatch

            BedrockBatch.check(spec, options)
            checked.add("bedrock")
