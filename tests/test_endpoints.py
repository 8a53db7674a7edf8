"""Several endpoints for one model (issue 15): a table lists `base_urls` (replicas of a server) or `regions`
(Bedrock), the engine spreads the model's requests over them by least outstanding requests, each endpoint has its
own breaker, a request that failed on a dead endpoint is retried on another, and the run's closing display shows
what each endpoint served. Real servers (tests/provider_server.py), a real `generate` run, a real SQLite store."""

from __future__ import annotations

import io
import socket
import threading

import pytest
from provider_server import ProviderServer
from rich.console import Console

from synthgen.catalog import load_catalog
from synthgen.display import LiveProgress
from synthgen.endpoints import Endpoints, EndpointStats, endpoint_name, merge
from synthgen.errors import UserError
from synthgen.generation import generate
from synthgen.results import CallResult, Failure, FailureKind
from synthgen.store import OK, SKIPPED, open_store


def replicas(tmp_path, *urls: str, alias: str = "replicas", extra: str = "") -> str:
    """A user catalog with one OpenAI-compatible entry listing these base URLs; returns its directory."""
    listed = ", ".join(f'"{u}"' for u in urls)
    (tmp_path / "cat").mkdir(exist_ok=True)
    (tmp_path / "cat" / "mine.toml").write_text(
        f'[models.{alias}]\nprotocol = "openai-chat"\nmodel_id = "gpt-4"\nbase_url_env = "SYNTHGEN_TEST_REPLICAS"\n'
        f"base_urls = [{listed}]\n{extra}"
    )
    return str(tmp_path / "cat")


