"""The recipes a sweep can run, declared once: each a pydantic config type, its default, and a function
``config, context → TrialOutput`` that runs in a Ray worker (or in-process).

Built in:

* ``demo`` — :class:`hal9.experiments.demo.DemoConfig`: a designed hierarchy simulated
  (:func:`hal9.experiments.demo.run_demo` without figures or MLflow); its measured numbers as metrics;
* ``probe`` — :class:`ProbeConfig`: sleeps, reports its process and node, can fail on purpose. For
  measuring the sweep machinery itself (per-trial overhead) and for fault tests (a worker killed while
  it sleeps).

:func:`register_recipe` adds one; it must be importable on every node (a module of an installed
package), since workers look recipes up by name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    """A recipe a sweep can run (see the module docstring)."""

    name: str
    config_type: type[BaseModel]
    default_config: Callable[[], dict[str, Any]]
    run: Callable[[Any, TrialContext], TrialOutput]
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


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


def _demo_default() -> dict[str, Any]:
    from hal9.experiments.demo import demo_config

    return demo_config(900, steps=200, device="cpu").model_dump(mode="json")


def _demo_run(config: Any, context: TrialContext) -> TrialOutput:
    from hal9.experiments.demo import run_demo

    if context.device != "cpu":
        config = config.model_copy(update={"device": context.device})
    summary = run_demo(config, outputs=None, experiment=None, progress=False)
    metrics = {k: v for k, v in numeric_metrics(dict(summary)).items() if not k.startswith("mlflow")}
    metrics |= {
        f"mean_abs_rate.{layer['layer'].split()[0]}": layer["mean_abs_rate"] for layer in summary["layers"]
    }
    return {"metrics": metrics, "artifacts": {}}


def _demo_config_type() -> type[BaseModel]:
    from hal9.experiments.demo import DemoConfig

    return DemoConfig


# -- probe --------------------------------------------------------------------------------------------


class ProbeConfig(BaseModel):
    """The ``probe`` recipe: sleep ``seconds``, write the worker's pid to ``pid_file`` first (when set),
    raise when ``fail``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seconds: float = Field(0.0, ge=0, le=3600, allow_inf_nan=False)
    fail: bool = False
    pid_file: str | None = None
    seed: int = 0


def _probe_run(config: ProbeConfig, context: TrialContext) -> TrialOutput:
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


register_recipe(
    SweepRecipe(
        name="demo",
        config_type=_demo_config_type(),
        default_config=_demo_default,
        run=_demo_run,
        description="a designed 9-layer rate hierarchy driven through L1 (hal9 demo, no figures)",
    )
)
register_recipe(
    SweepRecipe(
        name="probe",
        config_type=ProbeConfig,
        default_config=lambda: ProbeConfig().model_dump(mode="json"),
        run=_probe_run,
        description="sleeps and reports its process: the sweep machinery's own overhead and faults",
    )
)
