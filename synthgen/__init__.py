"""synthgen: labelled text datasets written by many LLMs at once.

The Python API lives in `synthgen.api` and is re-exported here, lazily: `import synthgen` (and `synthgen --help`)
imports nothing heavy; the first use of a name imports `synthgen.api`.

    import synthgen as sg

    summary = sg.generate(rounds=12, store="sqlite:///synthgen.db", seed=1)
    report = sg.topics(summary.run_id, store="sqlite:///synthgen.db")
"""

import importlib
import sys
import types

__version__ = "0.1.0"

# synthgen.api.__all__, repeated here so that `import synthgen` does not import the API to learn its names
# (tests/test_api.py checks that the two lists agree).
API_NAMES = ("generate", "RunSummary", "clean_run", "RunCleaning", "CleanResult", "run_stats", "RunStats",
             "plot_stats", "stats_figures", "export_dataset", "ExportResult", "topics", "UserError")
__all__ = list(API_NAMES)


def __getattr__(name: str):
    if name == "generate":  # the submodule, which is callable (below)
        return importlib.import_module(f"{__name__}.generate")
    if name in API_NAMES:
        value = getattr(importlib.import_module(f"{__name__}.api"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *API_NAMES})


class _GenerateModule(types.ModuleType):
    """The submodule `synthgen.generate`, which, called, is the API's `generate`.

    `synthgen.generate` names both the submodule (`from synthgen.generate import plan_cells`) and the API function
    (`synthgen.generate(rounds=12)`). Python binds a package's attribute to a submodule as soon as the submodule is
    imported, so a lazily re-exported function would be replaced by the module; instead, the module is callable."""

    def __call__(self, *args, **kwargs):
        from .api import generate

        return generate(*args, **kwargs)


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        # The import system binds a newly imported submodule here: make `synthgen.generate` callable.
        if name == "generate" and type(value) is types.ModuleType:
            value.__class__ = _GenerateModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
if "generate" in globals():  # imported before this package finished (not normally; kept for reloads)
    _Package.__setattr__(sys.modules[__name__], "generate", globals()["generate"])
