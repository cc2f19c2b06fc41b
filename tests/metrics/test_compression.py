import math
from dataclasses import astuple
from typing import Any

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict

from hal9.core import ConnectivityConfig, HierarchyConfig, RateConfig, build_network, rate_params, run
from hal9.metrics.compression import (
    BoundaryReport,
    compression_boundaries,
    compression_efficiency,
    gaussian_mi_between,
    gaussian_mi_bias,
    participation_ratio,
    reconstruction_r2,
)


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64)


# --- participation ratio -------------------------------------------------------------------------


def test_participation_ratio_of_isotropic_data_is_about_n() -> None:
    n, s = 10, 4000
    pr = participation_ratio(_randn(s, n, seed=1))
    # sampling error: E[PR] ≈ n / (1 + n/s) for white data
    assert pr == pytest.approx(n / (1 + n / s), rel=0.03)
    assert pr <= n


def test_participation_ratio_of_rank_one_data_is_one() -> None:
    x = _randn(50, 1, seed=2) @ _randn(1, 30, seed=3) + 5.0  # offset removed by centring
    assert participation_ratio(x) == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("shape", [(40, 7), (12, 300)])
def test_participation_ratio_gram_path_equals_covariance_path_and_eigenvalues(shape: tuple[int, int]) -> None:
    x = _randn(*shape, seed=4) * torch.linspace(0.1, 3.0, shape[1], dtype=torch.float64)
    cov, gram = participation_ratio(x, method="covariance"), participation_ratio(x, method="gram")
    lam = np.linalg.eigvalsh(np.cov(x.numpy(), rowvar=False))
    assert cov == pytest.approx(gram, rel=1e-10)
    assert cov == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-8)
    assert participation_ratio(x) == pytest.approx(cov, rel=1e-10)


def test_participation_ratio_of_constant_data_is_nan() -> None:
    assert math.isnan(participation_ratio(torch.ones(5, 3)))


# --- Gaussian MI ---------------------------------------------------------------------------------


def test_gaussian_mi_matches_analytic_value_for_known_canonical_correlations() -> None:
    rho = torch.tensor([0.9, 0.5, 0.2], dtype=torch.float64)
    s = 20_000
    a = _randn(s, 3, seed=5)
    b = rho * a + (1 - rho**2).sqrt() * _randn(s, 3, seed=6)
    # invertible mixing of each block leaves the MI unchanged
    x = a @ _randn(3, 3, seed=7) + 1.0
    y = b @ _randn(3, 3, seed=8) @ _randn(3, 5, seed=9)  # 5 neurons of rank 3: 2 components dropped
    analytic = float(-0.5 * torch.log(1 - rho**2).sum())
    got = gaussian_mi_between(x, y, n_components=5)
    assert got == pytest.approx(analytic, abs=0.03)


def test_gaussian_mi_of_independent_data_is_near_the_null_bias() -> None:
    s, d = 2000, 4
    vals = [gaussian_mi_between(_randn(s, 6, seed=10 + i), _randn(s, 8, seed=50 + i), d) for i in range(5)]
    bias = d * d / (2 * s)
    assert all(v >= 0 for v in vals)
    assert sum(vals) / len(vals) == pytest.approx(bias, rel=0.8)  # mean of χ²(16)/(2s), 5 draws
    assert max(vals) < 6 * bias


def test_gaussian_mi_with_more_neurons_than_samples_uses_the_top_components() -> None:
    latent = _randn(200, 3, seed=11)
    x = latent @ _randn(3, 5000, seed=12) + 0.1 * _randn(200, 5000, seed=13)
    y = latent[:, :2] @ _randn(2, 800, seed=14) + 0.1 * _randn(200, 800, seed=15)
    got = gaussian_mi_between(x, y, n_components=5)
    assert math.isfinite(got) and got > 1.0
    indep = gaussian_mi_between(x, _randn(200, 800, seed=16), n_components=5)
    assert indep < 0.5 < got


