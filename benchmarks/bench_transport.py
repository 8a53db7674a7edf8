"""Requests per second, whole process, against a zero-latency stand-in for each HTTP protocol (issue 15).

    python benchmarks/bench_transport.py [--requests 10000] [--concurrency 64] [--protocols P,...] [--ways 0,2,4]
                                         [--profile]

For each protocol (OpenAI chat, Gemini, Bedrock InvokeModel, Bedrock Converse) the same N requests are sent four
ways, each a layer more than the one before, so the differences say where a request's client CPU goes:

0. `httpx2, its own pool`: the POST of the same body and the JSON decode of the answer through a plain httpx2
   client (httpcore2's pool), for reference;
1. `httpx2 alone`: the same through httpx2 over synthgen's pool (adapters/pool.py), nothing else (unsigned);
2. `adapter.call`: synthgen's adapter (body from the table, the headers or SigV4 signing, the deadline, the
   answer by path, redaction), no engine, no store;
3. `generate, journal off`: the whole run (plan, engine, rate control, events) into a store that keeps no
   outcome;
4. `generate, SQLite`: the whole run, each outcome committed to SQLite as it happens (the journal).

The stand-in (benchmarks/standin_server.py) runs in its own process; its CPU per request is reported too, since
on a small machine it shares the cores. `--profile` adds a cProfile of the event-loop thread of run 4 grouped by
package (the journal's writer thread is not in it: rows 3 and 4 give the journal's share).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402

from synthgen.adapters import Adapters  # noqa: E402
from synthgen.adapters.transport import http_client  # noqa: E402
from synthgen.catalog import load_catalog  # noqa: E402
from synthgen.generation import generate  # noqa: E402
from synthgen.store.sqlite import SQLiteStore  # noqa: E402

PROTOCOLS = {
    "openai-chat": "gpt-4",
    "gemini": "gemini-pro",
    "bedrock-invoke": "llama2",
    "bedrock-converse": "nova-lite",
}
PROMPT = "The sentiment is positive, with the topics:\n- Contexts or Scenarios: Work environment\n- Objects: Coffee mug"


class NoJournal(SQLiteStore):
    """The run's plan is stored (so it runs as usual), its outcomes are not (the engine's writer stores them in
    groups, `put_records`)."""

    def put_record(self, record) -> bool:
        return True

    def put_records(self, records) -> list[bool]:
        return [True] * len(records)


def start_standin() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "standin_server.py")], stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline()
    assert line.startswith("LISTENING "), line
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def point_env_at(url: str) -> None:
    os.environ.update(
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME=url,
        AWS_ACCESS_KEY_ID="AKIABENCHMARK0000000",
        AWS_SECRET_ACCESS_KEY="bench-secret",
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        GEMINI_BASE_URL=url,
        GEMINI_API_KEY="bench-gemini-key",
        OPENAI_BASE_URL=f"{url}/v1",
        OPENAI_API_KEY="sk-bench-0000",
    )


def server_cpu(proc: subprocess.Popen) -> float:
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(fn, proc) -> tuple[float, float, float, int]:
    """(wall s, client CPU s, server CPU s, ok) of fn()."""
    s0, c0, t0 = server_cpu(proc), time.process_time(), time.perf_counter()
    ok = fn()
    return time.perf_counter() - t0, time.process_time() - c0, server_cpu(proc) - s0, ok


def url_of(spec, url: str) -> str:
    if spec.protocol == "openai-chat":
        return f"{url}/v1/chat/completions"
    if spec.protocol == "gemini":
        return f"{url}/v1beta/models/{spec.model_id}:generateContent"
    return f"{url}/model/{spec.model_id}/{'invoke' if spec.protocol == 'bedrock-invoke' else 'converse'}"


def bare_httpx2(spec, url: str, n: int, concurrency: int, own_pool: bool = False) -> int:
    body = Adapters().for_spec(spec).build_body(spec, PROMPT)
    target = url_of(spec, url)

    async def run() -> int:
        if own_pool:
            limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            client = httpx2.AsyncClient(limits=limits, timeout=30)
        else:
            client = http_client(concurrency, 30)
        async with client as http:
            gate = asyncio.Semaphore(concurrency)

            async def one() -> bool:
                async with gate:
                    return bool((await http.post(target, json=body)).json())

            return sum(await asyncio.gather(*(one() for _ in range(n))))

    return asyncio.run(run())


def adapter_calls(spec, n: int, concurrency: int) -> int:
    async def run() -> int:
        adapters = Adapters(max_connections=concurrency, timeout=30)
        adapter = adapters.for_spec(spec)
        gate = asyncio.Semaphore(concurrency)

        async def one() -> bool:
            async with gate:
                return (await adapter.call(spec, PROMPT)).ok

        try:
            return sum(await asyncio.gather(*(one() for _ in range(n))))
        finally:
            await adapters.aclose()

    return asyncio.run(run())


def run_generate(alias: str, n: int, concurrency: int, store) -> int:
    ok = [0]

    def count(event) -> None:
        if event.kind == "stored" and event.record is not None and event.record.status == "ok":
            ok[0] += 1

    generate(rounds=n, models=[alias], store=store, seed=1, concurrency=concurrency, on_event=count)
    return ok[0]


_GROUPS = (
    ("openai SDK", ("/openai/",)),
    ("httpx2 / httpcore2 / h11", ("/httpx2/", "/httpcore2/", "/h11/")),
    ("anyio", ("/anyio/",)),
    ("botocore (SigV4)", ("/botocore/", "/boto3/")),
    ("pydantic", ("/pydantic",)),
    ("synthgen engine", ("synthgen/engine.py", "synthgen/ratecontrol.py")),
    ("synthgen adapters", ("synthgen/adapters/",)),
    ("synthgen redaction", ("synthgen/secrets.py",)),
    ("synthgen plan and store", ("synthgen/",)),
    ("asyncio event loop", ("asyncio/",)),
    ("json", ("json/",)),
    ("other packages (sniffio, ...)", ("site-packages",)),
    ("Python stdlib (contextlib, selectors, os.environ, ...)", ("/lib/python3", "<frozen")),
)


def _group(filename: str) -> str | None:
    return next((name for name, needles in _GROUPS if any(n in filename for n in needles)), None)


def profile_groups(profile: cProfile.Profile) -> list[tuple[str, float]]:
    """Share of profiled time per package; a builtin's time (a socket send, a dict lookup) counts for the
    package that called it."""
    stats = pstats.Stats(profile)
    totals: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, callers) in stats.stats.items():
        group = _group(filename)
        if group is None and filename == "~" and callers:
            for (caller_file, _, _), (_, _, caller_tt, _) in callers.items():
                named = _group(caller_file) or ("sqlite3" if "sqlite" in caller_file else "other")
                totals[named] = totals.get(named, 0.0) + caller_tt
            continue
        group = group or "other"
        totals[group] = totals.get(group, 0.0) + tottime
    whole = sum(totals.values()) or 1.0
    return sorted(((g, t / whole) for g, t in totals.items()), key=lambda item: -item[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--ways", default="0,1,2,3,4", help="the ways to run, by their number above (0-4)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    proc, url = start_standin()
    point_env_at(url)
    catalog = load_catalog()
    n, c = args.requests, args.concurrency
    rows, profiles = [], {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for protocol in args.protocols.split(","):
                alias = PROTOCOLS[protocol]
                spec = catalog[alias]
                adapter_calls(spec, 200, c)  # warm: imports, first connections
                ways = [
                    ("httpx2, its own pool", partial(bare_httpx2, spec, url, n, c, True)),
                    ("httpx2 alone", partial(bare_httpx2, spec, url, n, c)),
                    ("adapter.call", partial(adapter_calls, spec, n, c)),
                    (
                        "generate, journal off",
                        partial(run_generate, alias, n, c, NoJournal(Path(tmp) / f"{alias}-0.db")),
                    ),
                    ("generate, SQLite", partial(run_generate, alias, n, c, f"sqlite:///{tmp}/{alias}.db")),
                ]
                chosen = {int(i) for i in args.ways.split(",")}
                for name, fn in [way for i, way in enumerate(ways) if i in chosen]:
                    wall, cpu, server, ok = measure(fn, proc)
                    rows.append((protocol, name, wall, n / wall, cpu / n * 1000, server / n * 1000, ok))
                    print(f"{protocol:17} {name:22} {n / wall:7.0f} req/s  {cpu / n * 1000:5.2f} ms CPU", flush=True)
                if args.profile:
                    profile = cProfile.Profile()
                    profile.enable()
                    run_generate(alias, n, c, f"sqlite:///{tmp}/{alias}-profiled.db")
                    profile.disable()
                    profiles[protocol] = profile_groups(profile)
    finally:
        proc.terminate()
        proc.wait()
    cores = os.cpu_count()
    print(f"\n{n} requests per row, concurrency {c}, zero-latency stand-in in its own process, {cores} cores\n")
    print("| protocol | way | wall s | requests/s | client CPU ms/request | stand-in CPU ms/request | ok |")
    print("|---|---|---|---|---|---|---|")
    for protocol, name, wall, rps, cpu_ms, server_ms, ok in rows:
        print(f"| {protocol} | {name} | {wall:.2f} | {rps:,.0f} | {cpu_ms:.3f} | {server_ms:.3f} | {ok} |")
    print("\nclient CPU ms/request by layer (differences between the rows above):\n")
    print("| protocol | transport (httpx2) | adapter on top | engine + plan on top | journal (SQLite) on top |")
    print("|---|---|---|---|---|")
    by = {(p, w): cpu for p, w, _, _, cpu, _, _ in rows}
    for protocol in args.protocols.split(","):
        ways = ("httpx2 alone", "adapter.call", "generate, journal off", "generate, SQLite")
        layers = [by.get((protocol, w)) for w in ways]
        pairs = zip(layers, layers[1:], strict=False)
        shown = [layers[0], *(b - a if a is not None and b is not None else None for a, b in pairs)]
        print(f"| {protocol} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in shown) + " |")
    for protocol, groups in profiles.items():
        print(f"\ncProfile, event-loop thread, generate with SQLite, {protocol} (share of profiled time):")
        for group, share in groups[:10]:
            print(f"  {share * 100:5.1f}%  {group}")


if __name__ == "__main__":
    main()
