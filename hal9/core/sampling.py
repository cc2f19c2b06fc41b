"""Random draws used to build sparse connectivity, with explicit generators."""

from __future__ import annotations

import torch
from torch import Tensor

from hal9.core.config import resolve_device

__all__ = ["make_generator", "sample_distinct"]

# Rows × source-size budget of the dense random-key path (elements per chunk).
_KEY_CHUNK_ELEMS = 1 << 22


def make_generator(
    seed: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Generator:
    """Return ``generator`` if given, else a new generator on ``device`` seeded with ``seed`` (default 0).

    hal9 never touches torch's global RNG: every random draw takes a generator.
    """
    if generator is not None:
        if seed is not None:
            raise ValueError("give either seed or generator, not both")
        return generator
    g = torch.Generator(device=resolve_device(device))
    g.manual_seed(0 if seed is None else int(seed))
    return g


def sample_distinct(n_rows: int, n_src: int, k: int, generator: torch.Generator) -> Tensor:
    """Draw, for each of ``n_rows`` rows, ``k`` distinct integers from ``range(n_src)``, sorted.

    Every row is an independent uniform draw over the ``C(n_src, k)`` subsets.

    Shape
    -----
    Output: ``(n_rows, k)`` int64 on ``generator.device``, each row strictly increasing.

    Notes
    -----
    Two exact methods, chosen by the expected cost:

    * ``k² ≤ n_src`` (sparse case): draw ``k`` integers with replacement per row, sort, and redraw only
      the rows that contain a duplicate (rejection sampling; acceptance probability
      ``≥ exp(−k²/(2 n_src)) ≥ 0.6``). Expected cost ``O(n_rows · k log k)``.
    * otherwise (``n_src < k²``, small source): the ``k`` smallest of ``n_src`` i.i.d. uniform keys per
      row (``topk``), processed in row chunks so memory stays below ``2²² `` elements. Cost
      ``O(n_rows · n_src)`` with ``n_src < k²``.
    """
    if k < 0 or n_src < 0 or n_rows < 0:
        raise ValueError(f"n_rows, n_src and k must be >= 0, got {n_rows}, {n_src}, {k}")
    if k > n_src:
        raise ValueError(f"cannot draw k={k} distinct values from n_src={n_src}")
    device = generator.device
    if k == 0 or n_rows == 0:
        return torch.empty((n_rows, k), dtype=torch.int64, device=device)
    if k * k <= n_src:
        out = torch.randint(0, n_src, (n_rows, k), generator=generator, device=device).sort(dim=1).values
        while True:
            bad = (out[:, 1:] == out[:, :-1]).any(dim=1).nonzero().flatten()
            if bad.numel() == 0:
                return out
            redraw = torch.randint(0, n_src, (bad.numel(), k), generator=generator, device=device)
            out[bad] = redraw.sort(dim=1).values
    rows_per_chunk = max(1, _KEY_CHUNK_ELEMS // n_src)
    parts = []
    for start in range(0, n_rows, rows_per_chunk):
        m = min(rows_per_chunk, n_rows - start)
        keys = torch.rand((m, n_src), generator=generator, device=device)
        parts.append(keys.topk(k, dim=1, largest=False, sorted=False).indices.sort(dim=1).values)
    return torch.cat(parts)