def test_gaussian_mi_needs_four_samples_per_component() -> None:
    with pytest.raises(ValueError, match="need at least 40"):
        gaussian_mi_between(_randn(39, 20), _randn(39, 20), n_components=10)
    with pytest.raises(ValueError, match="x and y must have the same samples"):
        gaussian_mi_between(_randn(40, 2), _randn(41, 2), n_components=1)
    with pytest.raises(ValueError, match="n_components"):
        gaussian_mi_between(_randn(40, 2), _randn(40, 2), n_components=0)
    with pytest.raises(ValueError, match="bias_corrected must be a bool"):
        gaussian_mi_between(_randn(40, 2), _randn(40, 2), n_components=1, bias_corrected=1)  # type: ignore[arg-type]


def test_gaussian_mi_bias_against_independent_forms() -> None:
    # d_x = d_y = 1: Î = −½ ln(1 − r²) with r² ~ Beta(½, (ν − 1)/2) under independence (ν = n − 1);
    # its mean by numerical integration of that density.
    for n in (5, 12, 200):
        nu = n - 1
        beta = stats.beta(0.5, (nu - 1) / 2)
        mean, _ = integrate.quad(lambda u, b=beta: -0.5 * math.log1p(-u) * b.pdf(u), 0, 1, limit=200)
        assert gaussian_mi_bias(1, 1, n) == pytest.approx(mean, rel=1e-7)
    # General d: Wilks' Λ = Π_{i ≤ d_y} B_i, B_i ~ Beta((ν − d_x − i + 1)/2, d_x/2) independent (Anderson,
    # An Introduction to Multivariate Statistical Analysis, 3rd ed., Thm 8.4.1), and Î = −½ ln Λ.
    for dx, dy, n in ((2, 3, 10), (3, 2, 10), (10, 10, 200), (1, 7, 30), (4, 4, 9)):
        nu = n - 1
        i = np.arange(1, dy + 1)
        wilks = -0.5 * float(np.sum(special.psi((nu - dx - i + 1) / 2) - special.psi((nu - i + 1) / 2)))
        assert gaussian_mi_bias(dx, dy, n) == pytest.approx(wilks, rel=1e-10)
    assert gaussian_mi_bias(3, 5, 40) == gaussian_mi_bias(5, 3, 40)
    # large n: E[Î] → d_x d_y / (2n) (the χ²(d_x d_y) limit of 2nÎ)
    assert gaussian_mi_bias(10, 10, 10**6) == pytest.approx(100 / 2e6, rel=2e-4)
    with pytest.raises(ValueError, match="n_samples must exceed d_x \\+ d_y = 5"):
        gaussian_mi_bias(2, 3, 5)
    with pytest.raises(ValueError, match="d_x"):
        gaussian_mi_bias(0, 3, 50)


def _mean_and_se(values: list[float]) -> tuple[float, float]:
    v = np.asarray(values)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))


def test_bias_corrected_mi_of_independent_layers_averages_zero() -> None:
    # 400 seeded draws of independent layers, n = 60 samples, top 3 PCs of 8 anisotropic neurons vs 3.
    # The corrected mean must lie within 4 standard errors of 0 (two-sided z-test at ~6e-5); the plug-in
    # mean must be off by more than 10 of them, so the test separates the two estimates.
    g = torch.Generator().manual_seed(40)
    scale = torch.linspace(0.2, 3.0, 8, dtype=torch.float64)
    plug, corrected = [], []
    for _ in range(400):
        x = torch.randn((60, 8), generator=g, dtype=torch.float64) * scale
        y = torch.randn((60, 3), generator=g, dtype=torch.float64)
        plug.append(gaussian_mi_between(x, y, n_components=3))
        corrected.append(gaussian_mi_between(x, y, n_components=3, bias_corrected=True))
    mean, se = _mean_and_se(corrected)
    assert abs(mean) < 4 * se
    plug_mean, plug_se = _mean_and_se(plug)
    assert plug_mean > 10 * plug_se
    assert plug_mean == pytest.approx(gaussian_mi_bias(3, 3, 60), abs=4 * plug_se)
    assert np.allclose(np.subtract(plug, corrected), gaussian_mi_bias(3, 3, 60), rtol=0, atol=1e-12)


