"""Provider batch jobs: OpenAI Batch API, Bedrock batch inference, Gemini batch mode (`generate --batch`).

`options` checks the flags and names the models that go as jobs; `runner.BatchRunner` makes, finds, waits for and
collects a run's jobs; one backend module per provider speaks its wire format (`openai_batch`, `bedrock_batch`,
`gemini_batch`); `collect` turns a job's results into one outcome record per cell.
"""

from __future__ import annotations

from .base import Backend, BatchUnavailable, backend_for
from .options import RETRY_KINDS, SERVICES, BatchOptions, check_batch, takes_batch
from .runner import BatchRunner

__all__ = [
    "Backend",
    "BatchOptions",
    "BatchRunner",
    "BatchUnavailable",
    "RETRY_KINDS",
    "SERVICES",
    "backend_for",
    "check_batch",
    "takes_batch",
]
