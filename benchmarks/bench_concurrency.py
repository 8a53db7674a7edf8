"""One model alone at 16, 64 and 256 connections, beside the bare openai SDK, in one run (issue 16).

    python benchmarks/bench_concurrency.py [--rounds 1200] [--concurrency 16,64,256]

gpt-4 through the provider test server in its own process, at 300 +/- 200 ms per answer and at zero latency:
`synthgen generate --rounds N --models gpt-4 --concurrency C` (planned, rate-controlled, every outcome journaled
to SQLite) beside the same N requests sent with the bare openai SDK (`chat.completions.create`, its default httpx2
client sized to C, a semaphore of C). Targets: at 300 ms and C = 64, synthgen within 1.1x of the SDK; and more
connections never make a run slower.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from provider_server import start_subprocess_server, stop_subprocess_server  # noqa: E402

from synthgen.adapters import Adapters  # noqa: E402
from synthgen.catalog import load_catalog  # noqa: E402
from synthgen.generation import generate, plan_cells  # noqa: E402
from synthgen.store import RunInfo, utc_now  # noqa: E402

MODEL = "gpt-4"


def configure(url: str, latency: float, jitter: float) -> None:
    httpx2.post(f"{url}/_control/reset", timeout=10)
    httpx2.post(f"{url}/_control/configure", json={"model": "*", "latency": latency, "jitter": jitter}, timeout=10)


def served(url: str) -> int:
    return httpx2.get(f"{url}/_control/stats", timeout=10).json()["total"]


def run_synthgen(rounds: int, concurrency: int, db: str) -> tuple[float, float, int]:
    cpu0, t0 = time.process_time(), time.perf_counter()
    summary = generate(rounds=rounds, models=[MODEL], store=f"sqlite:///{db}", seed=1, concurrency=concurrency)
    return time.perf_counter() - t0, time.process_time() - cpu0, summary.ok


def run_sdk(rounds: int, concurrency: int) -> tuple[float, float, int]:
    """The same requests, bodies and all, with the bare SDK: no plan, no rate control, no store."""
    import openai

    spec = load_catalog()[MODEL]
    run = RunInfo("sdk", utc_now(), 1, rounds, [MODEL], "sentiment", "", "sentiment")
    adapter = Adapters().for_spec(spec)
    bodies = [adapter.build_body(spec, cell.prompt) for cell in plan_cells(run, [spec], "sentiment", "sentiment")]

    async def send_all() -> int:
        limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = openai.AsyncOpenAI(max_retries=0, http_client=openai.DefaultAsyncHttpxClient(limits=limits))
        gate = asyncio.Semaphore(concurrency)

        async def one(body: dict) -> bool:
            async with gate:
                completion = await client.chat.completions.create(**body)
                return bool(completion.choices[0].message.content)

        try:
            return sum(await asyncio.gather(*(one(body) for body in bodies)))
        finally:
            await client.close()

    cpu0, t0 = time.process_time(), time.perf_counter()
    ok = asyncio.run(send_all())
    return time.perf_counter() - t0, time.process_time() - cpu0, ok


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1200)
    parser.add_argument("--concurrency", default="16,64,256")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    proc, url = start_subprocess_server(seed=1)
    os.environ.update(OPENAI_BASE_URL=f"{url}/v1", OPENAI_API_KEY="sk-bench-0000")
    n = args.rounds
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            configure(url, 0.0, 0.0)
            run_synthgen(50, 16, f"{tmp}/warm.db")  # imports, first connections
            run_sdk(50, 16)
            for latency, jitter in ((0.3, 0.2), (0.0, 0.0)):
                for c in levels:
                    configure(url, latency, jitter)
                    wall, cpu, ok = run_synthgen(n, c, f"{tmp}/{latency}-{c}.db")
                    sent = served(url)
                    configure(url, latency, jitter)
                    swall, scpu, sok = run_sdk(n, c)
                    ssent = served(url)
                    rows.append((latency, jitter, c, wall, cpu / sent * 1000, ok, swall, scpu / ssent * 1000, sok))
                    print(f"latency {latency} C {c}: synthgen {wall:.2f} s, SDK {swall:.2f} s", flush=True)
    finally:
        stop_subprocess_server(proc)
    print(f"\n{n} requests to {MODEL}, provider server in its own process, {os.cpu_count()} cores\n")
    print(
        "| latency | concurrency | ideal s | synthgen s | bare SDK s | synthgen / SDK "
        "| synthgen CPU ms/req | SDK CPU ms/req |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for latency, jitter, c, wall, cpu_ms, ok, swall, scpu_ms, sok in rows:
        ideal = f"{n * latency / c:.2f}" if latency else "-"
        shown = f"{latency * 1000:.0f} +/- {jitter * 1000:.0f} ms" if latency else "0"
        ratio = wall / swall
        print(f"| {shown} | {c} | {ideal} | {wall:.2f} | {swall:.2f} | {ratio:.2f} | {cpu_ms:.2f} | {scpu_ms:.2f} |")
        assert ok == n and sok == n, (ok, sok)


if __name__ == "__main__":
    main()