def test_bias_corrected_mi_is_unbiased_for_a_known_dependent_pair() -> None:
    # Canonical correlations (0.8, 0.5, 0): I = −½ Σ ln(1 − ρ²); n = 40 samples, all 3 + 3 dimensions kept
    # (the PCA is then an invertible rotation, which leaves the MI unchanged), invertible mixing per block.
    rho = torch.tensor([0.8, 0.5, 0.0], dtype=torch.float64)
    analytic = float(-0.5 * torch.log1p(-(rho**2)).sum())
    mix_a, mix_b = _randn(3, 3, seed=41), _randn(3, 3, seed=42)
    g = torch.Generator().manual_seed(43)
    plug, corrected = [], []
    for _ in range(400):
        a = torch.randn((40, 3), generator=g, dtype=torch.float64)
        b = rho * a + (1 - rho**2).sqrt() * torch.randn((40, 3), generator=g, dtype=torch.float64)
        plug.append(gaussian_mi_between(a @ mix_a, b @ mix_b, n_components=3))
        corrected.append(gaussian_mi_between(a @ mix_a, b @ mix_b, n_components=3, bias_corrected=True))
    mean, se = _mean_and_se(corrected)
    assert abs(mean - analytic) < 4 * se
    plug_mean, plug_se = _mean_and_se(plug)
    assert plug_mean - analytic > 4 * plug_se  # the plug-in estimate is biased upward here too


# --- reconstruction R² ---------------------------------------------------------------------------


def test_r2_is_about_one_for_a_linear_map_and_about_zero_for_independent_data() -> None:
    src = _randn(300, 6, seed=20)
    tgt = src @ _randn(6, 4, seed=21) + 1e-3 * _randn(300, 4, seed=22)
    assert reconstruction_r2(src, tgt) > 0.9999
    indep = reconstruction_r2(src, _randn(300, 4, seed=23))
    assert -0.2 < indep < 0.05


@pytest.mark.parametrize(("samples", "p", "n_folds", "alpha"), [(120, 5, 5, 1e-3), (47, 60, 4, 2.0)])
def test_r2_matches_sklearn_ridge_on_the_same_contiguous_folds(
    samples: int, p: int, n_folds: int, alpha: float
) -> None:
    """Independent reference: sklearn Ridge, KFold(shuffle=False), pooled variance-weighted R²."""
    src = _randn(samples, p, seed=24)
    tgt = src[:, :3] @ _randn(3, 3, seed=25) + 0.5 * _randn(samples, 3, seed=26) + 2.0
    ours = reconstruction_r2(src, tgt, n_folds=n_folds, ridge=alpha, relative_ridge=False)
    pred = cross_val_predict(Ridge(alpha=alpha), src.numpy(), tgt.numpy(), cv=KFold(n_folds, shuffle=False))
    ref = r2_score(tgt.numpy(), pred, multioutput="variance_weighted")
    assert ours == pytest.approx(ref, abs=1e-6)


def test_r2_relative_ridge_is_scale_free_and_rotation_invariant_in_the_target() -> None:
    src = _randn(100, 4, seed=27)
    tgt = src @ _randn(4, 3, seed=28) + _randn(100, 3, seed=29)
    base = reconstruction_r2(src, tgt, ridge=0.1)
    assert reconstruction_r2(1e3 * src, tgt, ridge=0.1) == pytest.approx(base, rel=1e-9)
    q, _ = torch.linalg.qr(_randn(3, 3, seed=30))
    assert reconstruction_r2(src, tgt @ q, ridge=0.1) == pytest.approx(base, rel=1e-9)
    assert reconstruction_r2(src, tgt, ridge=0.1, gap=5) < base + 0.05


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"n_folds": 1}, "n_folds"),
        ({"n_folds": 11}, "n_folds=11 exceeds"),
        ({"ridge": 0.0}, "ridge"),
        ({"gap": -1}, "gap"),
        ({"n_folds": 2, "gap": 5}, "gap=5 leaves"),
    ],
)
def test_r2_rejects_bad_arguments(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        reconstruction_r2(_randn(10, 2), _randn(10, 2), **kw)


# --- efficiency ----------------------------------------------------------------------------------


def test_compression_efficiency() -> None:
    assert compression_efficiency(math.e) == 1.0
    assert compression_efficiency(2 * math.e) == pytest.approx(0.5)
    assert compression_efficiency(math.e / 2) == pytest.approx(0.5)
    assert compression_efficiency(3.0, 3.0) == 1.0
    assert compression_efficiency(1.0, 4.0) == pytest.approx(compression_efficiency(16.0, 4.0))
    assert math.isnan(compression_efficiency(math.nan))
    for bad in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match="measured"):
            compression_efficiency(bad)
    with pytest.raises(ValueError, match="target"):
        compression_efficiency(1.0, 0.0)


