"""The recipes a sweep can run, declared once: each a pydantic config type, its default, and a function
``config, context → TrialOutput`` that runs in a Ray worker (or in-process).

Built in:

* ``demo`` — :class:`hal9.experiments.demo.DemoConfig`: a designed hierarchy simulated
  (:func:`hal9.experiments.demo.run_demo` without figures or MLflow); its measured numbers as metrics;
* ``probe`` — :class:`ProbeConfig`: sleeps, reports its process and node, can fail on purpose. For
  measuring the sweep machinery itself (per-trial overhead) and for fault tests (a worker killed while
  it sleeps);
* the HAL9 claims (issue 16): ``ratio`` and ``emergent`` (:mod:`hal9.experiments.hierarchy_claims`),
  ``ratio_task`` (:mod:`hal9.experiments.ratio_task`),
  ``scaling`` and ``hal9_table`` (:mod:`hal9.experiments.scaling_claims`), ``l4_failures``
  (:mod:`hal9.experiments.l4_failures`).

:func:`register_recipe` adds one; it must be importable on every node (a module of an installed
package), since workers look recipes up by name.
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ProbeConfig",
    "SweepRecipe",
    "TrialContext",
    "TrialOutput",
    "get_recipe",
    "recipe_names",
    "register_recipe",
]


class TrialOutput(TypedDict):
    """What a recipe returns: numeric ``metrics`` and small ``artifacts`` (file name → bytes)."""

    metrics: dict[str, float]
    artifacts: dict[str, bytes]


@dataclass(frozen=True)
class TrialContext:
    """Where a trial runs: ``device`` (``"cuda"`` when Ray gave it a GPU, else ``"cpu"``), its torch
    ``threads``, the trial ``id`` and ``attempt`` (1-based)."""

    device: str = "cpu"
    threads: int = 1
    trial_id: str = ""
    attempt: int = 1


@dataclass(frozen=True)
class SweepRecipe:
    """A recipe a sweep can run, named by where its parts live: ``module`` (importable on every node)
    and the names in it of the config type, the default-config function and the run function. They are
    imported on first use, so listing or validating one recipe does not import the others' modules.

    Attributes
    ----------
    name : str
        What sweep configs call it.
    module : str
        Dotted module path, e.g. ``"hal9.experiments.hierarchy_claims"``.
    config, default, run_function : str
        Names in ``module`` (or ``"other.module:name"``): a pydantic model with a ``seed`` field;
        ``() -> dict`` (JSON-ready default config); ``(config, TrialContext) -> TrialOutput``.
    description : str
        One line for listings.
    """

    name: str
    module: str
    config: str
    default: str
    run_function: str
    description: str = ""

    def _attr(self, name: str) -> Any:
        module, _, attr = name.rpartition(":")
        return getattr(importlib.import_module(module or self.module), attr)

    @property
    def config_type(self) -> type[BaseModel]:
        """The recipe's pydantic config model."""
        model: type[BaseModel] = self._attr(self.config)
        return model

    def default_config(self) -> dict[str, Any]:
        """The recipe's default config, JSON-ready."""
        default: dict[str, Any] = self._attr(self.default)()
        return default

    def run(self, config: Any, context: TrialContext) -> TrialOutput:
        """Run one trial."""
        out: TrialOutput = self._attr(self.run_function)(config, context)
        return out


_RECIPES: dict[str, SweepRecipe] = {}


def register_recipe(recipe: SweepRecipe) -> None:
    """Add ``recipe`` under its name (a name already taken raises ``ValueError``)."""
    if recipe.name in _RECIPES:
        raise ValueError(f"a sweep recipe named {recipe.name!r} exists already")
    _RECIPES[recipe.name] = recipe


def recipe_names() -> tuple[str, ...]:
    """Names of the registered recipes, built-in first."""
    return tuple(_RECIPES)


def get_recipe(name: str) -> SweepRecipe:
    """The recipe called ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return _RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(_RECIPES)}") from None


def numeric_metrics(summary: Any, prefix: str = "") -> dict[str, float]:
    """The int and float leaves of a JSON-ready summary (nested keys joined by ``.``; no bools)."""
    out: dict[str, float] = {}
    if isinstance(summary, dict):
        for key, value in summary.items():
            out |= numeric_metrics(value, f"{prefix}{key}.")
    elif isinstance(summary, (int, float)) and not isinstance(summary, bool):
        out[prefix.rstrip(".")] = float(summary)
    return out


# -- demo ---------------------------------------------------------------------------------------------


def demo_default() -> dict[str, Any]:
    """The ``demo`` recipe's default: 900 neurons, 200 steps, on CPU."""
    from hal9.experiments.demo import demo_config

    return demo_config(900, steps=200, device="cpu").model_dump(mode="json")


