"""Bedrock's runtime calls (InvokeModel, Converse) as direct async HTTP: httpx2, signed by botocore's SigV4.

boto3 in a thread pool cost about 2 ms of CPU per request and one thread per request in flight, and a thread
blocked reading a slow answer cannot be cancelled, so no deadline could free its slot. Here a request is one
httpx2 POST on the event loop, to `/model/{modelId}/{invoke|converse}` (the id percent-encoded exactly as
botocore encodes a URI label), signed with `botocore.auth.SigV4Auth` for the endpoint, region and signing name
boto3 resolves. Credentials come from boto3's chain once per run and are frozen per request; refreshable ones
(a role, SSO, a credential process) are refreshed in a thread when they near expiry, never on the event loop.

The Authorization header (access key id and signature) and the session token exist only in the request: they
are never logged or stored, and error messages and bodies are redacted against the frozen credentials.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import httpx2

from ..catalog import ModelSpec
from ..results import FailureKind
from ..secrets import redact, redact_data
from ._aws import AWS_HINT, aws_credentials_present, bedrock_endpoint, check_bedrock_config, error_from_response
from .base import ProviderError
from .transport import HTTPAdapter, http_client, transport_error


class BedrockRuntime:
    """One run's Bedrock runtime transport, shared by both Bedrock protocols: endpoint, credentials, one pool."""

    def __init__(self, max_connections: int, timeout: float):
        self._max_connections = max_connections
        self._timeout = timeout
        self._http: httpx2.AsyncClient | None = None
        # per region (None: the environment's): endpoint, region, signing name, credentials (one chain for all)
        self._setup: dict[str | None, tuple[str, str, str, Any]] = {}
        self._setup_lock = asyncio.Lock()
        self._refresh_lock = asyncio.Lock()
        self._secrets: tuple[str, ...] = ()  # the last frozen credentials: what errors are redacted against

    async def post(
        self, model_id: str, action: str, payload: bytes, region: str | None = None
    ) -> tuple[int, Mapping[str, str], bytes]:
        """POST a JSON payload to the model's action (in `region`, else the environment's); (status, headers,
        body) of whatever answered."""
        endpoint, region, service, credentials = await self._ready(region)
        frozen = await self._frozen(credentials)
        from botocore.utils import percent_encode

        url = f"{endpoint}/model/{percent_encode(model_id)}/{action}"
        headers = _signed_headers(url, payload, frozen, service, region)
        if self._http is None:
            self._http = http_client(self._max_connections, self._timeout)
        try:
            response = await self._http.post(url, content=payload, headers=headers)
        except httpx2.TransportError as exc:
            raise self.redacted(transport_error(exc)) from None
        return response.status_code, response.headers, response.content

    async def _ready(self, region: str | None) -> tuple[str, str, str, Any]:
        setup = self._setup.get(region)
        if setup is None:
            async with self._setup_lock:
                if region not in self._setup:  # boto3 reads files (and may run a process) here: not on the loop
                    known = next(iter(self._setup.values()), None)
                    self._setup[region] = await asyncio.to_thread(_resolve, region, known and known[3])
            setup = self._setup[region]
        return setup

    async def _frozen(self, credentials: Any) -> Any:
        """This request's credentials: refreshable ones are re-read, refreshed in a thread when near expiry."""
        try:
            if _refresh_needed(credentials):
                async with self._refresh_lock:  # one refresh at a time; the others then find it done
                    if _refresh_needed(credentials):
                        frozen = await asyncio.to_thread(credentials.get_frozen_credentials)
                    else:
                        frozen = credentials.get_frozen_credentials()
            else:
                frozen = credentials.get_frozen_credentials()
        except Exception as exc:  # noqa: BLE001 - a refresh that failed: STS, SSO or the process said no
            message = redact(f"AWS credentials could not be refreshed ({type(exc).__name__}: {exc})", self._secrets)
            raise ProviderError(FailureKind.ACCESS_DENIED, f"{message}; {AWS_HINT}") from None
        if not frozen.access_key or not frozen.secret_key:
            raise ProviderError(FailureKind.ACCESS_DENIED, f"Unable to locate credentials; {AWS_HINT}")
        self._secrets = tuple(s for s in (frozen.access_key, frozen.secret_key, frozen.token) if s)
        return frozen

    def redacted(self, error: ProviderError) -> ProviderError:
        """The same failure with the credentials' own values replaced (a proxy may quote what it was sent)."""
        failure = error.failure
        return ProviderError(
            failure.kind,
            redact(failure.message, self._secrets),
            status=failure.status,
            retry_after=failure.retry_after,
            raw=redact_data(error.raw, self._secrets),
        )

    async def aclose(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()


def _resolve(region: str | None, credentials: Any = None) -> tuple[str, str, str, Any]:
    """In a thread: where requests go and who signs them, as boto3 resolves both (the credentials once: another
    region's are `credentials`)."""
    import boto3

    try:
        endpoint, region, service = bedrock_endpoint(region)
    except Exception as exc:  # noqa: BLE001 - a bad region or endpoint (check_config says so before a run)
        raise ProviderError(
            FailureKind.INVALID_REQUEST, f"cannot set up the Bedrock client: {type(exc).__name__}: {exc}"
        ) from None
    if credentials is not None:
        return endpoint, region, service, credentials
    try:
        credentials = boto3.Session().get_credentials()
    except Exception as exc:  # noqa: BLE001 - a broken profile, a credential process that fails
        raise ProviderError(
            FailureKind.ACCESS_DENIED, f"{redact(f'{type(exc).__name__}: {exc}')}; {AWS_HINT}"
        ) from None
    if credentials is None:
        raise ProviderError(FailureKind.ACCESS_DENIED, f"Unable to locate credentials; {AWS_HINT}")
    return endpoint, region, service, credentials


def _refresh_needed(credentials: Any) -> bool:
    check = getattr(credentials, "refresh_needed", None)  # static credentials have none: never refreshed
    return bool(check is not None and check())


def _signed_headers(url: str, payload: bytes, frozen: Any, service: str, region: str) -> dict[str, str]:
    """The headers of a SigV4-signed POST (X-Amz-Date, X-Amz-Security-Token, Authorization), as boto3 signs it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(
        method="POST", url=url, data=payload, headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    SigV4Auth(frozen, service, region).add_auth(request)
    return dict(request.headers.items())


class BedrockAdapter(HTTPAdapter):
    """What both Bedrock protocols share: the signed runtime transport (one per run) and boto3's credentials."""

    def __init__(self, *, runtime: BedrockRuntime | None = None, **kw: Any):
        super().__init__(**kw)
        self.runtime = runtime or BedrockRuntime(self.max_connections, self.timeout)

    async def _post(self, spec: ModelSpec, action: str, body: dict[str, Any]) -> tuple[Any, Mapping[str, str]]:
        """POST the body to /model/{modelId}/{action}: the decoded answer and its headers, or ProviderError."""
        region = spec.regions[0] if spec.regions else None  # one endpoint of several (synthgen.endpoints)
        status, headers, content = await self.runtime.post(spec.model_id, action, json.dumps(body).encode(), region)
        if status >= 300:
            raise self.runtime.redacted(error_from_response(status, headers, content))
        try:
            return json.loads(content), headers
        except ValueError:
            raise ProviderError(
                FailureKind.ANSWER_MISSING,
                f"response body is not JSON: {content[:120]!r}",
                raw=content[:2000].decode("utf-8", "replace"),
            ) from None

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
        await self.runtime.aclose()