# --- end to end on a simulated hierarchy ---------------------------------------------------------

SIZES = (1260, 463, 170, 63, 23, 8, 3, 1, 1)


@pytest.fixture(scope="module")
def recordings() -> dict[int, torch.Tensor]:
    conn = ConnectivityConfig(fan_in_within=8, fan_in_up=8, fan_in_policy="clip", gain=1.0)
    net = build_network(HierarchyConfig(sizes=SIZES, n_layers=9, connectivity=conn), seed=3)
    params = rate_params(RateConfig(tau=10.0, activation="tanh"), net.sizes)
    g = torch.Generator().manual_seed(4)
    steps = 400
    t = torch.arange(steps, dtype=torch.float32)
    pattern = torch.randn((2, 2, SIZES[0]), generator=g)
    inputs = (
        torch.sin(2 * math.pi * t / 80)[:, None, None] * pattern[0]
        + torch.cos(2 * math.pi * t / 130)[:, None, None] * pattern[1]
    )
    return run(net, params, inputs, record=range(9), every=4).recordings  # (100, 2, n_k)


def test_end_to_end_boundaries_on_a_simulated_hierarchy(recordings: dict[int, torch.Tensor]) -> None:
    reports = compression_boundaries(recordings, SIZES)
    assert len(reports) == 8 and all(isinstance(r, BoundaryReport) for r in reports)
    assert [(r.lower, r.upper) for r in reports] == [(k, k + 1) for k in range(8)]
    for r in reports:
        assert r.samples == 200
        assert all(math.isfinite(v) for v in astuple(r) if isinstance(v, float)), r
        assert r.width_ratio == SIZES[r.lower] / SIZES[r.upper]
        assert 0 < r.width_efficiency <= 1 and 0 < r.pr_efficiency <= 1
        assert 1.0 - 1e-9 <= r.upper_pr <= r.upper_size + 1e-9
        assert r.reconstruction_r2 <= 1.0 and r.mutual_information >= 0
        assert r.mi_null_bias == pytest.approx(r.mi_components[0] * r.mi_components[1] / 400)
        bias = gaussian_mi_bias(*r.mi_components, 200)
        assert r.mi_corrected == pytest.approx(r.mutual_information - bias, abs=1e-12)
        assert r.mi_null_subtracted == pytest.approx(r.mutual_information - r.mi_surrogate, abs=1e-12)
        assert r.mi_surrogate_sd >= 0
        k = r.mi_p_value * 11 - 1  # (1 + #{surrogate ≥ MI}) / (K + 1) with K = 10
        assert abs(k - round(k)) < 1e-9 and 0 <= round(k) <= 10
    assert reports[0].mi_components == (10, 10) and reports[-1].mi_components == (1, 1)
    assert reports[0].width_efficiency == pytest.approx(compression_efficiency(1260 / 463))
    again = compression_boundaries(recordings, SIZES)
    assert again == reports  # deterministic
    other = compression_boundaries(recordings, SIZES, seed=1)
    assert [astuple(r)[:13] for r in other] == [astuple(r)[:13] for r in reports]


def test_boundaries_on_a_contiguous_subset_of_layers(recordings: dict[int, torch.Tensor]) -> None:
    sub = {k: recordings[k] for k in (3, 4, 5)}
    reports = compression_boundaries(sub, SIZES, n_components=5, n_surrogates=0)
    assert [(r.lower, r.upper) for r in reports] == [(3, 4), (4, 5)]
    assert math.isnan(reports[0].mi_surrogate)
    r = reports[0]
    assert math.isnan(r.mi_null_subtracted) and math.isnan(r.mi_surrogate_sd) and math.isnan(r.mi_p_value)
    assert math.isfinite(r.mi_corrected)
    one = compression_boundaries(sub, SIZES, n_components=5, n_surrogates=1)[0]
    assert math.isnan(one.mi_surrogate_sd) and one.mi_p_value in (0.5, 1.0)