def demo_run(config: Any, context: TrialContext) -> TrialOutput:
    """One ``demo`` trial: :func:`hal9.experiments.demo.run_demo` without figures or MLflow."""
    from hal9.experiments.demo import run_demo

    if context.device != "cpu":
        config = config.model_copy(update={"device": context.device})
    summary = run_demo(config, outputs=None, experiment=None, progress=False)
    metrics = {k: v for k, v in numeric_metrics(dict(summary)).items() if not k.startswith("mlflow")}
    metrics |= {
        f"mean_abs_rate.{layer['layer'].split()[0]}": layer["mean_abs_rate"] for layer in summary["layers"]
    }
    return {"metrics": metrics, "artifacts": {}}


# -- probe --------------------------------------------------------------------------------------------


class ProbeConfig(BaseModel):
    """The ``probe`` recipe: sleep ``seconds``, write the worker's pid to ``pid_file`` first (when set),
    raise when ``fail``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seconds: float = Field(0.0, ge=0, le=3600, allow_inf_nan=False)
    fail: bool = False
    pid_file: str | None = None
    seed: int = 0


def probe_default() -> dict[str, Any]:
    """The ``probe`` recipe's default: no sleep, no failure."""
    return ProbeConfig().model_dump(mode="json")


def probe_run(config: ProbeConfig, context: TrialContext) -> TrialOutput:
    """One ``probe`` trial (see :class:`ProbeConfig`)."""
    t0 = time.perf_counter()
    if config.pid_file:
        tmp = Path(f"{config.pid_file}.{os.getpid()}.tmp")
        tmp.write_text(str(os.getpid()))
        tmp.replace(config.pid_file)
    time.sleep(config.seconds)
    if config.fail:
        raise RuntimeError(f"probe trial {context.trial_id} failed on purpose (fail=true)")
    return {
        "metrics": {"slept_s": time.perf_counter() - t0},
        "artifacts": {},
    }


_HERE = __name__
for _recipe in (
    SweepRecipe(
        "demo",
        _HERE,
        "hal9.experiments.demo:DemoConfig",
        "demo_default",
        "demo_run",
        "a designed 9-layer rate hierarchy driven through L1 (hal9 demo, no figures)",
    ),
    SweepRecipe(
        "probe",
        _HERE,
        "ProbeConfig",
        "probe_default",
        "probe_run",
        "sleeps and reports its process: the sweep machinery's own overhead and faults",
    ),
    # the HAL9 claims put to the test (docs/experiments.md, experiments/sweeps/)
    SweepRecipe(
        "ratio",
        "hal9.experiments.hierarchy_claims",
        "RatioConfig",
        "ratio_sweep_default",
        "ratio_sweep_run",
        "a designed hierarchy with compression ratio r: Φ, CKA, compression, LZ per boundary (is e special?)",
    ),
    SweepRecipe(
        "ratio_task",
        "hal9.experiments.ratio_task",
        "RatioTaskConfig",
        "ratio_task_default",
        "ratio_task_run",
        "digits accuracy of a LIF hierarchy whose layers above L2 shrink by r (is e special for a task?)",
    ),
    SweepRecipe(
        "emergent",
        "hal9.experiments.hierarchy_claims",
        "EmergentConfig",
        "emergent_sweep_default",
        "emergent_sweep_run",
        "emergent vs designed (same sizes) vs degree-preserving null: the same metrics",
    ),
    SweepRecipe(
        "scaling",
        "hal9.experiments.scaling_claims",
        "ScalingConfig",
        "scaling_sweep_default",
        "scaling_sweep_run",
        "self-organization at one size: time, memory, layers, modularity margin, ARI after removal",
    ),
    SweepRecipe(
        "l4_failures",
        "hal9.experiments.l4_failures",
        "L4FailureConfig",
        "l4_sweep_default",
        "l4_sweep_run",
        "L4 scheduling under failures: completion, makespan, misses, fairness; a lost task fails the trial",
    ),
    SweepRecipe(
        "hal9_table",
        "hal9.experiments.scaling_claims",
        "Hal9TableConfig",
        "hal9_table_sweep_default",
        "hal9_table_sweep_run",
        "one row of HAL9's README timing table with the work executed, next to the claimed time",
    ),
):
    register_recipe(_recipe)
