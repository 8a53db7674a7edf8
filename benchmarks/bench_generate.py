"""Generation throughput against the local provider server (a separate process, so its CPU is not ours).

    python benchmarks/bench_generate.py [--rounds 200] [--concurrency 64] [--seed-rounds 200]

Reports, in one run: wall time at concurrency C, the ideal N x L / C, their ratio and client CPU per request, as a
whole process (`python -m synthgen.cli generate`, start-up and imports included, in one process and with
`--workers 2`) and in this process after a warm-up; the same work done the seed's way (rounds one after another,
the six models of a round in parallel); the run with 10% 429 and 5% 500 injected (wall time against the fault-free
run, records lost); and the SDK floor: the same requests sent with the bare SDKs (boto3 in a thread pool, httpx,
the openai SDK) at the same concurrency, with no planning, rate control or store, so synthgen's own CPU per request
is the difference (in this process, and as a whole process of its own).

A whole process runs with Python's bytecode cache (in a temporary PYTHONPYCACHEPREFIX, filled by a first run), as
an installed package has it; `--no-bytecode` keeps the environment's PYTHONDONTWRITEBYTECODE as it is, so every
start compiles synthgen from source.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from provider_server import start_subprocess_server, stop_subprocess_server  # noqa: E402

from synthgen.adapters import Adapters  # noqa: E402
from synthgen.catalog import load_catalog  # noqa: E402
from synthgen.generation import generate, plan_cells  # noqa: E402
from synthgen.store import open_store  # noqa: E402

MODELS = ["j2-ultra", "titan-express", "claude-v2", "llama2", "gemini-pro", "gpt-4"]
GEMINI_KEY = "bench-gemini-key-0000"


def point_env_at(url: str) -> None:
    os.environ.update(
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME=url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        GEMINI_BASE_URL=url,
        GEMINI_API_KEY=GEMINI_KEY,
        OPENAI_BASE_URL=f"{url}/v1",
        OPENAI_API_KEY="sk-bench-0000",
    )


def configure(url: str, **opts) -> None:
    httpx.post(f"{url}/_control/reset", timeout=10)
    httpx.post(f"{url}/_control/configure", json={"model": "*", **opts}, timeout=10)


def server_requests(url: str) -> int:
    return httpx.get(f"{url}/_control/stats", timeout=10).json()["total"]


def run_synthgen(rounds: int, concurrency: int, db: str) -> tuple[float, float, int]:
    cpu0, t0 = time.process_time(), time.perf_counter()
    summary = generate(rounds=rounds, models=MODELS, store=f"sqlite:///{db}", seed=1, concurrency=concurrency)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return wall, cpu, summary.ok


def run_seed_way(rounds: int, db: str) -> float:
    """The original loop: one round at a time, its six models in parallel, no retries."""
    catalog = load_catalog()
    specs = [catalog[m] for m in MODELS]
    store = open_store(f"sqlite:///{db}")
    from synthgen.store import RunInfo, utc_now

    run = RunInfo("seedway", utc_now(), 1, rounds, MODELS, "sentiment", "", "sentiment")
    cells = list(plan_cells(run, specs, "sentiment", "sentiment"))  # planned one round at a time: slice a list

    async def main() -> None:
        adapters = Adapters(max_connections=len(specs))
        try:
            for r in range(rounds):
                row = cells[r * len(specs) : (r + 1) * len(specs)]
                results = await asyncio.gather(
                    *(adapters.for_spec(catalog[c.model]).call(catalog[c.model], c.prompt) for c in row)
                )
                for cell, result in zip(row, results, strict=True):
                    cell.status, cell.text = ("ok" if result.ok else "failed"), result.text
                    store.put_record(cell)
        finally:
            await adapters.aclose()

    t0 = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - t0


def run_sdk_floor(rounds: int, concurrency: int) -> tuple[float, float, int]:
    """The same requests through the bare SDKs: what any client built on boto3, httpx and openai pays."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    import openai
    from botocore.config import Config

    from synthgen.store import RunInfo, utc_now

    catalog = load_catalog()
    specs = [catalog[m] for m in MODELS]
    run = RunInfo("floor", utc_now(), 1, rounds, MODELS, "sentiment", "", "sentiment")
    adapters = Adapters()
    jobs = [
        (catalog[c.model], adapters.for_spec(catalog[c.model]).build_body(catalog[c.model], c.prompt))
        for c in plan_cells(run, specs, "sentiment", "sentiment")
    ]
    config = Config(retries={"total_max_attempts": 1}, max_pool_connections=concurrency)
    bedrock = boto3.client("bedrock-runtime", region_name=os.environ["AWS_REGION"], config=config)
    pool = ThreadPoolExecutor(concurrency)
    gemini_url = os.environ["GEMINI_BASE_URL"]

    def invoke(model_id: str, body: dict) -> dict:
        return json.loads(
            bedrock.invoke_model(modelId=model_id, body=json.dumps(body).encode(), contentType="application/json")[
                "body"
            ].read()
        )

    async def send_all() -> int:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        http = httpx.AsyncClient(limits=limits, timeout=60)
        oai = openai.AsyncOpenAI(max_retries=0, http_client=httpx.AsyncClient(limits=limits, timeout=60))
        gate = asyncio.Semaphore(concurrency)
        loop = asyncio.get_running_loop()

        async def one(spec, body) -> bool:
            async with gate:
                if spec.protocol == "bedrock-invoke":
                    data = await loop.run_in_executor(pool, invoke, spec.model_id, body)
                elif spec.protocol == "gemini":
                    r = await http.post(
                        f"{gemini_url}/v1beta/models/{spec.model_id}:generateContent",
                        json=body,
                        headers={"x-goog-api-key": os.environ["GEMINI_API_KEY"]},
                    )
                    data = r.json()
                else:
                    r = await oai.post("/chat/completions", body=body, cast_to=httpx.Response)
                    data = r.json()
                return bool(data)

        try:
            return sum(await asyncio.gather(*(one(spec, body) for spec, body in jobs)))
        finally:
            await http.aclose()
            await oai.close()

    cpu0, t0 = time.process_time(), time.perf_counter()
    ok = asyncio.run(send_all())
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    pool.shutdown()
    return wall, cpu, ok


