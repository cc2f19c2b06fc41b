"""Small data sets that need no download, and seeded mini-batches.

* :func:`load_digits_split` — scikit-learn's 8×8 digits (1,797 samples, 64 features, 10 classes), scaled to
  ``[0, 1]``, with a stratified train/test split fixed by a seed;
* :func:`synthetic_clusters` — Gaussian clusters squashed into ``(0, 1)`` by a logistic function;
* :func:`xor_task` — the noisy two-input XOR, the classic non-linearly-separable task;
* :func:`batches` — shuffled mini-batches whose order is fixed by a ``torch.Generator``.

Every loader returns a :class:`DataSplit` whose features are floats in ``[0, 1]`` (ready for the encoders of
:mod:`hal9.learn.encoding`) and whose labels are int64 class indices ``0 … n_classes − 1``. The synthetic
sets are drawn on the CPU in float64 from their own seeded generator and then cast, so a seed gives the same
data on every device and dtype up to that final rounding.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import Tensor

from hal9.core import resolve_device

__all__ = ["DataSplit", "batches", "load_digits_split", "synthetic_clusters", "xor_task"]


class DataSplit(NamedTuple):
    """A train/test split of a classification data set.

    Attributes
    ----------
    x_train : Tensor
        ``(n_train, n_features)`` features in ``[0, 1]``, floating point.
    y_train : Tensor
        ``(n_train,)`` int64 labels in ``0 … n_classes − 1``.
    x_test : Tensor
        ``(n_test, n_features)`` features, same dtype and device as ``x_train``.
    y_test : Tensor
        ``(n_test,)`` int64 labels.
    n_classes : int
        Number of classes.
    n_features : int
        Number of features (inputs per sample, ``n_1`` of an L1 fed by an encoder).
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    n_classes: int
    n_features: int


# --------------------------------------------------------------------------------------------------------
# Validation and shared helpers
# --------------------------------------------------------------------------------------------------------


