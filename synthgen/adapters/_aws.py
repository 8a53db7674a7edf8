"""The boto3 side of Bedrock: credentials, region, endpoint and config checks (control plane only: no runtime
call goes through boto3, see `bedrock_http`), and the mapping of Bedrock's restJson error answers."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from typing import Any

from ..errors import UserError
from ..results import FailureKind
from .base import ProviderError, retry_after_seconds

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


def make_client(max_connections: int, timeout: float, region: str | None = None) -> Any:
    """A bedrock-runtime client with SDK retries off. synthgen sends no request with it: it is how boto3 says
    which region, endpoint and signing name it would use (config checks, `bedrock_endpoint`); a caller of
    your own can still send with it."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "bedrock-runtime",
        region_name=region or _region()[0],
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


def bedrock_endpoint(region: str | None = None) -> tuple[str, str, str]:
    """(endpoint URL, region, signing name) exactly as boto3 resolves them for bedrock-runtime:
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME, AWS_ENDPOINT_URL, the profile's endpoint_url, else
    https://bedrock-runtime.{region}.amazonaws.com. `region`: a table's (`regions`), else the environment's.
    Made once per configuration (a client is not free)."""
    return _bedrock_endpoint(tuple(os.environ.get(name) for name in _CONFIG_VARS), region)


@functools.lru_cache(maxsize=16)
def _bedrock_endpoint(_env: tuple[str | None, ...], region: str | None) -> tuple[str, str, str]:
    client = make_client(1, 10.0, region)
    try:
        meta = client.meta
        return meta.endpoint_url.rstrip("/"), meta.region_name, meta.service_model.signing_name
    finally:
        client.close()


def error_from_response(status: int, headers: Mapping[str, str], content: bytes) -> ProviderError:
    """A Bedrock error answer as botocore reads it (restJson): the code from `x-amzn-ErrorType` or the body's
    `__type` / `code`, the message from `message`; the kind from the code, else from the HTTP status."""
    try:
        body: Any = json.loads(content) if content else {}
    except ValueError:
        body = content[:2000].decode("utf-8", "replace")
    fields = body if isinstance(body, dict) else {}
    code = (headers.get("x-amzn-errortype") or "").split(":")[0]
    if not code:
        code = str(fields.get("__type") or fields.get("code") or fields.get("Code") or "").rsplit("#", 1)[-1]
    detail = fields.get("message") or fields.get("Message") or (body if isinstance(body, str) else "")
    message = f"{code or f'HTTP {status}'}: {detail}".strip(": ")
    retry_after = retry_after_seconds(headers)
    if code in _THROTTLE:
        kind = FailureKind.THROTTLED
    elif code in _TRANSIENT:
        kind = FailureKind.TRANSIENT
    elif code in _DENIED:
        kind = FailureKind.ACCESS_DENIED
    else:
        return ProviderError.from_status(status, message, retry_after=retry_after, raw=body)
    return ProviderError(kind, message, status=status, retry_after=retry_after, raw=body)
