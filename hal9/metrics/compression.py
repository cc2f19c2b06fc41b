"""What each boundary ``L_k → L_{k+1}`` of a simulated hierarchy compresses, measured on recorded activity.

Per adjacent pair: width ratio, participation-ratio ratio, Gaussian MI of leading PCs (plug-in, with its
exact finite-sample bias removed, and against a circular-shift null), cross-validated linear
reconstruction ``R²`` of ``L_k`` from ``L_{k+1}``, and closeness of both ratios to a target (e).
Activity is ``(samples, n_k)``, samples = recorded time points × batch (time-major). Nothing
``n_k × n_k`` is formed when ``n_k`` exceeds the samples: spectra come from the smaller of the
covariance and the sample Gram matrix, which share their nonzero eigenvalues.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from hal9.metrics.similarity import layer_samples

__all__ = [
    "BoundaryReport",
    "compression_boundaries",
    "compression_efficiency",
    "gaussian_mi_between",
    "gaussian_mi_bias",
    "participation_ratio",
    "reconstruction_r2",
]

#: Samples needed per principal component kept (``samples ≥ 4 d``).
SAMPLES_PER_COMPONENT = 4
#: Components with eigenvalue below this fraction of the largest are dropped (numerically rank-deficient).
_RANK_TOL = 1e-10


def _check_int(name: str, v: object, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return v


def _check_positive(name: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return float(v)


def _small_gram(xc: Tensor, method: Literal["auto", "covariance", "gram"] = "auto") -> Tensor:
    """``XᵀX`` (``n × n``) or ``XXᵀ`` (``s × s``), whichever is smaller; same nonzero spectrum."""
    s, n = xc.shape
    if method == "covariance" or (method == "auto" and n <= s):
        return xc.T @ xc
    return xc @ xc.T


def participation_ratio(x: Tensor, *, method: Literal["auto", "covariance", "gram"] = "auto") -> float:
    r"""Effective dimensionality of activity: the participation ratio of its covariance spectrum.

    .. math::
        \mathrm{PR} = \frac{(\sum_i \lambda_i)^2}{\sum_i \lambda_i^2}
                    = \frac{\operatorname{tr}(C)^2}{\lVert C \rVert_F^2} \in [1, \operatorname{rank} C],

    with ``λ_i`` the eigenvalues of the sample covariance ``C`` of ``x``. ``PR = n`` for isotropic
    activity and 1 for activity confined to one direction.

    Parameters
    ----------
    x : Tensor
        ``(samples, n)`` activity, finite.
    method : {"auto", "covariance", "gram"}
        Form ``XᵀX`` (``n × n``) or the sample Gram matrix ``XXᵀ`` (``s × s``) of the centred data; both
        have the same nonzero eigenvalues, so the result is the same. ``"auto"`` takes the smaller.

    Returns
    -------
    float
        NaN if ``x`` has zero variance.

    Notes
    -----
    No eigen-decomposition: ``Σλ = tr C``, ``Σλ² = ‖C‖_F²``. Cost ``O(s · n · min(s, n))``.

    References
    ----------
    P. Gao, E. Trautmann, B. Yu et al., "A theory of multineuronal dimensionality, dynamics and
    measurement", bioRxiv 214262 (2017); L. Abbott, K. Rajan, H. Sompolinsky, "Interactions between
    intrinsic and stimulus-evoked activity in recurrent neural networks" (2011).
    """
    xd = layer_samples("x", x)
    if method not in ("auto", "covariance", "gram"):
        raise ValueError(f"method must be 'auto', 'covariance' or 'gram', got {method!r}")
    if xd.shape[0] < 2:
        raise ValueError(f"x needs at least 2 samples, got {xd.shape[0]}")
    g = _small_gram(xd - xd.mean(0), method)
    fro2 = float(g.square().sum())
    return float(g.trace()) ** 2 / fro2 if fro2 > 0 else math.nan


def _pca_scores(x: Tensor, d: int) -> Tensor:
    """``(samples, d' ≤ d)`` scores of the top principal components of ``x``, rank-deficient ones dropped."""
    xc = x - x.mean(0)
    s, n = xc.shape
    if n <= s:
        evals, evecs = torch.linalg.eigh(xc.T @ xc)
        evals, evecs = evals.flip(0)[:d], evecs.flip(1)[:, :d]
        scores = xc @ evecs
    else:
        evals, u = torch.linalg.eigh(xc @ xc.T)
        evals, u = evals.flip(0)[:d], u.flip(1)[:, :d]
        scores = u * evals.clamp_min(0).sqrt()
    keep = evals > _RANK_TOL * evals[0].clamp_min(torch.finfo(evals.dtype).tiny)
    return scores[:, keep]


def _logdet_spd(c: Tensor) -> float:
    chol, info = torch.linalg.cholesky_ex(c)
    if int(info) == 0:
        return float(2.0 * chol.diagonal().log().sum())
    sign, logabs = torch.linalg.slogdet(c)
    return float(logabs) if float(sign) > 0 else -math.inf


def _mi_from_scores(za: Tensor, zb: Tensor) -> float:
    """Plug-in Gaussian MI ``½ ln(det Σ_a det Σ_b / det Σ_ab)`` in nats between two score matrices."""
    z = torch.cat([za, zb], 1)
    z = z - z.mean(0)
    cov = z.T @ z / (z.shape[0] - 1)
    da = za.shape[1]
    joint = _logdet_spd(cov)
    if joint == -math.inf:
        return math.inf
    return 0.5 * (_logdet_spd(cov[:da, :da]) + _logdet_spd(cov[da:, da:]) - joint)


def _required_samples(name: str, n_samples: int, d: int) -> None:
    need = SAMPLES_PER_COMPONENT * d
    if n_samples < need:
        raise ValueError(
            f"{name}: {n_samples} samples are too few for {d} principal components; need at least "
            f"{need} ({SAMPLES_PER_COMPONENT} per component): record more time points or lower n_components"
        )


def gaussian_mi_bias(d_x: int, d_y: int, n_samples: int) -> float:
    r"""Expected plug-in Gaussian MI, nats, of ``n`` i.i.d. Gaussian samples of two independent blocks.

    With ``ν = n − 1`` and ``ψ`` the digamma function,

    .. math:: \mathbb E[\hat I] = \tfrac12 \Big[\sum_{i=1}^{d_x} \psi\big(\tfrac{\nu-i+1}2\big)
              + \sum_{i=1}^{d_y} \psi\big(\tfrac{\nu-i+1}2\big)
              - \sum_{i=1}^{d_x+d_y} \psi\big(\tfrac{\nu-i+1}2\big)\Big]
              \;\approx\; \frac{d_x d_y}{2n},

    exact for every ``n > d_x + d_y``: ``ν Σ̂`` is Wishart with ``ν`` degrees of freedom, so
    ``E[ln det Σ̂] = ln det Σ + Σ_{i ≤ d} ψ((ν − i + 1)/2) + d ln(2/ν)`` for a block of ``d`` variables
    [1, 2], and the ``ln det Σ`` and ``d ln(2/ν)`` terms cancel in ``Î`` when ``Σ`` is block-diagonal.
    The same terms make ``Î − E[Î]`` (``gaussian_mi_between(..., bias_corrected=True)``) an unbiased
    estimate of the MI of i.i.d. Gaussian data for *any* true covariance, since each log-determinant
    is then estimated without bias [1, 2]. For ``d_x = d_y = 1`` it is
    ``½ [ψ(ν/2) − ψ((ν − 1)/2)] = E[−½ ln(1 − r²)]`` of a sample correlation ``r`` of independent data.

    Parameters
    ----------
    d_x, d_y : int
        Dimensions of the two blocks, ``≥ 1``.
    n_samples : int
        Samples ``n > d_x + d_y`` (the joint sample covariance is singular otherwise).

    Returns
    -------
    float
        ``E[Î] > 0`` in nats.

    References
    ----------
    .. [1] N. Misra, H. Singh, E. Demchuk, "Estimation of the entropy of a multivariate normal
       distribution", J. Multivar. Anal. 92:324 (2005).
    .. [2] R. A. A. Ince et al., "A statistical framework for neuroimaging data analysis based on mutual
       information estimated via a Gaussian copula", Hum. Brain Mapp. 38:1541 (2017) (``gcmi``'s
       bias correction).

    Examples
    --------
    >>> round(gaussian_mi_bias(10, 10, 200), 4), 10 * 10 / (2 * 200)
    (0.2654, 0.25)
    """
    _check_int("d_x", d_x, 1)
    _check_int("d_y", d_y, 1)
    _check_int("n_samples", n_samples, 1)
    if n_samples <= d_x + d_y:
        raise ValueError(f"n_samples must exceed d_x + d_y = {d_x + d_y}, got {n_samples}")
    nu = n_samples - 1
    psi = torch.special.digamma((nu - torch.arange(d_x + d_y, dtype=torch.float64)) / 2)
    return 0.5 * float(psi[:d_x].sum() + psi[:d_y].sum() - psi.sum())


def gaussian_mi_between(
    x: Tensor, y: Tensor, n_components: int = 10, *, bias_corrected: bool = False
) -> float:
    r"""Gaussian mutual information between two layers' activities, after PCA to ``d`` components each.

    Each input is projected onto its top ``d_x = min(n_components, n_x)`` (resp. ``d_y``) principal
    components, then

    .. math:: \hat I = \tfrac12 \ln \frac{\det \Sigma_a \, \det \Sigma_b}{\det \Sigma_{ab}} \quad\text{(nats)}

    with ``Σ`` the sample covariances of the scores (``−½ Σ_i ln(1 − ρ̂_i²)`` with ``ρ̂_i`` the sample
    canonical correlations). With ``bias_corrected``, :func:`gaussian_mi_bias` of the kept dimensions
    and ``N`` samples is subtracted.

    Parameters
    ----------
    x, y : Tensor
        ``(samples, n_x)`` and ``(samples, n_y)``, same samples.
    n_components : int
        Upper bound ``d`` on the components kept per layer. The plug-in estimate on ``n_k ≫ samples``
        raw dimensions is degenerate (singular covariance, infinite MI), hence the projection.
    bias_corrected : bool
        Subtract the exact expected plug-in MI of independent i.i.d. Gaussian data (see Notes).

    Returns
    -------
    float
        MI in nats; ``inf`` if the joint covariance is singular (a deterministic linear relation).
        ValueError if ``samples < 4 · max(d_x, d_y)``. The corrected value can be negative.

    Notes
    -----
    The plug-in estimate is **biased upward**: for independent Gaussian samples ``2 N Î → χ²(d_x d_y)``,
    so ``E[Î] ≈ d_x d_y / (2N)`` nats at ``I = 0`` (exactly :func:`gaussian_mi_bias`), and more for
    autocorrelated time series (fewer effective samples; use a shuffled or shifted null there, as
    :func:`compression_boundaries` does). For i.i.d. Gaussian samples the corrected estimate is
    unbiased for the MI of the projected scores (references of :func:`gaussian_mi_bias`). At ``I = 0``
    this holds with the data-chosen PCA too: the principal subspace of i.i.d. Gaussian samples is
    rotation-invariant and independent of the other layer. For dependent layers, choosing the top ``d``
    directions from the same samples adds a bias that is not corrected. The population MI of the
    top-``d`` projection is a lower bound on the population MI of the full Gaussian model (data
    processing); the finite-sample plug-in estimate, biased upward, is not such a bound. Components
    with eigenvalue below ``1e-10`` of the largest are dropped.

    References
    ----------
    T. Cover, J. Thomas, *Elements of Information Theory*, 2nd ed., eq. (8.56) (Gaussian entropy);
    I. M. Gel'fand, A. M. Yaglom (1957) for the canonical-correlation form.
    """
    xd, yd = layer_samples("x", x), layer_samples("y", y)
    _check_int("n_components", n_components, 1)
    if not isinstance(bias_corrected, bool):
        raise ValueError(f"bias_corrected must be a bool, got {bias_corrected!r}")
    if xd.shape[0] != yd.shape[0]:
        raise ValueError(f"x and y must have the same samples, got {xd.shape[0]} and {yd.shape[0]}")
    d = max(min(n_components, xd.shape[1]), min(n_components, yd.shape[1]))
    _required_samples("x", xd.shape[0], d)
    za, zb = _pca_scores(xd, n_components), _pca_scores(yd, n_components)
    mi = _mi_from_scores(za, zb)
    if bias_corrected and za.shape[1] and zb.shape[1]:  # a silent layer (no component) has no bias
        mi -= gaussian_mi_bias(za.shape[1], zb.shape[1], za.shape[0])
    return mi


def reconstruction_r2(
    source: Tensor,
    target: Tensor,
    *,
    n_folds: int = 5,
    ridge: float = 1e-3,
    relative_ridge: bool = True,
    gap: int = 0,
) -> float:
    r"""Cross-validated linear reconstruction ``R²`` of ``target`` from ``source`` (ridge, closed form).

    The samples are split into ``n_folds`` contiguous blocks (``numpy.array_split`` sizes, like
    ``sklearn.model_selection.KFold(shuffle=False)``) to respect autocorrelation. Each block is predicted
    by a ridge regression with intercept fitted on the other samples (minus ``gap`` on each side),
    ``B̂ = (X̃ᵀX̃ + αI)⁻¹ X̃ᵀỸ`` (``~``: centred on the training samples), and

    .. math:: R^2 = 1 - \frac{\sum_{\text{folds}} \lVert Y_{\text{test}} - \hat Y_{\text{test}} \rVert_F^2}
                             {\lVert Y - \bar Y \rVert_F^2},

    pooled over held-out samples and target columns with ``Ȳ`` the mean over all samples (= sklearn's
    ``r2_score(..., multioutput="variance_weighted")`` of the held-out predictions). It is invariant to
    rotations of ``target``, so regressing onto all PC scores of a layer equals regressing onto the layer.

    Parameters
    ----------
    source : Tensor
        ``(samples, p)`` predictors.
    target : Tensor
        ``(samples, q)`` responses.
    n_folds : int
        Number of contiguous blocks, ``2 ≤ n_folds ≤ samples``.
    ridge : float
        ``> 0``. With ``relative_ridge`` the penalty is ``α = ridge · tr(X̃ᵀX̃)/p`` (a fraction of the
        mean eigenvalue of the training Gram matrix: scale-free); otherwise ``α = ridge``.
    relative_ridge : bool
        See ``ridge``.
    gap : int
        Samples dropped from training on each side of the test block (reduces leakage through
        autocorrelation).

    Returns
    -------
    float
        ``R² ≤ 1``; negative when the predictions are worse than the mean; NaN for a constant target.

    Notes
    -----
    For ``p`` > training samples the dual form ``Ŷ = X̃_test X̃ᵀ(X̃X̃ᵀ + αI)⁻¹ Ỹ`` avoids any ``p × p``
    matrix. Cost per fold ``O(s · min(s, p) · (p + q))``.
    """
    x, y = layer_samples("source", source), layer_samples("target", target)
    s = x.shape[0]
    if y.shape[0] != s:
        raise ValueError(f"source and target must have the same samples, got {s} and {y.shape[0]}")
    _check_int("n_folds", n_folds, 2)
    if n_folds > s:
        raise ValueError(f"n_folds={n_folds} exceeds the {s} samples")
    _check_int("gap", gap, 0)
    _check_positive("ridge", ridge)
    idx = torch.arange(s, device=x.device)
    sse = torch.zeros((), dtype=torch.float64, device=x.device)
    p = x.shape[1]
    for block in torch.tensor_split(idx, n_folds):
        lo, hi = int(block[0]), int(block[-1]) + 1
        train = (idx < lo - gap) | (idx >= hi + gap)
        n_train = int(train.sum())
        if n_train < 2:
            raise ValueError(f"gap={gap} leaves {n_train} training samples for a fold; lower gap or n_folds")
        xtr, ytr = x[train], y[train]
        mx, my = xtr.mean(0), ytr.mean(0)
        xc, yc, xte = xtr - mx, ytr - my, x[lo:hi] - mx
        scale = float(xc.square().sum()) / max(p, 1)
        alpha = ridge * scale if relative_ridge else ridge
        if scale == 0.0:  # constant (or absent) predictors: the fit is the training mean
            pred = torch.zeros_like(yc[: hi - lo])
        elif p <= n_train:
            a = (xc.T @ xc).diagonal_scatter(xc.square().sum(0) + alpha)
            pred = xte @ torch.linalg.solve(a, xc.T @ yc)
        else:
            k = (xc @ xc.T).diagonal_scatter(xc.square().sum(1) + alpha)
            pred = (xte @ xc.T) @ torch.linalg.solve(k, yc)
        sse = sse + (y[lo:hi] - my - pred).square().sum()
    sst = float((y - y.mean(0)).square().sum())
    return 1.0 - float(sse) / sst if sst > 0 else math.nan


def compression_efficiency(measured: float, target: float = math.e) -> float:
    r"""Closeness of a measured compression ratio to a target ratio ``r*``.

    .. math:: \eta = \exp(-|\ln(m / r^*)|) = \min(m / r^*,\ r^* / m) \in (0, 1],

    1 exactly when ``m = r*`` and symmetric in the log ratio (``m = 2r*`` and ``m = r*/2`` both give ½).

    Parameters
    ----------
    measured : float
        Measured ratio ``m > 0`` (NaN passes through as NaN).
    target : float
        Target ratio ``r* > 0`` (default e, the designed ratio of :func:`hal9.core.designed_sizes`).
    """
    target = _check_positive("target", target)
    if isinstance(measured, float) and math.isnan(measured):
        return math.nan
    return math.exp(-abs(math.log(_check_positive("measured", measured) / target)))


@dataclass(frozen=True)
class BoundaryReport:
    """Measurements of one boundary ``L_k → L_{k+1}`` (layer indices 0-based; ``k`` is the lower layer).

    Attributes
    ----------
    lower, upper : int
        Layer indices ``k`` and ``k + 1``.
    lower_size, upper_size : int
        Neurons ``n_k``, ``n_{k+1}``.
    width_ratio, width_efficiency : float
        ``n_k / n_{k+1}`` and its :func:`compression_efficiency` w.r.t. the target ratio (dimensionless).
    lower_pr, upper_pr, pr_ratio, pr_efficiency : float
        Participation ratios (effective dimensions) of both layers, ``lower_pr / upper_pr`` and its
        efficiency (dimensionless; NaN if a layer is silent).
    mutual_information : float
        Plug-in Gaussian MI between the layers' top principal components, nats
        (:func:`gaussian_mi_between`), computed with ``mi_components = (d_k, d_{k+1})`` components.
        Biased upward: compare it with ``mi_surrogate``, or read ``mi_corrected``/``mi_null_subtracted``.
    mi_null_bias : float
        ``d_k d_{k+1} / (2 · samples)`` nats: the large-sample expected plug-in MI of independent i.i.d.
        data (the exact value, :func:`gaussian_mi_bias`, is what ``mi_corrected`` subtracts).
    mi_surrogate : float
        Mean MI, nats, of ``L_k`` with ``L_{k+1}`` circularly shifted in time by random lags in
        ``[T/4, 3T/4]`` (autocorrelation kept, alignment destroyed): an empirical null. NaN without
        surrogates.
    reconstruction_r2 : float
        Cross-validated ``R² ≤ 1`` of ``L_k``'s top PCs from ``L_{k+1}``'s (:func:`reconstruction_r2`).
    samples : int
        Samples (time points × batch) used.
    mi_corrected : float
        ``mutual_information − gaussian_mi_bias(d_k, d_{k+1}, samples)``, nats: unbiased for i.i.d.
        Gaussian samples; still biased upward for autocorrelated activity (fewer effective samples).
        Can be negative.
    mi_null_subtracted : float
        ``mutual_information − mi_surrogate``, nats: the bias of the circular-shift null (which keeps the
        autocorrelation) removed. NaN without surrogates.
    mi_surrogate_sd : float
        Standard deviation (``ddof = 1``) of the surrogate MIs, nats. NaN with fewer than 2 surrogates.
    mi_p_value : float
        ``(1 + #{surrogate MI ≥ mutual_information}) / (K + 1)`` for ``K`` surrogates (Phipson & Smyth,
        Stat. Appl. Genet. Mol. Biol. 9:39, 2010): the one-sided p-value of the alignment, never below
        ``1/(K + 1)``. NaN without surrogates.
    """

    lower: int
    upper: int
    lower_size: int
    upper_size: int
    width_ratio: float
    width_efficiency: float
    lower_pr: float
    upper_pr: float
    pr_ratio: float
    pr_efficiency: float
    mutual_information: float
    mi_components: tuple[int, int]
    mi_null_bias: float
    mi_surrogate: float
    reconstruction_r2: float
    samples: int
    mi_corrected: float
    mi_null_subtracted: float
    mi_surrogate_sd: float
    mi_p_value: float


def _check_recordings(recordings: object, sizes: tuple[int, ...]) -> tuple[list[int], list[Tensor], int]:
    if not isinstance(recordings, Mapping) or len(recordings) < 2:
        raise ValueError("recordings must be a mapping of at least 2 layer indices → Tensor")
    keys = sorted(recordings)
    if any(isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(sizes) for k in keys):
        raise ValueError(f"recordings keys must be layer indices in 0..{len(sizes) - 1}, got {keys}")
    missing = sorted(set(range(keys[0], keys[-1] + 1)) - set(keys))
    if missing:
        raise ValueError(
            f"recordings must cover a contiguous run of layers (adjacent boundaries only); layers {keys} "
            f"miss {missing}"
        )
    mats, lead = [], None
    for k in keys:
        rec = recordings[k]
        x = layer_samples(f"recordings[{k}]", rec)
        if x.shape[1] != sizes[k]:
            raise ValueError(f"recordings[{k}] has {x.shape[1]} neurons but sizes[{k}] = {sizes[k]}")
        if lead is None:
            lead = tuple(rec.shape[:-1])
        elif tuple(rec.shape[:-1]) != lead:
            raise ValueError(f"recordings[{k}] has leading shape {tuple(rec.shape[:-1])}, expected {lead}")
        mats.append(x)
    assert lead is not None
    return keys, mats, int(lead[0])


def compression_boundaries(
    recordings: Mapping[int, Tensor],
    sizes: Sequence[int],
    *,
    target_ratio: float = math.e,
    n_components: int = 10,
    n_folds: int = 5,
    ridge: float = 1e-3,
    n_surrogates: int = 10,
    seed: int = 0,
) -> list[BoundaryReport]:
    """Measure every adjacent boundary ``(L_k, L_{k+1})`` of recorded hierarchy activity.

    Parameters
    ----------
    recordings : mapping int → Tensor
        Layer index → ``(T, batch, n_k)`` activity (:attr:`hal9.core.RunResult.recordings`) or
        ``(T, n_k)``; a contiguous run of at least two layers, all with the same ``T`` and batch.
    sizes : sequence of int
        Layer sizes of the network (``Network.sizes``); ``recordings[k]`` must have ``sizes[k]`` neurons.
    target_ratio : float
        ``r*`` of :func:`compression_efficiency`.
    n_components : int
        Principal components kept per layer, ``d_k = min(n_components, n_k)``, for the MI and the
        reconstruction. Needs ``samples ≥ 4 · max_k d_k``.
    n_folds, ridge
        Of :func:`reconstruction_r2` (relative ridge, contiguous time blocks, no gap).
    n_surrogates : int
        Circular time-shift surrogates for ``mi_surrogate``, ``mi_null_subtracted``, ``mi_surrogate_sd``
        and ``mi_p_value`` (0 to skip).
    seed : int
        Seeds the CPU generator that draws the surrogate lags; the result is otherwise deterministic.

    Returns
    -------
    list of BoundaryReport
        One per adjacent pair, bottom-up.

    Notes
    -----
    PCA is fitted once per layer on all samples (unsupervised; the ``R²`` folds share that basis). ``R²``
    goes top → bottom: how much of ``L_k``'s principal activity survives in ``L_{k+1}``. Cost
    ``O(Σ_k s · n_k · min(s, n_k))`` for the spectra plus ``O(K · n_folds · s d²)``.
    """
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence):
        raise ValueError(f"sizes must be a sequence of layer sizes, got {type(sizes).__name__}")
    sz = tuple(sizes)
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sz):
        raise ValueError(f"sizes must be positive integers, got {sz}")
    _check_int("n_components", n_components, 1)
    _check_int("n_surrogates", n_surrogates, 0)
    _check_int("seed", seed, 0)
    _check_int("n_folds", n_folds, 2)
    _check_positive("target_ratio", target_ratio)
    keys, mats, steps = _check_recordings(recordings, sz)
    s = mats[0].shape[0]
    d_max = max(min(n_components, sz[k]) for k in keys)
    _required_samples("recordings", s, d_max)
    prs = [participation_ratio(x) for x in mats]
    scores = [_pca_scores(x, n_components) for x in mats]
    gen = torch.Generator(device="cpu").manual_seed(seed)
    lo_lag, hi_lag = max(1, steps // 4), max(1, steps - steps // 4)
    reports = []
    for i, k in enumerate(keys[:-1]):
        za, zb = scores[i], scores[i + 1]
        da, db = za.shape[1], zb.shape[1]
        lags = torch.randint(lo_lag, hi_lag + 1, (n_surrogates,), generator=gen).tolist()
        zb_t = zb.reshape(steps, -1, db)
        surrogate = torch.tensor(
            [_mi_from_scores(za, zb_t.roll(lag, 0).reshape(s, db)) for lag in lags], dtype=torch.float64
        )
        mi = _mi_from_scores(za, zb)
        null_mean = float(surrogate.mean()) if n_surrogates else math.nan
        bias = gaussian_mi_bias(da, db, s) if da and db else 0.0
        pr_ratio = prs[i] / prs[i + 1]
        width = sz[k] / sz[k + 1]
        reports.append(
            BoundaryReport(
                lower=k,
                upper=k + 1,
                lower_size=sz[k],
                upper_size=sz[k + 1],
                width_ratio=width,
                width_efficiency=compression_efficiency(width, target_ratio),
                lower_pr=prs[i],
                upper_pr=prs[i + 1],
                pr_ratio=pr_ratio,
                pr_efficiency=compression_efficiency(pr_ratio, target_ratio),
                mutual_information=mi,
                mi_components=(da, db),
                mi_null_bias=da * db / (2 * s),
                mi_surrogate=null_mean,
                reconstruction_r2=reconstruction_r2(zb, za, n_folds=n_folds, ridge=ridge),
                samples=s,
                mi_corrected=mi - bias,
                mi_null_subtracted=mi - null_mean,
                mi_surrogate_sd=float(surrogate.std()) if n_surrogates > 1 else math.nan,
                mi_p_value=(1 + int((surrogate >= mi).sum())) / (n_surrogates + 1)
                if n_surrogates
                else math.nan,
            )
        )
    return reports
