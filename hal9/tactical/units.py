"""L3 units made from neurons: group an (emergent) L3 layer's neurons into operational units.

Takes plain tensors (features and layer labels, e.g. ``SelfOrganizer.population_.features`` and
``SelfOrganizer.layering_.labels``), so :mod:`hal9.tactical` does not depend on :mod:`hal9.selforg`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hal9.tactical.models import Unit

__all__ = ["units_from_layer"]


def _kmeans(x: Tensor, k: int, generator: torch.Generator, iters: int = 25) -> Tensor:
    """Lloyd's k-means with k-means++ seeding; returns labels ``(n,)`` in ``0..k-1`` (no empty cluster)."""
    n = x.shape[0]
    centres = x[torch.randint(n, (1,), generator=generator, device=x.device)]
    for _ in range(1, k):
        d2 = torch.cdist(x, centres).min(dim=1).values.square()
        probs = d2 / d2.sum() if float(d2.sum()) > 0 else torch.full_like(d2, 1.0 / n)
        centres = torch.cat([centres, x[torch.multinomial(probs, 1, generator=generator)]])
    labels = torch.cdist(x, centres).argmin(dim=1)
    for _ in range(iters):
        counts = torch.bincount(labels, minlength=k).clamp_min(1).to(x.dtype)
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        new_centres = sums / counts[:, None]
        empty = torch.bincount(labels, minlength=k) == 0
        new_centres[empty] = centres[empty]
        new = torch.cdist(x, new_centres).argmin(dim=1)
        centres = new_centres
        if torch.equal(new, labels):
            break
        labels = new
    # Relabel by first occurrence of sorted centres' speed so the result does not depend on seeding order.
    used = torch.unique(labels)
    order = used[torch.argsort(centres[used, 0], stable=True)]
    remap = torch.full((k,), -1, dtype=torch.long, device=x.device)
    remap[order] = torch.arange(order.numel(), device=x.device)
    return remap[labels]


def units_from_layer(
    features: Tensor,
    labels: Tensor,
    *,
    layer: int = 2,
    n_units: int = 8,
    neurons_per_slot: float = 10.0,
    speed_column: int = 0,
    capability_columns: tuple[int, ...] = (0, 1),
    energy_column: int | None = 2,
    seed: int = 0,
) -> list[Unit]:
    """Group the neurons of hierarchy layer ``layer`` (0-based: ``2`` is L3) into ``n_units`` L3 units.

    Neurons are clustered in feature space (k-means, k-means++ seeding, seeded) so each unit gathers
    similar neurons. Per unit with ``m`` neurons:

    * ``capability`` = mean of ``features[:, capability_columns]``;
    * ``speed`` = mean of ``features[:, speed_column]`` (HAL9's processing speed);
    * ``capacity`` = ``(m / neurons_per_slot, Σ energy / neurons_per_slot)`` — task slots and an energy
      budget (just ``(m / neurons_per_slot,)`` when ``energy_column`` is ``None``).

    Shape
    -----
    ``features`` ``(N, F)`` floating, ``labels`` ``(N,)`` integer. Units are named ``"L3u{k}"`` and
    ordered by their speed centre.

    Raises ``ValueError`` for mismatched shapes, a layer with fewer neurons than ``n_units``, or
    out-of-range columns.
    """
    if features.ndim != 2 or not features.dtype.is_floating_point:
        raise ValueError(f"features must be a floating (N, F) tensor, got {tuple(features.shape)}")
    if labels.shape != (features.shape[0],) or labels.dtype.is_floating_point:
        raise ValueError(
            f"labels must be (N,) integer with N = {features.shape[0]}, got {tuple(labels.shape)}"
        )
    if n_units < 1:
        raise ValueError(f"n_units must be >= 1, got {n_units}")
    if neurons_per_slot <= 0:
        raise ValueError(f"neurons_per_slot must be > 0, got {neurons_per_slot}")
    f = features.shape[1]
    cols = [speed_column, *capability_columns] + ([] if energy_column is None else [energy_column])
    if any(not 0 <= c < f for c in cols):
        raise ValueError(f"feature columns {cols} out of range for {f} features")
    x = features[labels == layer]
    if x.shape[0] < n_units:
        raise ValueError(f"layer {layer} has {x.shape[0]} neurons, fewer than n_units = {n_units}")
    gen = torch.Generator(device=x.device).manual_seed(seed)
    cap_x = x[:, list(capability_columns)].double()
    group = _kmeans(torch.cat([x[:, [speed_column]].double(), cap_x], dim=1), n_units, gen)
    k = int(group.max()) + 1
    size = torch.bincount(group, minlength=k).double()
    mean = torch.zeros(k, x.shape[1], dtype=torch.float64, device=x.device).index_add_(0, group, x.double())
    mean /= size[:, None]
    units = []
    for j in range(k):
        cap = [float(size[j]) / neurons_per_slot]
        if energy_column is not None:
            cap.append(float(mean[j, energy_column] * size[j]) / neurons_per_slot)
        units.append(
            Unit(
                id=f"L3u{j}",
                capability=tuple(float(mean[j, c]) for c in capability_columns),
                speed=float(mean[j, speed_column]),
                capacity=tuple(cap),
            )
        )
    return units