def test_boundary_null_on_synthetic_white_layers() -> None:
    # L0: white noise; L1 = a linear map of L0 plus noise (dependent); L2: independent white noise.
    # T = 400 steps × 1 batch element, 5 components per layer.
    g = torch.Generator().manual_seed(44)
    l0 = torch.randn((400, 1, 12), generator=g, dtype=torch.float64)
    l1 = l0 @ torch.randn((12, 6), generator=g, dtype=torch.float64) + torch.randn((400, 1, 6), generator=g)
    l2 = torch.randn((400, 1, 6), generator=g, dtype=torch.float64)
    dep, indep = compression_boundaries({0: l0, 1: l1, 2: l2}, (12, 6, 6), n_components=5, n_surrogates=19)
    assert dep.mi_p_value == pytest.approx(1 / 20)  # no shifted surrogate reaches the aligned MI
    assert dep.mi_null_subtracted > 10 * dep.mi_surrogate_sd
    # Independent i.i.d. layers: 2·400·Î ~ χ²(25) under the null, so Î and each surrogate MI have sd
    # √(2·25)/(2·400) ≈ 0.0088 nats. The corrected value must lie within 5 sd of 0; the null-subtracted one,
    # a difference of two such terms (sd ≤ 2 sd whatever their correlation), within 10 sd.
    sd = math.sqrt(2 * 25) / (2 * 400)
    assert abs(indep.mi_corrected) < 5 * sd and abs(indep.mi_null_subtracted) < 10 * sd
    assert indep.mutual_information == pytest.approx(indep.mi_corrected + gaussian_mi_bias(5, 5, 400))


def test_boundaries_reject_bad_input(recordings: dict[int, torch.Tensor]) -> None:
    with pytest.raises(ValueError, match=r"recordings must cover a contiguous run.*miss \[2\]"):
        compression_boundaries({k: recordings[k] for k in (0, 1, 3)}, SIZES)
    with pytest.raises(ValueError, match=r"recordings must cover a contiguous run.*miss \[1\]"):
        compression_boundaries({0: recordings[0], 2: recordings[2]}, SIZES)
    with pytest.raises(ValueError, match=r"recordings keys must be layer indices in 0\.\.8"):
        compression_boundaries({8: recordings[8], 9: recordings[8]}, SIZES)
    with pytest.raises(ValueError, match="at least 2"):
        compression_boundaries({0: recordings[0]}, SIZES)
    bad = dict(recordings)
    bad[4] = bad[4].clone()
    bad[4][3, 0, 1] = math.nan
    with pytest.raises(ValueError, match=r"recordings\[4\] contains NaN"):
        compression_boundaries(bad, SIZES)
    with pytest.raises(ValueError, match=r"sizes\[1\] = 462"):
        compression_boundaries(recordings, (1260, 462, *SIZES[2:]))
    short = {k: v[:9] for k, v in recordings.items()}  # 18 samples
    msg = "18 samples are too few for 10 principal components; need at least 40"
    with pytest.raises(ValueError, match=msg):
        compression_boundaries(short, SIZES)
    with pytest.raises(ValueError, match=r"recordings\[1\] has leading shape"):
        compression_boundaries({0: recordings[0], 1: recordings[1][:50]}, SIZES)
    bad_kwargs: list[tuple[dict[str, Any], str]] = [
        ({"n_components": 0}, "n_components"),
        ({"target_ratio": -1.0}, "target_ratio"),
        ({"n_surrogates": -1}, "n_surrogates"),
        ({"n_folds": 1}, "n_folds"),
    ]
    for kw, match in bad_kwargs:
        with pytest.raises(ValueError, match=match):
            compression_boundaries(recordings, SIZES, **kw)
    with pytest.raises(ValueError, match="sizes must be positive"):
        compression_boundaries(recordings, (0, *SIZES[1:]))
