"""The boto3 side shared by both Bedrock protocols: one client, a thread pool sized to concurrency, error mapping."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..catalog import ModelSpec
from ..errors import UserError
from ..results import FailureKind
from .base import Adapter, ProviderError, retry_after_seconds

# Codes Bedrock uses, by what a caller should do about them.
_THROTTLE = {
    "ThrottlingException",
    "TooManyRequestsException",
    "ModelNotReadyException",
    "ServiceQuotaExceededException",
    "ProvisionedThroughputExceededException",
}
_TRANSIENT = {
    "InternalServerException",
    "ServiceUnavailableException",
    "ModelTimeoutException",
    "ModelStreamErrorException",
    "InternalFailure",
    "ServiceUnavailable",
}
_DENIED = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "MissingAuthenticationTokenException",
}


def aws_credentials_present() -> bool:
    import boto3

    try:
        return boto3.Session().get_credentials() is not None
    except Exception:  # a broken profile is the same as none for this question
        return False


AWS_HINT = (
    "set AWS credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and AWS_REGION; "
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME points at another endpoint"
)


def _region() -> tuple[str, str]:
    """The region boto3 will use for Bedrock, and where it came from (for an error message)."""
    import boto3

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(name):
            return os.environ[name], name
    region = boto3.Session().region_name
    return (region, "the AWS profile's region") if region else ("us-east-1", "the default region")


def make_client(max_connections: int, timeout: float) -> Any:
    """A bedrock-runtime client with SDK retries off: retrying is the engine's job, above transport."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime",
        region_name=_region()[0],
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=max_connections,
            connect_timeout=min(10.0, timeout),
            read_timeout=timeout,
            tcp_keepalive=True,
        ),
    )


_CONFIG_VARS = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
)


def check_bedrock_config() -> None:
    """Make the client once, before any request: a bad region or endpoint is one line naming the variable."""
    _check_bedrock_config(tuple(os.environ.get(name) for name in _CONFIG_VARS))


@functools.lru_cache(maxsize=8)
def _check_bedrock_config(_env: tuple[str | None, ...]) -> None:  # cached per configuration: a client is not free
    from botocore.exceptions import BotoCoreError, InvalidRegionError

    endpoint_var = next(
        (n for n in ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL") if os.environ.get(n)), None
    )
    endpoint_where = f"{endpoint_var} {os.environ[endpoint_var]!r}" if endpoint_var else "the AWS config's endpoint_url"
    try:
        client = make_client(1, 10.0)
    except InvalidRegionError:
        region, where = _region()
        raise UserError(
            f"{where} {region!r} is not an AWS region name; set AWS_REGION to one such as us-east-1"
        ) from None
    except BotoCoreError as exc:
        raise UserError(f"cannot set up the Bedrock client ({exc}); {AWS_HINT}") from None
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        raise UserError(
            f"{endpoint_where} is not a URL ({exc}); set it to e.g. http://127.0.0.1:8080, or unset "
            "it for the AWS endpoint"
        ) from None
    try:
        scheme = client.meta.endpoint_url.partition("://")[0].lower()
    finally:
        client.close()
    if scheme not in ("http", "https"):
        raise UserError(
            f"{endpoint_where} is not an http(s) URL; set it to e.g. http://127.0.0.1:8080, or unset "
            "it for the AWS endpoint"
        )


class BedrockRuntime:
    """A lazily made bedrock-runtime client (one per run) and a thread pool sized to concurrency."""

    def __init__(self, max_connections: int, timeout: float):
        self._lock = threading.Lock()
        self._client: Any = None
        self._max_connections = max_connections
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=max_connections, thread_name_prefix="bedrock")

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    self._client = make_client(self._max_connections, self._timeout)
                except ValueError as exc:  # a bad region or endpoint (check_config says so before a run)
                    raise ProviderError(
                        FailureKind.INVALID_REQUEST, f"cannot set up the Bedrock client: {type(exc).__name__}: {exc}"
                    ) from None
            return self._client

    async def run(self, fn_name: str, **kwargs: Any) -> dict[str, Any]:
        """Call a client method in the pool; a streamed body is read there too, never on the event loop."""
        client = self.client()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: _call(client, fn_name, kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _call(client: Any, fn_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        HTTPClientError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    try:
        response = getattr(client, fn_name)(**kwargs)
        if hasattr(response.get("body"), "read"):
            response["body"] = response["body"].read()
        return response
    except ClientError as exc:
        err = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        status = meta.get("HTTPStatusCode")
        code = err.get("Code", "")
        message = f"{code}: {err.get('Message', '')}".strip(": ")
        retry_after = retry_after_seconds(meta.get("HTTPHeaders"))
        if code in _THROTTLE:
            kind = FailureKind.THROTTLED
        elif code in _TRANSIENT:
            kind = FailureKind.TRANSIENT
        elif code in _DENIED:
            kind = FailureKind.ACCESS_DENIED
        else:
            raise ProviderError.from_status(status, message, retry_after=retry_after, raw=exc.response) from None
        raise ProviderError(kind, message, status=status, retry_after=retry_after, raw=exc.response) from None
    except NoCredentialsError as exc:
        raise ProviderError(FailureKind.ACCESS_DENIED, f"{exc}; {AWS_HINT}") from None
    except (ReadTimeoutError, ConnectionError, HTTPClientError) as exc:
        raise ProviderError(FailureKind.TRANSIENT, f"{type(exc).__name__}: {exc}") from None
    except BotoCoreError as exc:
        raise ProviderError(FailureKind.INVALID_REQUEST, f"{type(exc).__name__}: {exc}") from None


class BedrockAdapter(Adapter):
    """What both Bedrock protocols share: the runtime client (one per run) and boto3's credential chain."""

    def __init__(self, *, runtime: BedrockRuntime | None = None, **kw: Any):
        super().__init__(**kw)
        self.runtime = runtime or BedrockRuntime(self.max_connections, self.timeout)

    @classmethod
    def credentials_present(cls, spec: ModelSpec) -> bool:
        return aws_credentials_present()

    @classmethod
    def credentials_hint(cls, spec: ModelSpec) -> str:
        return AWS_HINT

    @classmethod
    def check_config(cls, spec: ModelSpec) -> None:
        super().check_config(spec)
        check_bedrock_config()

    async def aclose(self) -> None:
        self.runtime.close()