def _check_int(value: object, name: str, *, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int >= {lo}, got {value!r}")
    if int(value) < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    return int(value)


def _check_fraction(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be a float in (0, 1), got {value!r}")
    return float(value)


def _check_real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if float(value) < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def _check_dtype(dtype: object) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    return dtype


def _cpu_generator(seed: int) -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    return g


def _stratified_split(
    groups: Tensor, test_fraction: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Seeded stratified split of ``range(len(groups))``: ``(train_idx, test_idx)``, each in shuffled order.

    Group ``g`` of size ``n_g ≥ 2`` puts ``clamp(⌊n_g · test_fraction + ½⌋, 1, n_g − 1)`` of its members,
    chosen by a uniform random permutation, into the test set.
    """
    train, test = [], []
    for g in torch.unique(groups).tolist():
        members = (groups == g).nonzero().flatten()
        members = members[torch.randperm(members.numel(), generator=generator)]
        n_test = min(max(math.floor(members.numel() * test_fraction + 0.5), 1), members.numel() - 1)
        test.append(members[:n_test])
        train.append(members[n_test:])
    tr, te = torch.cat(train), torch.cat(test)
    return tr[torch.randperm(tr.numel(), generator=generator)], te[
        torch.randperm(te.numel(), generator=generator)
    ]


def _pack(
    x: Tensor, y: Tensor, tr: Tensor, te: Tensor, n_classes: int, device: torch.device, dtype: torch.dtype
) -> DataSplit:
    """The :class:`DataSplit` of rows ``tr`` / ``te`` of ``(x, y)``, cast to ``device`` and ``dtype``."""
    return DataSplit(
        x[tr].to(device=device, dtype=dtype),
        y[tr].to(device=device, dtype=torch.int64),
        x[te].to(device=device, dtype=dtype),
        y[te].to(device=device, dtype=torch.int64),
        n_classes,
        x.shape[1],
    )


# --------------------------------------------------------------------------------------------------------
# Data sets
# --------------------------------------------------------------------------------------------------------


def load_digits_split(
    *,
    test_fraction: float = 0.25,
    seed: int = 0,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> DataSplit:
    """scikit-learn's handwritten digits, scaled to ``[0, 1]``, with a stratified split fixed by ``seed``.

    The UCI optical-recognition digits as shipped by ``sklearn.datasets.load_digits`` (no download): 1,797
    images of 8×8 pixels with integer values ``0 … 16``, 10 classes (≈180 each). Features are the pixels
    divided by 16, row-major (``n_features = 64``).

    Parameters
    ----------
    test_fraction : float
        Fraction of samples in the test set, in ``(0, 1)``; the test set has ``⌈1797 · test_fraction⌉``
        samples (450 for the default 0.25), and at least one sample of every class must land on each side.
    seed : int
        Seed of the split, ``0 ≤ seed < 2³²`` (``random_state`` of scikit-learn's ``train_test_split``).
    device : torch.device or str, optional
        Device of the returned tensors (CPU by default).
    dtype : torch.dtype
        Floating dtype of the features.

    Returns
    -------
    DataSplit
        ``x_*`` of shape ``(n, 64)`` in ``[0, 1]``, ``y_*`` int64 of shape ``(n,)``, ``n_classes = 10``,
        ``n_features = 64``.

    Notes
    -----
    The split is ``sklearn.model_selection.train_test_split(..., stratify=y, random_state=seed)``, so each
    class's count in either set is within one sample of its overall proportion. Needs scikit-learn, which
    hal9 gets through mlflow; it is imported inside this function only.
    """
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    seed = _check_int(seed, "seed", lo=0)
    if seed >= 2**32:
        raise ValueError(f"seed must be < 2**32, got {seed}")
    dev = resolve_device(device)
    dtype = _check_dtype(dtype)
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:  # pragma: no cover - scikit-learn comes with mlflow
        raise ImportError("load_digits_split needs scikit-learn: pip install scikit-learn") from exc
    import numpy as np

    data = load_digits()
    x_np, y_np = np.asarray(data.data, dtype=np.float64) / 16.0, np.asarray(data.target, dtype=np.int64)
    n, n_classes = x_np.shape[0], int(y_np.max()) + 1
    n_test = math.ceil(n * test_fraction)
    if not n_classes <= n_test <= n - n_classes:
        raise ValueError(
            f"test_fraction={test_fraction} gives {n_test} test and {n - n_test} train samples of {n}; "
            f"each side needs at least one sample per class ({n_classes})"
        )
    tr, te = train_test_split(np.arange(n), test_size=n_test, stratify=y_np, random_state=seed)
    tr_t, te_t = torch.from_numpy(np.asarray(tr)), torch.from_numpy(np.asarray(te))
    return _pack(torch.from_numpy(x_np), torch.from_numpy(y_np), tr_t, te_t, n_classes, dev, dtype)


def synthetic_clusters(
    n_samples: int,
    n_features: int,
    n_classes: int,
    *,
    separation: float = 2.0,
    seed: int = 0,
    test_fraction: float = 0.25,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> DataSplit:
    """Gaussian clusters, one per class, squashed into ``(0, 1)``; balanced classes, stratified split.

    Model: class centres ``μ_k ~ N(0, s² I)`` (``s`` = ``separation``), samples ``z = μ_y + ε`` with
    ``ε ~ N(0, I)``, labels ``y = i mod n_classes`` for sample ``i`` (balanced), and features

        ``x = σ(z / √(1 + s²))``,  ``σ(u) = 1 / (1 + e^{−u})``,

    a strictly increasing map per coordinate (class structure is kept; the scaling keeps ``x`` away from
    the saturated ends for any ``s``). ``s`` is the per-coordinate signal-to-noise ratio: the expected
    squared distance between two centres is ``2 s² n_features`` against a within-class variance of 1 per
    coordinate. ``s = 0`` gives indistinguishable classes.

    Parameters
    ----------
    n_samples : int
        Total samples, ``≥ 2 · n_classes`` (each class needs a train and a test sample).
    n_features : int
        Dimension ``≥ 1``.
    n_classes : int
        Number of clusters ``≥ 2``.
    separation : float
        ``s ≥ 0``, finite.
    seed : int
        Seed ``≥ 0`` of the data and the split (a CPU ``torch.Generator``).
    test_fraction : float
        In ``(0, 1)``; per class ``⌊n_k · test_fraction + ½⌋`` samples, clamped to ``[1, n_k − 1]``.
    device, dtype
        Of the returned tensors (CPU, float32 by default).

    Returns
    -------
    DataSplit
        ``x_*`` ``(n, n_features)`` in ``(0, 1)``, ``y_*`` int64 ``(n,)``.
    """
    n_classes = _check_int(n_classes, "n_classes", lo=2)
    n_samples = _check_int(n_samples, "n_samples", lo=1)
    if n_samples < 2 * n_classes:
        raise ValueError(f"n_samples must be >= 2 * n_classes = {2 * n_classes}, got {n_samples}")
    n_features = _check_int(n_features, "n_features", lo=1)
    s = _check_real(separation, "separation")
    seed = _check_int(seed, "seed", lo=0)
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    dev, dtype = resolve_device(device), _check_dtype(dtype)
    g = _cpu_generator(seed)
    centres = s * torch.randn((n_classes, n_features), generator=g, dtype=torch.float64)
    y = torch.arange(n_samples) % n_classes
    z = centres[y] + torch.randn((n_samples, n_features), generator=g, dtype=torch.float64)
    x = torch.sigmoid(z / math.sqrt(1.0 + s * s))
    tr, te = _stratified_split(y, test_fraction, g)
    return _pack(x, y, tr, te, n_classes, dev, dtype)


def xor_task(
    n_samples: int,
    *,
    noise: float = 0.1,
    seed: int = 0,
    test_fraction: float = 0.25,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> DataSplit:
    """Noisy XOR: two features near a corner of the unit square, label = XOR of the corner's bits.

    Sample ``i`` sits at corner ``c = i mod 4`` with bits ``(a, b) = (c // 2, c mod 2)`` and features
    ``x = clamp((a, b) + ε, 0, 1)``, ``ε ~ N(0, noise² I)``; its label is ``a XOR b``. Corners are balanced
    and the split is stratified by corner. No linear readout of ``x`` beats 75 % accuracy, so solving it
    needs a hidden non-linearity. While ``noise`` is small against 0.5, ``y = (x₀ > ½) XOR (x₁ > ½)`` for
    almost every sample (a crossing has probability ``≈ 2 Φ(−0.5 / noise)``).

    Parameters
    ----------
    n_samples : int
        Total samples, ``≥ 8`` (each corner needs a train and a test sample).
    noise : float
        Standard deviation of the Gaussian jitter, ``≥ 0``, finite (features in ``[0, 1]`` after clamping).
    seed : int
        Seed ``≥ 0`` of the data and the split.
    test_fraction : float
        In ``(0, 1)``; per corner ``⌊n_c · test_fraction + ½⌋``, clamped to ``[1, n_c − 1]``.
    device, dtype
        Of the returned tensors (CPU, float32 by default).

    Returns
    -------
    DataSplit
        ``x_*`` ``(n, 2)`` in ``[0, 1]``, ``y_*`` int64 ``(n,)`` in ``{0, 1}``; ``n_classes = 2``,
        ``n_features = 2``.
    """
    n_samples = _check_int(n_samples, "n_samples", lo=8)
    sigma = _check_real(noise, "noise")
    seed = _check_int(seed, "seed", lo=0)
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    dev, dtype = resolve_device(device), _check_dtype(dtype)
    g = _cpu_generator(seed)
    corner = torch.arange(n_samples) % 4
    bits = torch.stack([corner // 2, corner % 2], dim=1)
    eps = sigma * torch.randn((n_samples, 2), generator=g, dtype=torch.float64)
    x = (bits.to(torch.float64) + eps).clamp_(0.0, 1.0)
    y = bits[:, 0] ^ bits[:, 1]
    tr, te = _stratified_split(corner, test_fraction, g)
    return _pack(x, y, tr, te, 2, dev, dtype)


# --------------------------------------------------------------------------------------------------------
# Mini-batches
# --------------------------------------------------------------------------------------------------------


def batches(
    x: Tensor,
    y: Tensor,
    batch_size: int,
    *,
    generator: torch.Generator | None,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of mini-batches ``(x[idx], y[idx])``, in an order fixed by ``generator``.

    The permutation is drawn when this function is called (not lazily at the first ``next``), with
    ``torch.randperm(n, generator=generator)``: the same generator state gives the same order, and calling
    again with the same generator (the next epoch) gives a new order because the generator has advanced.

    Parameters
    ----------
    x : Tensor
        ``(n, ...)`` samples.
    y : Tensor
        ``(n, ...)`` targets, same first dimension as ``x``.
    batch_size : int
        Samples per batch, ``≥ 1``. Batches are consecutive slices of the permutation; the last one has
        ``n mod batch_size`` samples when that is not 0.
    generator : torch.Generator or None
        Source of the order (on any device; the permutation is moved to ``x``'s device). Required when
        ``shuffle``; may be ``None`` otherwise (and is not advanced).
    shuffle : bool
        Random order; ``False`` keeps ``0 … n − 1``.
    drop_last : bool
        Drop a last, incomplete batch.

    Yields
    ------
    tuple of Tensor
        ``(x_b, y_b)`` of shapes ``(b, ...)``; every sample appears exactly once per epoch (except the
        ``n mod batch_size`` dropped by ``drop_last``).
    """
    if not isinstance(x, Tensor) or x.dim() < 1:
        raise ValueError(f"x must be a tensor of shape (n, ...), got {type(x).__name__}")
    if not isinstance(y, Tensor) or y.dim() < 1:
        raise ValueError(f"y must be a tensor of shape (n, ...), got {type(y).__name__}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same first dimension, got {x.shape[0]} and {y.shape[0]}")
    if x.device != y.device:
        raise ValueError(f"x and y must be on the same device, got {x.device} and {y.device}")
    batch_size = _check_int(batch_size, "batch_size", lo=1)
    if not isinstance(shuffle, bool):
        raise ValueError(f"shuffle must be a bool, got {shuffle!r}")
    if not isinstance(drop_last, bool):
        raise ValueError(f"drop_last must be a bool, got {drop_last!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    n = x.shape[0]
    if shuffle:
        if generator is None:
            raise ValueError("generator is required when shuffle=True (hal9 never uses the global RNG)")
        order = torch.randperm(n, generator=generator, device=generator.device).to(x.device)
    else:
        order = torch.arange(n, device=x.device)
    stop = n - n % batch_size if drop_last else n
    return _iterate(x, y, order, batch_size, stop)


def _iterate(
    x: Tensor, y: Tensor, order: Tensor, batch_size: int, stop: int
) -> Iterator[tuple[Tensor, Tensor]]:
    for start in range(0, stop, batch_size):
        idx = order[start : min(start + batch_size, stop)]
        yield x[idx], y[idx]
