"""Representational similarity between layers: linear CKA and the alignment of adjacent layers.

Linear centered kernel alignment (CKA; Kornblith et al. 2019) compares two representations of the
same samples, ``X ∈ R^{n×p}`` and ``Y ∈ R^{n×q}``, independently of orthogonal transforms and isotropic
scaling of either one. hal9 uses it to ask whether the activity of adjacent layers is more alike than
that of distant layers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from hal9.core import as_tensor

__all__ = ["AlignmentResult", "adjacent_alignment", "layer_cka_matrix", "layer_samples", "linear_cka"]

CKAMethod = Literal["auto", "feature", "gram"]
#: Largest sample count for which :func:`layer_cka_matrix` keeps one ``n × n`` Gram matrix per layer.
_GRAM_SAMPLES_MAX = 2048


def _float64(name: str, t: object) -> Tensor:
    """``t`` (tensor, numpy array or nested list) as a finite real float64 tensor on its device."""
    t = as_tensor(t, name)
    if t.is_complex():
        raise ValueError(f"{name} must be real, got dtype {t.dtype}")
    out = t.detach().to(torch.float64)
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    return out


def layer_samples(name: str, rec: object, batch_index: int | None = None) -> Tensor:
    """A recording as a float64 ``(samples, n_k)`` matrix (validated; not centred).

    ``(T, batch, n_k)`` recordings are flattened time-major (sample ``t · batch + b``), so contiguous
    sample blocks are contiguous time blocks; ``batch_index`` selects one batch element instead.
    ``(samples, n_k)`` input is taken as is (``batch_index`` must then be ``None``).
    """
    x = _float64(name, rec)
    if x.ndim == 3:
        if batch_index is not None:
            if not -x.shape[1] <= batch_index < x.shape[1]:
                raise ValueError(
                    f"batch_index={batch_index} is out of range for {name} of batch {x.shape[1]}"
                )
            return x[:, batch_index]
        return x.reshape(-1, x.shape[-1])
    if x.ndim == 2 and batch_index is None:
        return x
    raise ValueError(
        f"{name} must be a (T, batch, n) recording (or (samples, n) without batch_index), "
        f"got shape {tuple(x.shape)}"
    )


def linear_cka(x: object, y: object, *, method: CKAMethod = "auto") -> float | Tensor:
    r"""Linear centered kernel alignment between two representations of the same samples.

    .. math::
        \mathrm{CKA}(X, Y) = \frac{\lVert Y^\top X \rVert_F^2}
                                  {\lVert X^\top X \rVert_F \, \lVert Y^\top Y \rVert_F}
                           = \frac{\langle K_X, K_Y \rangle_F}{\lVert K_X \rVert_F \lVert K_Y \rVert_F},
        \qquad K_X = X X^\top,

    with ``X``, ``Y`` column-centred over the samples. This is the normalised linear HSIC; it lies in
    ``[0, 1]``, equals 1 for ``Y = s X Q`` (``Q`` orthogonal, ``s ≠ 0``) and is invariant to orthogonal
    transforms and isotropic scaling of either argument.

    Parameters
    ----------
    x : Tensor or array-like
        ``(..., n, p)``: ``n`` samples of ``p`` features; leading dimensions are batch dimensions.
    y : Tensor or array-like
        ``(..., n, q)`` with the same leading and sample dimensions as ``x``.
    method : {"auto", "feature", "gram"}
        ``"feature"`` forms the ``p×q``, ``p×p`` and ``q×q`` cross-products (cost ``O(n(p+q)²)``);
        ``"gram"`` forms the ``n×n`` Gram matrices (cost ``O(n²(p+q))``). Both are exact; ``"auto"`` picks
        the cheaper, so a layer of ``10⁵`` neurons over a few hundred samples never forms a
        ``p × p`` matrix.

    Returns
    -------
    float or Tensor
        A float for 2-D inputs, else a float64 tensor of shape ``(...)``. NaN where either input has
        zero variance (CKA is 0/0 there).

    Shape
    -----
    ``x``: ``(..., n, p)``, ``y``: ``(..., n, q)`` → ``(...)``.

    Notes
    -----
    Computed in float64 on the inputs' device.

    References
    ----------
    S. Kornblith, M. Norouzi, H. Lee, G. Hinton, "Similarity of Neural Network Representations
    Revisited", ICML 2019, eq. (4)-(5).
    """
    xd, yd = _float64("x", x), _float64("y", y)
    if xd.ndim < 2 or yd.ndim < 2:
        raise ValueError(
            f"x and y must be (..., samples, features), got {tuple(xd.shape)}, {tuple(yd.shape)}"
        )
    if xd.shape[:-1] != yd.shape[:-1]:
        raise ValueError(
            f"x and y must share leading and sample dimensions, got {tuple(xd.shape)} and {tuple(yd.shape)}"
        )
    n, p, q = xd.shape[-2], xd.shape[-1], yd.shape[-1]
    if n < 2:
        raise ValueError(f"x needs at least 2 samples, got {n}")
    if method not in ("auto", "feature", "gram"):
        raise ValueError(f"method must be 'auto', 'feature' or 'gram', got {method!r}")
    if method == "auto":
        method = "feature" if p * q + p * p + q * q <= n * (p + q) else "gram"
    xc = xd - xd.mean(-2, keepdim=True)
    yc = yd - yd.mean(-2, keepdim=True)
    if method == "feature":
        hsic = (yc.mT @ xc).square().sum((-2, -1))
        nx = torch.linalg.matrix_norm(xc.mT @ xc)
        ny = torch.linalg.matrix_norm(yc.mT @ yc)
    else:
        kx, ky = xc @ xc.mT, yc @ yc.mT
        hsic = (kx * ky).sum((-2, -1))
        nx, ny = torch.linalg.matrix_norm(kx), torch.linalg.matrix_norm(ky)
    denom = nx * ny
    cka = torch.where(denom > 0, hsic / torch.where(denom > 0, denom, 1.0), math.nan)
    return float(cka) if cka.ndim == 0 else cka


def layer_cka_matrix(recordings: Mapping[int, object], *, batch_index: int | None = None) -> Tensor:
    """Linear CKA between every pair of recorded layers.

    Samples are the recorded time points (× batch elements, flattened time-major, unless
    ``batch_index`` picks one batch element); features are the layer's neurons.

    Parameters
    ----------
    recordings : mapping int → Tensor or array-like
        Layer index → ``(T, batch, n_k)`` activity (as in :attr:`hal9.core.RunResult.recordings`) or
        ``(samples, n_k)``; every layer must have the same samples. At least one layer.
    batch_index : int, optional
        Use only this batch element.

    Returns
    -------
    Tensor
        ``(K, K)`` float64, symmetric, unit diagonal (NaN rows for zero-variance layers); rows and
        columns follow ``sorted(recordings)``.

    Notes
    -----
    With ``n ≤ 2048`` samples each layer's centred Gram matrix ``K_k = X_k X_kᵀ`` (``n × n``) is formed
    once, cost ``O(n² Σ_k n_k + K² n²)``; otherwise every pair goes through :func:`linear_cka`.
    """
    if not isinstance(recordings, Mapping) or len(recordings) == 0:
        raise ValueError("recordings must be a non-empty mapping of layer index → Tensor")
    layers = sorted(recordings)
    mats = [layer_samples(f"recordings[{k}]", recordings[k], batch_index) for k in layers]
    n = mats[0].shape[0]
    for k, m in zip(layers, mats, strict=True):
        if m.shape[0] != n:
            raise ValueError(f"recordings[{k}] has {m.shape[0]} samples but recordings[{layers[0]}] has {n}")
    if n < 2:
        raise ValueError(f"recordings need at least 2 samples, got {n}")
    big = len(layers)
    if n <= _GRAM_SAMPLES_MAX:
        grams = []
        for m in mats:
            mc = m - m.mean(0)
            grams.append((mc @ mc.T).reshape(-1))
        flat = torch.stack(grams)
        inner = flat @ flat.T
        norms = inner.diagonal().sqrt()
        denom = norms[:, None] * norms[None, :]
        return torch.where(denom > 0, inner / torch.where(denom > 0, denom, 1.0), math.nan)
    out = torch.empty((big, big), dtype=torch.float64, device=mats[0].device)
    for i in range(big):
        for j in range(i, big):
            out[i, j] = out[j, i] = float(linear_cka(mats[i], mats[j]))
    return out


@dataclass(frozen=True)
class AlignmentResult:
    """Adjacent versus non-adjacent representational similarity of a hierarchy.

    HAL9 speaks of a "love coefficient" between layers. hal9 does not define any such quantity; what it
    computes under that heading is ``adjacent_mean``: the mean linear CKA of adjacent layer pairs
    ``(k, k+1)``, always reported beside ``non_adjacent_mean`` (pairs with ``|i − j| > 1``) so that one
    can see whether adjacency makes any difference.

    Attributes
    ----------
    layers : tuple of int
        Layer index of each row of the CKA matrix.
    adjacent : dict[(int, int), float]
        CKA of every adjacent pair ``(i, i+1)`` (layer indices), dimensionless in ``[0, 1]``.
    non_adjacent : dict[(int, int), float]
        CKA of every pair ``(i, j)``, ``j − i > 1``.
    adjacent_mean : float
        Mean of the finite ``adjacent`` values (NaN if none).
    non_adjacent_mean : float
        Mean of the finite ``non_adjacent`` values (NaN if none, e.g. with two layers).
    """

    layers: tuple[int, ...]
    adjacent: dict[tuple[int, int], float]
    non_adjacent: dict[tuple[int, int], float]
    adjacent_mean: float
    non_adjacent_mean: float

    @property
    def contrast(self) -> float:
        """``adjacent_mean − non_adjacent_mean``."""
        return self.adjacent_mean - self.non_adjacent_mean


def _finite_mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def adjacent_alignment(cka_matrix: object, layers: Sequence[int] | None = None) -> AlignmentResult:
    """Split a layer-by-layer CKA matrix into adjacent and non-adjacent pairs.

    Parameters
    ----------
    cka_matrix : Tensor or array-like
        ``(K, K)``, e.g. from :func:`layer_cka_matrix`; only the upper triangle is read.
    layers : sequence of int, optional
        Layer index of each row (default ``0..K−1``, right for :func:`layer_cka_matrix` when the
        recorded layers are contiguous from L1). Pairs are adjacent when their layer indices differ by 1.

    Returns
    -------
    AlignmentResult
    """
    cka_matrix = as_tensor(cka_matrix, "cka_matrix")
    if cka_matrix.ndim != 2 or cka_matrix.shape[0] != cka_matrix.shape[1]:
        raise ValueError(f"cka_matrix must be a square (K, K) matrix, got shape {tuple(cka_matrix.shape)}")
    big = int(cka_matrix.shape[0])
    if big < 2:
        raise ValueError(f"cka_matrix needs at least 2 layers, got {big}")
    idx = tuple(range(big)) if layers is None else tuple(int(k) for k in layers)
    if len(idx) != big or len(set(idx)) != big:
        raise ValueError(f"layers must hold {big} distinct layer indices, got {layers!r}")
    vals = cka_matrix.detach().to(torch.float64).cpu().tolist()
    adjacent: dict[tuple[int, int], float] = {}
    non_adjacent: dict[tuple[int, int], float] = {}
    for i in range(big):
        for j in range(i + 1, big):
            a, b = sorted((idx[i], idx[j]))
            (adjacent if b - a == 1 else non_adjacent)[(a, b)] = float(vals[i][j])
    adjacent = dict(sorted(adjacent.items()))
    non_adjacent = dict(sorted(non_adjacent.items()))
    return AlignmentResult(
        idx,
        adjacent,
        non_adjacent,
        _finite_mean(list(adjacent.values())),
        _finite_mean(list(non_adjacent.values())),
    )