def free_port() -> int:
    """A port nothing listens on (bound, then closed): connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Listener:
    """The events of a run, and a hook to call once `after` outcomes are stored."""

    def __init__(self, display: LiveProgress | None = None, after: int | None = None, then=None):
        self.events = []
        self.display = display
        self.after, self.then = after, then
        self.stored = 0

    def __call__(self, event) -> None:
        self.events.append(event)
        if self.display is not None:
            self.display(event)
        if event.kind == "stored":
            self.stored += 1
            if self.stored == self.after:
                threading.Thread(target=self.then).start()  # not on the event loop: stop() joins a thread

    def of(self, kind: str):
        return [e for e in self.events if e.kind == kind]


# -- the table -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, message",
    [
        (
            'base_urls = "http://a:1/v1"',
            "models.x.base_urls is 'http://a:1/v1'; it must be a non-empty list of strings",
        ),
        ("base_urls = []", "models.x.base_urls is []; it must be a non-empty list of strings"),
        ('base_urls = ["http://a:1/v1", 3]', "models.x.base_urls is ['http://a:1/v1', 3]; it must be a non-empty"),
        ('base_urls = ["http://a:1/v1", "ftp://b/v1"]', "models.x.base_urls[1] is 'ftp://b/v1', not an http(s) URL"),
        ('base_urls = ["http://a:port/v1"]', "models.x.base_urls[0] is 'http://a:port/v1', not an http(s) URL"),
        ('base_urls = ["http://a:1/v1", "http://a:1/v1"]', "models.x.base_urls[1] repeats 'http://a:1/v1'"),
        ('base_url = "http://a:1/v1"\nbase_urls = ["http://b:1/v1"]', "models.x: set base_url or base_urls, not both"),
        ('regions = ["us-east-1", "us-west-2"]', "models.x.regions is for Bedrock entries"),
    ],
)
def test_a_bad_list_of_endpoints_is_one_line_naming_the_file_and_field(tmp_path, field, message):
    (tmp_path / "bad.toml").write_text(f'[models.x]\nprotocol = "openai-chat"\nmodel_id = "m"\n{field}\n')
    with pytest.raises(UserError) as err:
        load_catalog(tmp_path)
    assert str(err.value).startswith(str(tmp_path / "bad.toml")) and "\n" not in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "field, message",
    [
        ('regions = ["us-east-1", "Mars"]', "models.x.regions[1] is 'Mars', not an AWS region name"),
        ('base_urls = ["http://a:1", "http://b:1"]', "models.x.base_urls: a Bedrock entry's endpoints are its regions"),
    ],
)
def test_a_bedrock_entry_lists_regions_not_urls(tmp_path, field, message):
    (tmp_path / "bad.toml").write_text(f'[models.x]\nbase = "claude-haiku"\n{field}\n')
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_catalog(tmp_path)


def test_the_environment_overrides_the_tables_list_and_may_list_several(tmp_path, monkeypatch):
    spec = load_catalog(replicas(tmp_path, "http://a:1/v1/", "http://b:2/v1"))["replicas"]
    assert spec.resolved_base_urls() == ("http://a:1/v1", "http://b:2/v1")
    assert spec.resolved_base_url() == "http://a:1/v1"
    monkeypatch.setenv("SYNTHGEN_TEST_REPLICAS", "http://c:3/v1, http://d:4/v1/")
    assert spec.resolved_base_urls() == ("http://c:3/v1", "http://d:4/v1")
    monkeypatch.setenv("SYNTHGEN_TEST_REPLICAS", "http://e:5/v1")
    assert spec.resolved_base_urls() == ("http://e:5/v1",)


def test_an_entrys_one_endpoint_and_its_bases_list_replace_each_other(tmp_path):
    (tmp_path / "mine.toml").write_text(
        '[models.two]\nprotocol = "gemini"\nmodel_id = "m"\nbase_urls = ["http://a:1", "http://b:2"]\n'
        '[models.one]\nbase = "two"\nbase_url = "http://c:3"\n'
    )
    catalog = load_catalog(tmp_path)
    # the protocol's default base_url gives way to the list, and the list to a derived entry's one URL
    assert catalog["two"].base_url is None and catalog["two"].base_urls == ("http://a:1", "http://b:2")
    assert catalog["one"].base_urls == () and catalog["one"].resolved_base_urls() == ("http://c:3",)


def test_an_endpoint_is_shown_without_a_user_password_or_query():
    assert endpoint_name("http://user:sk-secret-0123456789@10.0.0.7:8000/v1/?key=abc") == "10.0.0.7:8000/v1"
    assert endpoint_name("https://[::1]:9000/v1") == "[::1]:9000/v1"


# -- the choice ----------------------------------------------------------------------------------------------


def test_the_least_outstanding_open_endpoint_is_chosen_and_a_retry_goes_elsewhere(tmp_path):
    spec = load_catalog(replicas(tmp_path, "http://a:1/v1", "http://b:2/v1", "http://c:3/v1"))["replicas"]
    endpoints = Endpoints(spec, threshold=2)
    a, b, c = endpoints.all
    assert [e.spec.resolved_base_urls() for e in endpoints.all] == [
        ("http://a:1/v1",),
        ("http://b:2/v1",),
        ("http://c:3/v1",),
    ]
    assert endpoints.pick() is a
    endpoints.sent(a)
    assert endpoints.pick() is b  # a has one outstanding
    endpoints.sent(b)
    endpoints.sent(c)
    a.outstanding -= 1  # a answered (the engine counts it back): fewest outstanding again
    assert endpoints.pick() is a and endpoints.pick(avoid=a) in (b, c)
    refused = CallResult("replicas", "gpt-4", {}, 0.1, failure=Failure(FailureKind.TRANSIENT, "refused"))
    assert endpoints.done(a, refused) is None
    assert (
        endpoints.done(a, refused)
        == "endpoint a:1/v1 stopped after 2 failed requests in a row (transient); last: refused"
    )
    assert endpoints.pick() is not a and not endpoints.all_stopped
    # a throttled or refused request is the model's business, not the endpoint's: it opens no endpoint's breaker
    throttled = CallResult("replicas", "gpt-4", {}, 0.1, failure=Failure(FailureKind.THROTTLED, "429"))
    for _ in range(5):
        assert endpoints.done(b, throttled) is None
    assert not b.breaker.is_open


def test_a_model_with_one_endpoint_is_sent_as_before():
    spec = load_catalog()["gpt-4"]
    endpoints = Endpoints(spec, threshold=1)
    assert not endpoints.several and endpoints.pick().spec is spec
    failed = CallResult("gpt-4", "gpt-4", {}, 0.1, failure=Failure(FailureKind.TRANSIENT, "refused"))
    endpoints.sent(endpoints.all[0])
    assert endpoints.done(endpoints.all[0], failed) is None and not endpoints.all[0].breaker.is_open


def test_figures_of_one_endpoint_from_several_engines_add_up():
    one = [EndpointStats("a", requests=3, ok=2, failed=1, latency_s=0.5), EndpointStats("b", requests=1, ok=1)]
    two = [EndpointStats("a", requests=2, ok=2, latency_s=0.3, stopped="endpoint a stopped")]
    a, b = merge([*one, *two])
    assert (a.requests, a.ok, a.failed, a.stopped) == (5, 4, 1, "endpoint a stopped")
    assert a.mean_latency_s == pytest.approx(0.2) and b.mean_latency_s == 0.0


# -- runs ----------------------------------------------------------------------------------------------------


def test_requests_are_spread_evenly_over_two_servers(provider_server, tmp_path):
    provider_server.configure(model="*", latency=0.05)  # the same for both: neither is faster
    with ProviderServer(latency=0.05, jitter=0.0, seed=1) as other:
        catalog = replicas(tmp_path, f"{provider_server.url}/v1", f"{other.url}/v1")
        listener = Listener()
        summary = generate(
            rounds=200, models=["replicas"], store=f"sqlite:///{tmp_path / 's.db'}", seed=1, concurrency=16,
            catalog_dir=catalog, on_event=listener,
        )  # fmt: skip
        first, second = len(provider_server.requests), len(other.requests)
        names = [endpoint_name(provider_server.url + "/v1"), endpoint_name(other.url + "/v1")]
    assert summary.ok == 200 and first + second == 200
    assert 80 <= first <= 120, (first, second)  # least outstanding over equal servers: about half each
    [event] = listener.of("endpoints")
    assert [(s.name, s.requests, s.ok) for s in event.endpoints] == [
        (names[0], first, first),
        (names[1], second, second),
    ]
    assert all(s.mean_latency_s >= 0.05 and s.stopped is None for s in event.endpoints)


def test_a_slow_replica_gets_fewer_requests_than_a_fast_one(provider_server, tmp_path):
    provider_server.configure(model="*", latency=0.002)
    with ProviderServer(latency=0.1, jitter=0.0, seed=1) as slow:
        catalog = replicas(tmp_path, f"{provider_server.url}/v1", f"{slow.url}/v1")
        summary = generate(
            rounds=200, models=["replicas"], store=f"sqlite:///{tmp_path / 's.db'}", seed=1, concurrency=8,
            catalog_dir=catalog,
        )  # fmt: skip
        fast_n, slow_n = len(provider_server.requests), len(slow.requests)
    assert summary.ok == 200 and fast_n > 3 * slow_n, (fast_n, slow_n)


def test_a_server_stopped_mid_run_is_left_and_every_cell_still_ends_ok_once(provider_server, tmp_path):
    rounds = 400  # 1.3 s at 16 in flight: the server is stopped after 60 (its stop takes a moment)
    provider_server.configure(model="*", latency=0.05)
    other = ProviderServer(latency=0.05, jitter=0.0, seed=1).start()
    dead = endpoint_name(f"{other.url}/v1")
    try:
        catalog = replicas(tmp_path, f"{provider_server.url}/v1", f"{other.url}/v1")
        out = io.StringIO()
        display = LiveProgress(Console(file=out, width=160, force_terminal=False))
        listener = Listener(display, after=60, then=other.stop)
        db = f"sqlite:///{tmp_path / 's.db'}"
        try:
            summary = generate(
                rounds=rounds, models=["replicas"], store=db, seed=1, concurrency=16, catalog_dir=catalog,
                on_event=listener, on_start=display.start,
            )  # fmt: skip
        finally:
            display.stop()
        served_by_other = len(other.requests)
    finally:
        other.stop()
    assert summary.ok == rounds
    with open_store(db, create=False) as store:
        records = list(store.records())
    assert len(records) == rounds and len({r.id for r in records}) == rounds  # one record per cell, no more
    assert all(r.status == OK for r in records)
    [stopped] = listener.of("endpoint")
    assert stopped.endpoint == dead and stopped.failure.kind is FailureKind.TRANSIENT
    assert stopped.failure.message.startswith(f"endpoint {dead} stopped after 5 failed requests in a row (transient)")
    assert "connection failed" in stopped.failure.message
    [event] = listener.of("endpoints")
    alive_stats, dead_stats = event.endpoints
    assert alive_stats.ok + dead_stats.ok == rounds and alive_stats.stopped is None
    assert stopped.failure.message == f"endpoint {dead} {dead_stats.stopped}" and dead_stats.failed >= 5
    assert 30 <= dead_stats.ok <= served_by_other and alive_stats.ok > rounds / 2
    # retries of what failed on the dead one went to the live one
    assert len(provider_server.requests) == alive_stats.requests == alive_stats.ok
    shown = out.getvalue()
    assert f"replicas: endpoint {dead} stopped after 5 failed requests in a row" in shown
    table = shown[shown.index("endpoints") :]
    assert f"{endpoint_name(provider_server.url + '/v1')}" in table and dead in table
    assert f" {alive_stats.ok} " in table and f" {dead_stats.ok} " in table and "serving" in table


def test_a_model_stops_only_when_every_endpoint_has(tmp_path, provider_server):
    dead = [f"http://127.0.0.1:{free_port()}/v1", f"http://127.0.0.1:{free_port()}/v1"]
    listener = Listener()
    db = f"sqlite:///{tmp_path / 's.db'}"
    summary = generate(
        rounds=30, models=["replicas", "gpt-4"], store=db, seed=1, concurrency=4, max_attempts=3,
        backoff_base=0.001, catalog_dir=replicas(tmp_path, *dead), on_event=listener,
    )  # fmt: skip
    assert summary.models["gpt-4"].ok == 30 and summary.models["replicas"].ok == 0
    assert len(listener.of("endpoint")) == 2
    with open_store(db, create=False) as store:
        skipped = [r for r in store.records(model="replicas") if r.status == SKIPPED]
    assert skipped, "the cells after both endpoints stopped are skipped"
    message = skipped[-1].failure_message
    assert message.startswith("circuit breaker: all 2 endpoints stopped; last: endpoint 127.0.0.1:")
    assert "failed requests in a row (transient)" in message


def test_bedrock_regions_spread_requests_each_signed_for_its_region(provider_server, tmp_path):
    provider_server.configure(model="*", latency=0.05)  # a region's first request waits for its client set-up
    (tmp_path / "mine.toml").write_text(
        '[models.haiku-2]\nbase = "claude-haiku"\nregions = ["us-east-1", "us-west-2"]\n'
    )
    listener = Listener()
    summary = generate(
        rounds=40, models=["haiku-2"], store=f"sqlite:///{tmp_path / 's.db'}", seed=1, concurrency=4,
        catalog_dir=str(tmp_path), on_event=listener,
    )  # fmt: skip
    assert summary.ok == 40
    scopes = [r["headers"]["authorization"].split("/")[2] for r in provider_server.requests]
    assert sorted(set(scopes)) == ["us-east-1", "us-west-2"] and 8 <= scopes.count("us-west-2") <= 32
    [event] = listener.of("endpoints")
    assert [(s.name, s.ok) for s in event.endpoints] == [
        ("us-east-1", scopes.count("us-east-1")),
        ("us-west-2", scopes.count("us-west-2")),
    ]
