"""The primordial population: undifferentiated neurons described only by a few intrinsic features."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from hal9.core import as_tensor, make_generator

__all__ = ["BASE_FEATURES", "Population", "primordial_population", "validate_population"]

#: Names of the first three feature columns, in order (HAL9's speed ``s``, complexity ``c``, energy ``e``).
BASE_FEATURES: tuple[str, str, str] = ("speed", "complexity", "energy")

FeatureSampler = Callable[[int, torch.Generator], Tensor]


@dataclass(frozen=True)
class Population:
    """``N`` undifferentiated neurons, one row of ``F`` intrinsic features each.

    Shape
    -----
    * ``features``: ``(N, F)`` floating; column ``f`` is named ``feature_names[f]``.
    * ``feature_names``: ``F`` distinct names. :func:`primordial_population` puts ``speed``,
      ``complexity`` and ``energy`` in columns 0, 1, 2 (the columns
      :func:`~hal9.selforg.kernels.hal9_kernel` reads).

    Construction checks the structure only (2-D, one distinct name per column, ``N ≥ 2``); use
    :func:`validate_population` to also reject non-finite values (an ``O(N·F)`` pass).
    """

    features: Tensor
    feature_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.features, Tensor):  # numpy arrays and nested lists: float64 on the CPU
            object.__setattr__(self, "features", as_tensor(self.features, "features"))
        if not isinstance(self.feature_names, tuple):
            object.__setattr__(self, "feature_names", tuple(self.feature_names))
        if self.features.ndim != 2:
            raise ValueError(f"features must be (N, F), got shape {tuple(self.features.shape)}")
        if not self.features.dtype.is_floating_point:
            raise ValueError(f"features must be floating point, got {self.features.dtype}")
        if len(self.feature_names) != self.features.shape[1]:
            raise ValueError(
                f"feature_names has {len(self.feature_names)} names for {self.features.shape[1]} columns"
            )
        if len(set(self.feature_names)) != len(self.feature_names):
            raise ValueError(f"feature_names must be distinct, got {self.feature_names}")
        if self.features.shape[0] < 2:
            raise ValueError(f"a population needs n >= 2 neurons, got {self.features.shape[0]}")

    @property
    def n(self) -> int:
        """Number of neurons ``N``."""
        return int(self.features.shape[0])

    @property
    def device(self) -> torch.device:
        return self.features.device

    @property
    def dtype(self) -> torch.dtype:
        return self.features.dtype

    def feature(self, name: str) -> Tensor:
        """Column ``name`` of ``features``, shape ``(N,)`` (a view)."""
        try:
            j = self.feature_names.index(name)
        except ValueError:
            raise ValueError(f"no feature named {name!r}; features are {self.feature_names}") from None
        return self.features[:, j]

    @property
    def speed(self) -> Tensor:
        """Speed ``s``, ``(N,)``."""
        return self.feature("speed")

    @property
    def complexity(self) -> Tensor:
        """Complexity ``c``, ``(N,)``."""
        return self.feature("complexity")

    @property
    def energy(self) -> Tensor:
        """Energy ``e``, ``(N,)``."""
        return self.feature("energy")

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Population:
        """A copy on ``device`` with ``dtype`` (same names)."""
        return Population(self.features.to(device=device, dtype=dtype), self.feature_names)


def validate_population(population: Population) -> Population:
    """Return ``population`` unchanged if every feature is finite, else raise ``ValueError``.

    ``O(N·F)`` time. The structural checks (shape, names) already ran when the population was built.
    """
    if not isinstance(population, Population):
        raise ValueError(f"population must be a Population, got {type(population).__name__}")
    finite = torch.isfinite(population.features)
    if not bool(finite.all()):
        bad_rows, bad_cols = (~finite).nonzero(as_tuple=True)
        names = sorted({population.feature_names[int(c)] for c in bad_cols.unique()})
        raise ValueError(
            f"population has {bad_rows.numel()} non-finite (NaN/inf) feature values in {names}, "
            f"first at neuron {int(bad_rows[0])}"
        )
    return population


def primordial_population(
    n: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    energy: float | Tensor = 1.0,
    extra_features: Mapping[str, FeatureSampler] | None = None,
) -> Population:
    """Draw ``n`` undifferentiated neurons: ``s ~ U[0.1, 1)``, ``c ~ U[0.1, 1)``, ``e = energy``.

    Parameters
    ----------
    n : int
        Number of neurons, ``n ≥ 2``.
    seed, generator : int or torch.Generator, optional
        Source of randomness (give at most one; default seed 0). The global RNG is never used.
    device, dtype : factory kwargs
        Where and in which floating dtype the features live (draws happen on the generator's device).
    energy : float or Tensor
        Energy of every neuron (HAL9 starts all neurons at ``e = 1``), or an ``(n,)`` tensor.
    extra_features : mapping of name → callable, optional
        Extra columns appended in mapping order: ``sampler(n, generator) -> Tensor (n,)``.

    Returns
    -------
    Population
        ``features`` columns ``("speed", "complexity", "energy", *extra_features)``.

    Shape
    -----
    Output ``features``: ``(n, 3 + len(extra_features))``.

    Notes
    -----
    Speed is drawn before complexity from the same generator, then the extra samplers in order, so a
    seed fixes the whole population. ``O(n·F)`` time and memory.

    Examples
    --------
    >>> pop = primordial_population(1000, seed=0)
    >>> pop.features.shape, pop.feature_names
    (torch.Size([1000, 3]), ('speed', 'complexity', 'energy'))
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be floating point, got {dtype}")
    gen = make_generator(seed, generator)
    gdev = gen.device
    s = 0.1 + 0.9 * torch.rand(n, generator=gen, device=gdev, dtype=torch.float64)
    c = 0.1 + 0.9 * torch.rand(n, generator=gen, device=gdev, dtype=torch.float64)
    if isinstance(energy, Tensor):
        if energy.shape != (n,):
            raise ValueError(f"energy must be a float or an (n,) = ({n},) tensor, got {tuple(energy.shape)}")
        e = energy.to(device=gdev, dtype=torch.float64)
    else:
        e = torch.full((n,), float(energy), device=gdev, dtype=torch.float64)
    columns = [s, c, e]
    names = list(BASE_FEATURES)
    for name, sampler in (extra_features or {}).items():
        if name in names:
            raise ValueError(f"extra_features: name {name!r} is already a feature")
        col = sampler(n, gen)
        if not isinstance(col, Tensor) or col.shape != (n,):
            shape = tuple(col.shape) if isinstance(col, Tensor) else type(col).__name__
            raise ValueError(f"extra_features[{name!r}] must return an (n,) = ({n},) tensor, got {shape}")
        columns.append(col.to(device=gdev, dtype=torch.float64))
        names.append(name)
    features = torch.stack(columns, dim=1).to(device=device if device is not None else gdev, dtype=dtype)
    # Round s, c into [0.1, 1) after the dtype cast (float32 rounding of 0.1 + 0.9·u can reach 1.0).
    below_one = torch.nextafter(torch.ones((), dtype=dtype), torch.zeros((), dtype=dtype))
    features[:, :2] = features[:, :2].clamp(max=float(below_one))
    return validate_population(Population(features, tuple(names)))
