"""`generate --workers N`: a run's unfinished cells split over N worker processes, each running the engine on its
share against the same store, while the process that started them holds the run's lease, relays their progress
and reads the one summary back from the store.

The split is deterministic and exact (`shares.py`): a model's cells go to the first k = min(N, its limit)
workers by round (`round % k`), and every limit (the run's `--concurrency` and each model's) is divided among the
workers that share it, so the requests in flight over all workers are what one process would keep. Each worker
has its own rate control (AIMD, backoff, Retry-After, the breaker) for its share: a 429 slows the worker that met
it.

The run's lease stays with the starting process (`pool.py`), so a `--resume` while workers run is refused as
before. A worker dies with that process (PR_SET_PDEATHSIG on Linux; its heartbeat checks its parent elsewhere:
`side.py`), so a run whose parent was killed is free to resume at once without two processes sending its cells;
a worker that dies alone leaves its share to `--resume`, and the run ends with one line saying so (exit 3).
Ctrl-C or SIGTERM stops every worker the way it stops one process: what finished is stored (exit 130).

This package knows processes and messages, not the engine: a worker's body comes from `generation`, which
passes it to `pool.run_workers`. Nothing is imported here: a run in one process never loads multiprocessing.
"""
