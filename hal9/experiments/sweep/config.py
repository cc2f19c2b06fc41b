"""Sweep configs and their expansion into trials (no Ray, no MLflow here).

A sweep is ``recipe × (grid ∪ random samples) × seeds``. Parameters are addressed by dotted paths into
the recipe's config (``"hierarchy.connectivity.gain"``); each trial's config is the recipe's default,
overridden by ``base``, then by the trial's values, then ``seed``, validated by the recipe's pydantic
model when the sweep is expanded, so a bad value fails before any trial runs, naming the field.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random as _random
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "RandomParam",
    "SweepConfig",
    "Trial",
    "TrialResources",
    "expand_trials",
    "load_sweep_config",
    "merge_overrides",
]


class TrialResources(BaseModel):
    """What one trial asks of the cluster (Ray's task resources).

    Attributes
    ----------
    cpus : float
        CPU cores (> 0); the trial's torch uses ``max(1, floor(cpus))`` threads.
    gpus : float
        GPUs (≥ 0); a trial given one runs on CUDA (its config's ``device`` set to ``"cuda"``).
    memory_mb : int or None
        Memory the scheduler reserves for the trial (MiB), or ``None``: no reservation.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpus: float = Field(1.0, gt=0, allow_inf_nan=False)
    gpus: float = Field(0.0, ge=0, allow_inf_nan=False)
    memory_mb: int | None = Field(None, gt=0)


class RandomParam(BaseModel):
    """A parameter drawn at random for each sample: uniform in ``[low, high]``, log-uniform when ``log``;
    with ``integer``, each integer in the range equally likely (log-uniform: rounded, kept in the range);
    or one of ``choices`` (with neither ``log`` nor ``integer``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low: float | None = Field(None, allow_inf_nan=False)
    high: float | None = Field(None, allow_inf_nan=False)
    log: bool = False
    integer: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> RandomParam:
        if self.choices is not None:
            if not self.choices:
                raise ValueError("choices must not be empty")
            if self.low is not None or self.high is not None or self.log or self.integer:
                raise ValueError("give either choices or low/high (with log/integer), not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("a random parameter needs low and high (or choices)")
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be ≥ low ({self.low})")
        if self.log and self.low <= 0:
            raise ValueError(f"log-uniform needs low > 0, got {self.low}")
        if self.integer and math.ceil(self.low) > math.floor(self.high):
            raise ValueError(f"no integer lies in [{self.low}, {self.high}]")
        return self

    def draw(self, rng: _random.Random) -> Any:
        """One value from ``rng``."""
        if self.choices is not None:
            return self.choices[rng.randrange(len(self.choices))]
        assert self.low is not None and self.high is not None
        if self.integer and not self.log:  # each integer in [low, high] equally likely
            return rng.randint(math.ceil(self.low), math.floor(self.high))
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        if self.integer:  # log-uniform, rounded and kept in range
            return min(max(round(value), math.ceil(self.low)), math.floor(self.high))
        return value


class SweepConfig(BaseModel):
    """A sweep: one recipe run over a grid and/or random samples of its parameters, for several seeds.

    Attributes
    ----------
    name : str
        Names the sweep: its folder (``<out>/<name>``) and its MLflow parent run.
    recipe : str
        A registered sweep recipe (:func:`hal9.experiments.sweep.recipe_names`).
    base : dict
        Fixed overrides of the recipe's default config (dotted paths or nested mappings).
    grid : dict of str to list
        Every combination of these values (a Cartesian product); each list non-empty.
    random : dict of str to RandomParam
        ``samples`` draws of these, seeded by ``random_seed``; combined with each grid point.
    samples : int
        Random draws (≥ 1 when ``random`` is set; ignored otherwise).
    random_seed : int
        Seeds the draws (the same config → the same trials).
    seeds : list of int
        Each parameter point runs once per seed (the recipe's ``seed`` field).
    resources : TrialResources
        Asked per trial.
    max_attempts : int
        Attempts of a trial whose worker or node dies (≥ 1); an error raised by the recipe itself is
        not retried (it would fail again) unless ``retry_errors``.
    retry_errors : bool
        Retry trials whose recipe raised, too.
    experiment : str
        MLflow experiment of the parent and child runs.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    recipe: str
    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    random: dict[str, RandomParam] = Field(default_factory=dict)
    samples: int = Field(1, ge=1)
    random_seed: int = 0
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    resources: TrialResources = TrialResources()
    max_attempts: int = Field(3, ge=1, le=100)
    retry_errors: bool = False
    experiment: str = Field("hal9-sweeps", min_length=1)

    @field_validator("recipe")
    @classmethod
    def _known_recipe(cls, v: str) -> str:
        from hal9.experiments.sweep.recipes import recipe_names

        if v not in recipe_names():
            raise ValueError(f"unknown recipe {v!r}; known: {', '.join(recipe_names())}")
        return v

    @field_validator("grid")
    @classmethod
    def _non_empty_axes(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in v.items():
            if not values:
                raise ValueError(f"grid axis {key!r} is empty")
        return v

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be distinct, got {v}")
        return v

    @model_validator(mode="after")
    def _disjoint_axes(self) -> SweepConfig:
        both = set(self.grid) & set(self.random)
        if both:
            raise ValueError(f"parameters both in grid and random: {sorted(both)}")
        if "seed" in self.grid or "seed" in self.random:
            raise ValueError("sweep seeds with 'seeds', not as a grid or random parameter")
        return self


class Trial(BaseModel):
    """One run of the recipe: its parameter values (dotted paths), seed, validated config and stable id.

    ``id`` is a hash of the recipe and the validated config (which holds the seed): the same trial has
    the same id in every expansion of the config, which is what ``--resume`` matches on; two parameter
    points that validate to the same config are one trial.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    index: int
    params: dict[str, Any]
    seed: int
    config: dict[str, Any]


def load_sweep_config(path: Path) -> SweepConfig:
    """Read a sweep config from a ``.json``, ``.yaml`` or ``.yml`` file.

    Raises
    ------
    ValueError
        If the file is missing, unreadable or not a mapping; ``pydantic.ValidationError`` for bad fields.
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"cannot read sweep config {path}: {exc.strerror or exc}") from None
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"sweep config {path} is not valid YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"sweep config {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"sweep config {path} must hold a mapping, got {type(data).__name__}")
    return SweepConfig.model_validate(data)


def merge_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``config`` with each dotted-path override set (nested mappings merge key by key)."""
    out = json.loads(json.dumps(config))  # a deep copy of JSON-ready data
    for path, value in overrides.items():
        if isinstance(value, dict):
            value = {f"{path}.{k}": v for k, v in value.items()}
            out = merge_overrides(out, value)
            continue
        node = out
        *parents, leaf = path.split(".")
        for key in parents:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        node[leaf] = value
    return out


def _trial_id(recipe: str, config: dict[str, Any], seed: int) -> str:
    key = json.dumps({"recipe": recipe, "config": config, "seed": seed}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def expand_trials(config: SweepConfig) -> list[Trial]:
    """Every trial of the sweep, each config validated by the recipe's model.

    Order: grid points (last axis fastest) × random samples × seeds. Trials whose validated configs are
    equal (a grid and random draws that coincide, ``1`` and ``1.0``) are kept once.

    Raises
    ------
    ValueError
        If a trial's config does not validate (the message names the trial's parameters and the field).
    """
    from pydantic import ValidationError

    from hal9.experiments.sweep.recipes import get_recipe

    recipe = get_recipe(config.recipe)
    axes = list(config.grid)
    points = [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*config.grid.values())]
    if config.random:
        rng = _random.Random(config.random_seed)
        draws = [{k: p.draw(rng) for k, p in config.random.items()} for _ in range(config.samples)]
        points = [{**g, **d} for g in points for d in draws]
    base = merge_overrides(recipe.default_config(), config.base)
    trials: list[Trial] = []
    seen: set[str] = set()
    for params in points:
        for seed in config.seeds:
            merged = merge_overrides(base, {**params, "seed": seed})
            try:
                validated = recipe.config_type.model_validate(merged)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                field = f"{where}: " if where else ""
                raise ValueError(f"trial {params} (seed {seed}): {field}{err['msg']}") from None
            as_json = validated.model_dump(mode="json")
            # the id hashes the validated config, so equal configs (a 1 and a 1.0) are one trial
            trial_id = _trial_id(config.recipe, as_json, seed)
            if trial_id in seen:
                continue
            seen.add(trial_id)
            trials.append(
                Trial(
                    id=trial_id,
                    index=len(trials),
                    params=params,
                    seed=seed,
                    config=as_json,
                )
            )
    return trials
