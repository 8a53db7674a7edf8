"""synthgen: labelled text datasets written by many LLMs at once.

The Python API lives in `synthgen.api` and is re-exported here, lazily: `import synthgen` (and `synthgen --help`)
imports nothing heavy; the first use of a name imports `synthgen.api`.

    import synthgen as sg

    summary = sg.generate(rounds=12, store="sqlite:///synthgen.db", seed=1)
    report = sg.topics(summary.run_id, store="sqlite:///synthgen.db")
"""

import importlib

__version__ = "0.1.0"

# synthgen.api.__all__, repeated here so that `import synthgen` does not import the API to learn its names
# (tests/test_api.py checks that the two lists agree). No submodule shares one of these names, so an imported
# submodule never shadows an API function.
API_NAMES = (
    "generate",
    "tasks",
    "RunSummary",
    "clean_run",
    "RunCleaning",
    "CleanResult",
    "run_stats",
    "RunStats",
    "plot_stats",
    "stats_figures",
    "export_dataset",
    "ExportResult",
    "topics",
    "verify_run",
    "generate_verified",
    "evaluate",
    "UserError",
)
__all__ = list(API_NAMES)


def __getattr__(name: str):
    if name in API_NAMES:
        value = getattr(importlib.import_module(f"{__name__}.api"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *API_NAMES})
