"""Timings of the provider test server that the tests prove by counts: concurrency and a fast stop.

    python benchmarks/bench_provider_server.py [--clients 128] [--latency 0.5]

- Concurrent slow requests: N clients, each sending two requests on one kept-alive connection, every answer
  waiting `latency` ± 0.1 s. Ideal wall time is two latencies; one after another it would be 2 x N latencies.
  (tests/test_provider_server.py asserts the peak number of requests in flight, not the time.)
- Stop with a sleeper in flight: a request hanging for 30 s ("timeout"), then `stop()`; it should return in
  well under a second instead of waiting for the sleeper.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from provider_server import ProviderServer  # noqa: E402


def concurrent_requests(clients: int, latency: float) -> tuple[float, int, int]:
    """(wall seconds, peak requests in flight, requests answered 200)."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "q"}]})
    statuses: list[int] = []
    lock = threading.Lock()
    with ProviderServer(latency=latency, jitter=0.1, seed=0) as srv:

        def one() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            try:
                for _ in range(2):
                    conn.request(
                        "POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json"}
                    )
                    response = conn.getresponse()
                    response.read()
                    with lock:
                        statuses.append(response.status)
            finally:
                conn.close()

        threads = [threading.Thread(target=one) for _ in range(clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        return wall, srv.peak_in_flight, statuses.count(200)


def stop_with_sleeper() -> float:
    srv = ProviderServer(seed=0, p_timeout=1.0, timeout_sleep=30).start()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=0.3)
    try:
        conn.request(
            "POST",
            "/v1/chat/completions",
            body=json.dumps({"model": "m", "messages": []}),
            headers={"content-type": "application/json"},
        )
        conn.getresponse()
    except OSError:
        pass  # the client gives up; the server's handler still sleeps
    finally:
        conn.close()
    started = time.perf_counter()
    srv.stop()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=128)
    parser.add_argument("--latency", type=float, default=0.5)
    args = parser.parse_args(argv)

    wall, peak, ok = concurrent_requests(args.clients, args.latency)
    ideal = 2 * args.latency
    print(
        f"{args.clients} clients x 2 requests at {args.latency:g} ± 0.1 s: {ok}/{2 * args.clients} ok in "
        f"{wall:.2f} s (ideal {ideal:.2f} s, x{wall / ideal:.2f}; serialised {2 * args.clients * args.latency:.0f} "
        f"s); peak in flight {peak}"
    )
    print(f"stop() with a 30 s sleeper in flight: {stop_with_sleeper():.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
