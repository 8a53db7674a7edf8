"""Several endpoints of one model: replicas of a server (`base_urls`) or Bedrock regions (`regions`).

A model's requests are spread over its endpoints by least outstanding requests (ties: the one sent fewest),
among those whose breaker is closed. Each endpoint has its own breaker, which counts the failures that are the
endpoint's (no answer, a 5xx, a timeout, access denied) in a row, request by request: once open, the endpoint gets
no more requests, and a retry goes to another endpoint. Only when every endpoint has stopped does the model stop
(the engine opens the model's breaker then). A model with one endpoint is exactly what it was: no breaker here, its
requests go where its table says.

What each endpoint served is counted here, not stored: a record has no field for it (the store's schema is
unchanged). The engine hands the figures to its display (`Event("endpoints")`) when the run ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .catalog import ModelSpec
from .ratecontrol import CircuitBreaker
from .results import CallResult, FailureKind
from .secrets import redact

# Failures that say something about the endpoint rather than the model or the prompt: a throttled request, a
# missing answer or a request the provider refused count for the model (its limiter, its breaker), not here.
ENDPOINT_KINDS = frozenset({FailureKind.TRANSIENT, FailureKind.ACCESS_DENIED})


@dataclass
class EndpointStats:
    """What one endpoint served in a run: requests sent (retries included), ok answers and failed requests, the
    ok answers' summed latency, and why its breaker stopped it (None: it served to the end)."""

    name: str
    requests: int = 0
    ok: int = 0
    failed: int = 0
    latency_s: float = 0.0
    stopped: str | None = None

    @property
    def mean_latency_s(self) -> float | None:
        return self.latency_s / self.ok if self.ok else None

    def add(self, other: EndpointStats) -> None:
        """Add another engine's figures for the same endpoint (a run's several engines, or workers)."""
        self.requests += other.requests
        self.ok += other.ok
        self.failed += other.failed
        self.latency_s += other.latency_s
        self.stopped = self.stopped or other.stopped


def endpoint_name(url: str) -> str:
    """How an endpoint is shown: host, port and path, never a URL's user, password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return redact(f"{host}{port}{parts.path.rstrip('/')}") or url


class Endpoint:
    """One endpoint of a model: the spec its requests are sent with, its breaker, what is in flight to it."""

    def __init__(self, name: str, spec: ModelSpec, threshold: int):
        self.name = name
        self.spec = spec
        self.breaker = CircuitBreaker(threshold, unit="requests")
        self.outstanding = 0
        self.stats = EndpointStats(name)

    def done(self, result: CallResult) -> str | None:
        """Count a request's outcome; the endpoint's stop message when this one opened its breaker."""
        failure = result.failure
        if failure is None:
            self.stats.ok += 1
            self.stats.latency_s += result.latency_s
            self.breaker.record(None)
            return None
        self.stats.failed += 1
        if failure.kind not in ENDPOINT_KINDS or self.breaker.is_open:
            return None
        self.breaker.record(failure)
        if not self.breaker.is_open:
            return None
        self.stats.stopped = self.breaker.open_reason
        return self.stopped_message()

    def stopped_message(self) -> str:
        return f"endpoint {self.name} {self.stats.stopped}"


class Endpoints:
    """A model's endpoints, as its table lists them (one when it lists none)."""

    def __init__(self, spec: ModelSpec, threshold: int):
        self.model = spec.alias
        self.all = [Endpoint(name, each, threshold) for name, each in split(spec)]

    @property
    def several(self) -> bool:
        return len(self.all) > 1

    def pick(self, avoid: Endpoint | None = None) -> Endpoint | None:
        """The endpoint for the next request: least outstanding among the open ones, another than `avoid` (where
        the last try failed) where there is one; None when every endpoint has stopped."""
        if not self.several:
            return self.all[0]
        serving = [e for e in self.all if not e.breaker.is_open]
        others = [e for e in serving if e is not avoid] or serving
        if not others:
            return None
        return min(others, key=lambda e: (e.outstanding, e.stats.requests))

    def sent(self, endpoint: Endpoint) -> None:
        """A request goes to `endpoint`: outstanding until the caller counts it back (`outstanding -= 1`, in a
        `finally`, so a cancelled request is counted back too), then `done` with its result."""
        endpoint.outstanding += 1
        endpoint.stats.requests += 1

    def done(self, endpoint: Endpoint, result: CallResult) -> str | None:
        """Count a request's outcome; a stop message when it stopped its endpoint (several endpoints only)."""
        return endpoint.done(result) if self.several else None

    @property
    def all_stopped(self) -> bool:
        return self.several and all(e.breaker.is_open for e in self.all)

    def stopped_reason(self, last: Endpoint) -> str:
        """The model's breaker message once every endpoint has stopped: how many, and the last one's reason."""
        return f"all {len(self.all)} endpoints stopped; last: {last.stopped_message()}"

    def stats(self) -> tuple[EndpointStats, ...]:
        return tuple(dataclasses.replace(e.stats) for e in self.all)


def split(spec: ModelSpec) -> list[tuple[str, ModelSpec]]:
    """(name, spec) of each endpoint of a model: its spec with that one endpoint. One entry, the spec itself, when
    the table lists no more than one (so a request goes exactly where it went before endpoints)."""
    if len(spec.regions) > 1:
        return [(region, dataclasses.replace(spec, regions=(region,))) for region in spec.regions]
    urls = spec.resolved_base_urls()
    if len(urls) > 1:
        return [
            (endpoint_name(url), dataclasses.replace(spec, base_url=url, base_urls=(), base_url_env=None))
            for url in urls
        ]
    return [(endpoint_name(urls[0]) if urls else (spec.regions or ("default",))[0], spec)]


def merge(stats: Iterable[EndpointStats]) -> list[EndpointStats]:
    """Figures for the same endpoint (by name) added up, in first-seen order."""
    merged: dict[str, EndpointStats] = {}
    for each in stats:
        if each.name in merged:
            merged[each.name].add(each)
        else:
            merged[each.name] = dataclasses.replace(each)
    return list(merged.values())