def whole_process(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the process and every child it waited for, last line of stdout) of one command."""
    import subprocess

    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])} ... exited {proc.returncode}")
    # ru_*time of wait4 covers the process and the children it reaped (workers included)
    return wall, usage.ru_utime + usage.ru_stime, (out.strip().splitlines() or [""])[-1]


def whole_env(bytecode: bool, cache: str) -> dict[str, str]:
    env = dict(os.environ)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
    return env


def cli_argv(rounds: int, concurrency: int, db: str, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "synthgen.cli",
        "generate",
        *("--rounds", str(rounds), "--models", ",".join(MODELS), "--store", f"sqlite:///{db}", "--seed", "1"),
        *("--concurrency", str(concurrency), "--quiet", "--workers", str(workers)),
    ]


def main() -> None:
    if sys.argv[1:2] == ["--floor-process"]:  # the bare SDKs as a whole process: ROUNDS CONCURRENCY
        wall, cpu, ok = run_sdk_floor(int(sys.argv[2]), int(sys.argv[3]))
        print(ok)
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--jitter", type=float, default=0.2)
    parser.add_argument("--seed-rounds", type=int, default=200, help="rounds for the seed's way (0 to skip)")
    parser.add_argument("--no-bytecode", action="store_true", help="whole processes compile synthgen from source")
    args = parser.parse_args()
    proc, url = start_subprocess_server(latency=args.latency, jitter=args.jitter, seed=1, gemini_api_key=GEMINI_KEY)
    point_env_at(url)
    n = args.rounds * len(MODELS)
    ideal = n * args.latency / args.concurrency
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = whole_env(not args.no_bytecode, f"{tmp}/pycache")
            whole_process(cli_argv(2, args.concurrency, f"{tmp}/warm-cli.db"), env)  # fills the bytecode cache
            whole_process(cli_argv(2, args.concurrency, f"{tmp}/warm-cli2.db", workers=2), env)
            for workers in (1, 2):
                configure(url, latency=args.latency, jitter=args.jitter)
                wall, cpu, _ = whole_process(
                    cli_argv(args.rounds, args.concurrency, f"{tmp}/w{workers}.db", workers), env
                )
                sent = server_requests(url)
                name = "synthgen, whole process" + (f", --workers {workers}" if workers > 1 else "")
                rows.append((name, wall, wall / ideal, cpu / sent * 1000, sent, n - sent))
            configure(url, latency=args.latency, jitter=args.jitter)
            floor_argv = [sys.executable, __file__, "--floor-process", str(args.rounds), str(args.concurrency)]
            fwall, fcpu, fok = whole_process(floor_argv, env)
            fsent = server_requests(url)
            rows.append(("bare SDKs, whole process", fwall, fwall / ideal, fcpu / fsent * 1000, int(fok), n - int(fok)))
            configure(url, latency=args.latency, jitter=args.jitter)
            generate(rounds=2, models=MODELS, store=f"sqlite:///{tmp}/warm.db", seed=0)  # imports, first connections
            configure(url, latency=args.latency, jitter=args.jitter)
            wall, cpu, ok = run_synthgen(args.rounds, args.concurrency, f"{tmp}/clean.db")
            sent = server_requests(url)
            rows.append(("synthgen, no faults (in process, warm)", wall, wall / ideal, cpu / sent * 1000, ok, n - ok))
            configure(url, latency=args.latency, jitter=args.jitter, p429=0.10, p500=0.05)
            fwall, fcpu, fok = run_synthgen(args.rounds, args.concurrency, f"{tmp}/faults.db")
            fsent = server_requests(url)
            rows.append(("synthgen, 10% 429 + 5% 500", fwall, fwall / ideal, fcpu / fsent * 1000, fok, n - fok))
            configure(url, latency=args.latency, jitter=args.jitter)
            run_sdk_floor(2, args.concurrency)  # warm: imports, first connections
            configure(url, latency=args.latency, jitter=args.jitter)
            lwall, lcpu, lok = run_sdk_floor(args.rounds, args.concurrency)
            lsent = server_requests(url)
            rows.append(
                (
                    "bare SDKs (floor: no plan, rate control or store)",
                    lwall,
                    lwall / ideal,
                    lcpu / lsent * 1000,
                    lok,
                    n - lok,
                )
            )
            if args.seed_rounds:
                configure(url, latency=args.latency, jitter=args.jitter)
                swall = run_seed_way(args.seed_rounds, f"{tmp}/seed.db")
                swall_scaled = swall * args.rounds / args.seed_rounds
                rows.append(
                    (
                        f"seed's way ({args.seed_rounds} rounds, scaled)",
                        swall_scaled,
                        swall_scaled / ideal,
                        float("nan"),
                        None,
                        None,
                    )
                )
    finally:
        stop_subprocess_server(proc)
    print(
        f"\n{args.rounds} rounds x {len(MODELS)} models = {n} requests, latency {args.latency}±{args.jitter} s, "
        f"concurrency {args.concurrency}; ideal N x L / C = {ideal:.2f} s\n"
    )
    print("| run | wall s | x ideal | client CPU ms/request | ok | lost |\n|---|---|---|---|---|---|")
    for name, wall, ratio, cpu_ms, ok, lost in rows:
        print(
            f"| {name} | {wall:.2f} | {ratio:.2f} | {cpu_ms:.2f} | {ok if ok is not None else '-'} "
            f"| {lost if lost is not None else '-'} |"
        )
    by = {row[0]: row for row in rows}
    clean, faults = by["synthgen, no faults (in process, warm)"], by["synthgen, 10% 429 + 5% 500"]
    floor = by["bare SDKs (floor: no plan, rate control or store)"]
    print(f"\nfaults / fault-free wall: {faults[1] / clean[1]:.2f}x")
    print(
        f"client CPU per request, synthgen / bare SDKs: {clean[3] / floor[3]:.2f}x "
        f"(synthgen's own share: {clean[3] - floor[3]:.2f} ms per request)"
    )
    whole, whole_floor = by["synthgen, whole process"], by["bare SDKs, whole process"]
    print(
        f"whole process, start-up included: synthgen {whole[2]:.2f}x ideal, bare SDKs {whole_floor[2]:.2f}x "
        f"(bytecode cache {'off' if args.no_bytecode else 'on'})"
    )
    seed = [row for row in rows if row[0].startswith("seed's way")]
    if seed:
        print(f"seed's way / synthgen: {seed[0][1] / clean[1]:.1f}x slower")


if __name__ == "__main__":
    main()
