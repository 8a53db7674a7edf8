"""Shared fixtures. tests/ goes on sys.path so helpers import by name (`from provider_server import X`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from provider_server import ProviderServer

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

PROVIDER_GEMINI_KEY = "test-gemini-key-123456"
PROVIDER_OPENAI_KEY = "sk-test-openai-key-123456"


@pytest.fixture
def provider_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ProviderServer]:
    """A started ProviderServer (no latency, no faults, seed 0) with every provider's env pointing at it.

    Gemini requests must carry PROVIDER_GEMINI_KEY; OpenAI keys are not checked (set srv.openai_api_key
    to check them).
    No real AWS profile or credentials file can leak in.
    """
    from provider_server import ProviderServer

    with ProviderServer(latency=0.0, jitter=0.0, seed=0, gemini_api_key=PROVIDER_GEMINI_KEY) as srv:
        for name in (
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_ENDPOINT_URL",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", srv.url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws" / "credentials"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws" / "config"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        monkeypatch.setenv("GEMINI_BASE_URL", srv.url)
        monkeypatch.setenv("GEMINI_API_KEY", PROVIDER_GEMINI_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", f"{srv.url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", PROVIDER_OPENAI_KEY)
        yield srv


def run_cli(*argv: str) -> int:
    """Run `synthgen ARGV...` in-process; returns the exit status (0 when main returns normally)."""
    from synthgen.cli import main

    try:
        main(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def run_cli_output(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`run_cli` with what the command printed: (exit status, stdout, stderr)."""
    code = run_cli(*args)
    out, err = capsys.readouterr()
    return code, out, err
