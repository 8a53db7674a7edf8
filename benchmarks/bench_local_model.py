"""Speed of the bundled local model (local-gemma: Gemma 3 270M Q4_K_M, in-process llama.cpp) on this machine.

    python benchmarks/bench_local_model.py                 # 20 rounds, llama.cpp's default thread count
    python benchmarks/bench_local_model.py --threads 1,2   # compare thread counts
    python benchmarks/bench_local_model.py --generate 200  # also a `generate` run into a temp SQLite store
    python benchmarks/bench_local_model.py --queue 3       # N requests queued at once on the one worker

Each answer goes through `Adapter.call` as `generate` sends it (the few-shot prompt from the round, seeded).
Load time (assembling the GGUF the first time, then loading it) is reported apart from generation; "echoed"
counts answers that copied a worked example of the few-shot prompt (a failed answer, retried by `generate`).
Output tokens per second = output tokens / seconds generating (measured inside the model's worker thread);
the prompt is ~290 tokens, mostly the shared few-shot prefix, which llama.cpp keeps in its KV cache between
calls.

`--queue N` sends N rounds at once: they queue on the single worker, so the wall time is about the sum of their
generation times, and each reported latency is its own generation, not its wait (the tests prove this by the
order of generations; the times are here). It also reports the longest the event loop went without a turn
meanwhile (small: generation runs off the loop).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from synthgen.adapters.gguf import local_available, resolve_gguf
from synthgen.catalog import load_catalog
from synthgen.prompt import plan_run


def _quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def _answers(spec, rounds: int, seed: int):
    from synthgen.adapters import Adapters

    adapters = Adapters(max_connections=1)
    adapter = adapters.for_spec(spec)
    plans = plan_run(rounds, seed=seed)
    try:
        started = time.perf_counter()
        await adapter.call(spec, "Warm up.", {"max_tokens": 1})  # loads the model
        load_s = time.perf_counter() - started
        results = []
        for plan in plans:
            results.append((plan, await adapter.call(spec, plan.prompt, round=plan)))
        return load_s, results
    finally:
        await adapters.aclose()


def bench(spec, rounds: int, seed: int) -> dict:
    load_s, results = asyncio.run(_answers(spec, rounds, seed))
    ok = [r for _, r in results if r.ok]
    latencies = [r.latency_s for r in ok]
    out_tokens = sum(r.usage.output_tokens or 0 for r in ok)
    in_tokens = [r.usage.input_tokens or 0 for r in ok]
    return {
        "threads": spec.options.get("n_threads", "default"),
        "rounds": rounds,
        "ok": len(ok),
        "echoed": sum(1 for _, r in results if r.failure and r.failure.message.startswith("echoed a few-shot")),
        "load_s": load_s,
        "s_answer_mean": statistics.mean(latencies) if latencies else float("nan"),
        "s_answer_p50": _quantile(latencies, 0.5) if latencies else float("nan"),
        "s_answer_p95": _quantile(latencies, 0.95) if latencies else float("nan"),
        "out_tok_per_answer": out_tokens / len(ok) if ok else float("nan"),
        "prompt_tok_per_answer": statistics.mean(in_tokens) if in_tokens else float("nan"),
        "out_tok_s": out_tokens / sum(latencies) if latencies else float("nan"),
        "samples": [
            (plan.sentiment, [t.topic for t in plan.topics], r.text)
            for sentiment in ("positive", "negative")
            for plan, r in [x for x in results if x[0].sentiment == sentiment][:3]
        ],
    }


async def _queued(spec, n: int, seed: int):
    from synthgen.adapters import Adapters

    adapters = Adapters(max_connections=1)
    adapter = adapters.for_spec(spec)
    plans = plan_run(n, seed=seed)
    gaps: list[float] = []

    async def ticker():
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    try:
        await adapter.call(spec, plans[0].prompt, round=plans[0])  # warm: loaded, shared prefix cached
        task = asyncio.create_task(ticker())
        started = time.perf_counter()
        results = await asyncio.gather(*(adapter.call(spec, p.prompt, round=p) for p in plans))
        wall = time.perf_counter() - started
        task.cancel()
        return wall, results, max(gaps, default=0.0)
    finally:
        await adapters.aclose()


def bench_queue(spec, n: int, seed: int) -> dict:
    wall, results, gap = asyncio.run(_queued(spec, n, seed))
    latencies = [r.latency_s for r in results]
    return {
        "n": n,
        "ok": sum(r.ok for r in results),
        "wall_s": wall,
        "sum_latency_s": sum(latencies),
        "max_latency_share": max(latencies) / wall if wall else float("nan"),
        "max_loop_gap_s": gap,
    }


def bench_generate(rounds: int, seed: int) -> tuple[float, object]:
    from synthgen.generation import generate

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = generate(
            rounds=rounds, models=["local-gemma"], store=f"sqlite:///{Path(tmp) / 'bench.db'}", seed=seed
        )
        return time.perf_counter() - started, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", default="", help="comma-separated n_threads values to compare")
    parser.add_argument("--generate", type=int, default=0, metavar="N", help="also time `generate --rounds N`")
    parser.add_argument(
        "--queue",
        type=int,
        default=0,
        metavar="N",
        help="also send N rounds at once and compare their latencies with the wall time",
    )
    args = parser.parse_args(argv)

    ok, hint = local_available()
    if not ok:
        print(hint, file=sys.stderr)
        return 2
    spec = load_catalog()["local-gemma"]
    started = time.perf_counter()
    path = resolve_gguf(spec)
    resolved = time.perf_counter() - started
    print(f"model: {path} ({path.stat().st_size / 1e6:.0f} MB), resolved in {resolved:.2f}s")
    import llama_cpp

    print(
        f"llama-cpp-python {llama_cpp.__version__}, {os.cpu_count()} CPUs, default n_threads "
        f"{max(os.cpu_count() // 2, 1)}"
    )

    rows = []
    for threads in [int(t) for t in args.threads.split(",") if t.strip()] or [None]:
        options = dict(spec.options)
        if threads is not None:
            options["n_threads"] = threads
        rows.append(bench(dataclasses.replace(spec, options=options), args.rounds, args.seed))

    header = (
        "threads",
        "answers",
        "echoed",
        "load s",
        "s/answer mean",
        "p50",
        "p95",
        "out tok/answer",
        "prompt tok",
        "out tok/s",
    )
    print()
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for r in rows:
        print(
            f"{r['threads']} | {r['ok']}/{r['rounds']} | {r['echoed']} | {r['load_s']:.2f} | "
            f"{r['s_answer_mean']:.3f} | "
            f"{r['s_answer_p50']:.3f} | {r['s_answer_p95']:.3f} | {r['out_tok_per_answer']:.1f} | "
            f"{r['prompt_tok_per_answer']:.0f} | {r['out_tok_s']:.1f}"
        )
    print("\nsamples:")
    for sentiment, topics, text in rows[0]["samples"]:
        print(f"  [{sentiment}; {', '.join(topics)}] {text}")

    if args.queue:
        q = bench_queue(spec, args.queue, args.seed)
        share = q["sum_latency_s"] / q["wall_s"]
        print(
            f"\n{q['n']} queued at once: {q['ok']} ok, wall {q['wall_s']:.3f}s, sum of latencies "
            f"{q['sum_latency_s']:.3f}s (x{share:.2f} of wall; each its own generation), longest latency "
            f"{q['max_latency_share']:.0%} of wall, longest event-loop gap {q['max_loop_gap_s']:.3f}s"
        )

    if args.generate:
        wall, summary = bench_generate(args.generate, args.seed)
        model = summary.models["local-gemma"]
        print(
            f"\ngenerate --rounds {args.generate} --models local-gemma: {summary.ok}/{summary.total} ok in "
            f"{wall:.1f}s wall ({wall / max(summary.total, 1):.3f} s/answer end to end), "
            f"p50 {model.latency_p50:.3f}s, {model.tokens_per_s:.1f} output tok/s; failures by kind: "
            f"{dict(model.failures) if getattr(model, 'failures', None) else 'none'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
