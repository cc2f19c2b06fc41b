"""Sweeps on Ray: one recipe over a grid and/or random samples of its parameters and several seeds,
each trial a Ray task and an MLflow child run under the sweep's parent run; retried when a worker dies,
resumable when the driver dies. See ``docs/sweeps.md`` and ``hal9 sweep --help``.

* :mod:`~hal9.experiments.sweep.config` — :class:`SweepConfig`, :func:`expand_trials`,
  :func:`load_sweep_config` (JSON or YAML);
* :mod:`~hal9.experiments.sweep.recipes` — the recipes a sweep can run (:func:`recipe_names`,
  :func:`register_recipe`);
* :mod:`~hal9.experiments.sweep.runner` — :func:`run_sweep`;
* :mod:`~hal9.experiments.sweep.aggregate` — per-point means and 95 % CIs over seeds.

Ray is imported only when a sweep runs (the ``sweep`` extra: ``pip install hal9-research[sweep]``).
"""

from hal9.experiments.sweep.config import (
    RandomParam,
    SweepConfig,
    Trial,
    TrialResources,
    expand_trials,
    load_sweep_config,
)
from hal9.experiments.sweep.recipes import SweepRecipe, TrialContext, recipe_names, register_recipe
from hal9.experiments.sweep.runner import SweepSummary, run_sweep

__all__ = [
    "RandomParam",
    "SweepConfig",
    "SweepRecipe",
    "SweepSummary",
    "Trial",
    "TrialContext",
    "TrialResources",
    "expand_trials",
    "load_sweep_config",
    "recipe_names",
    "register_recipe",
    "run_sweep",
]
