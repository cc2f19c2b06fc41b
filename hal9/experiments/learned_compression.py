"""Does a hierarchy trained with LOCAL rules compress better than a random one? Learned vs random boundaries.

The question: train a feed-forward hierarchy with a local rule only (no backprop) and measure with
:func:`hal9.metrics.compression_boundaries` what each boundary ``L_k → L_{k+1}`` keeps, against a
random-weight hierarchy of the same shape; answer with paired 95 % confidence intervals over seeds.

Design (every choice)
---------------------
* **Network.** ``HierarchyConfig(sizes=designed_sizes(base_size, n_layers, ratio))`` with
  ``bottom_up=True, within=False, feedback=False``; fan-in = the whole source layer (``fan_in=None``:
  ``fan_in_up=base_size`` with ``fan_in_policy="clip"``) or a stated sparse ``fan_in``. Weights drawn by
  :func:`~hal9.core.build_network` (``init="normal"``, ``gain``/√F) with the seed of the run.
* **Neurons.** Rate neurons with ``activation="linear"``, ``tau = dt = 1`` (``α = dt/τ = 1``):
  ``x_k(t) = W_k x_{k−1}(t−1) + ξ_k(t)``, a memoryless linear map per step. Oja's and Sanger's fixed points
  (orthonormal principal subspace / components) are theorems for linear units ``y = Wx`` (Oja 1989;
  Sanger 1989); tanh/sigmoid/relu would change them, and ``τ > dt`` would make ``post`` lag ``W pre``.
* **Noise.** Every layer above L1 gets additive Gaussian noise ``ξ_k ~ N(0, noise_sd² I)`` (``layer_inputs``).
  Needed: for a noiseless linear map the Gaussian MI between a layer's top PCs and the next layer's is
  infinite once the next layer lies in their span (exactly what PCA learns), so the comparison would be
  ``∞ − finite``. With noise, ``I(x; Wx + ξ) = ½ ln det(I + W C Wᵀ/σ²)`` is finite and, over unit-norm
  rows, maximal at the principal subspace (Linsker 1988; Plumbley 1993): the infomax reading of Oja.
  With output noise the subspace rule's fixed point shrinks row norms (``s_i² = 1 − σ²/λ_i``), hence the
  norm-matched control below. ``noise_sd`` is in units of the input's per-feature standard deviation.
* **Input.** ``data="digits"``: scikit-learn's 8×8 digits (``base_size`` must be 64), split by
  ``split_seed``; ``data="gaussian"``: ``x = Q diag(√λ) z``, ``λ_i ∝ exp(−i/spectrum_decay)``, ``Q`` a
  random orthogonal basis (``data_seed``). Both centred on the training mean and scaled to mean per-feature
  variance 1 (training statistics), so the rule's fixed points are PCA of zero-mean data.
* **Training.** i.i.d. per step: each step feeds ``batch`` fresh training samples (drawn with replacement)
  into L1 and fresh noise. Because ``α = 1`` and the units are linear, every step's pair at every boundary
  is exactly ``(x, W x + ξ)`` with ``x`` the lower layer's previous output: a valid sample for the rule, and
  all boundaries learn at once from one :func:`~hal9.core.run` with ``plasticity=make_plasticity(...)``
  (``rule`` ``"oja_subspace"`` or ``"sanger"``, ``lr``, ``train_steps`` steps, run in chunks of
  ``_TRAIN_CHUNK`` steps). Only the existing synapses change (the CSR structure is kept).
* **Controls.** ``random``: the untrained weights of the same build (same seed), i.e. the learned
  network's own initial condition. ``norm_matched``: those random weights with each row rescaled to the
  learned row's L2 norm, so a difference is not about gain against the noise.
* **Measurement** (held-out test inputs, no plasticity): each test sample is held constant for
  ``n_layers`` steps with *frozen* noise (one draw per sample and neuron), so after ``n_layers`` steps every
  layer is at its steady state ``x_k = W_k x_{k−1} + ξ_k`` of the *same* sample; that step is recorded and
  passed to :func:`~hal9.metrics.compression_boundaries` as ``(n_test, 1, n_k)``: the i.i.d. samples on the
  time axis, so the circular-shift null pairs different samples (a valid independence null) and the
  contiguous R² folds are random subsets. The three conditions of a seed see the same test inputs, noise
  and surrogate lags (common random numbers). Also: ``subspace_alignment`` of boundary ``k`` =
  ``‖W_k U‖_F² / ‖W_k‖_F²`` with ``U`` the top-``n_{k+1}`` eigenvectors of ``L_k``'s test covariance (1: rows
  in the principal subspace; ≈ ``n_{k+1}/n_k`` for random rows), and ``end_to_end_r2``, the cross-validated
  R² of the whole L1 input from the top layer (:func:`~hal9.metrics.reconstruction_r2`).
* **Statistics.** Per boundary and metric: mean, sd and 95 % t interval of each condition over seeds, and of
  the paired differences learned − random and learned − norm_matched (:func:`mean_interval`). "Keeps more
  at every boundary" is *yes* for a metric (``KEEP_METRICS``: ``mi_corrected``, ``mi_null_subtracted``,
  ``reconstruction_r2``) when every boundary's paired interval lies above 0, *no* when every one lies below
  0, otherwise *inconclusive*. ``upper_pr``/``pr_ratio`` are descriptive (higher is not "better").
* **Ratio sweep.** ``ratios`` (default ``(e,)``) runs the whole comparison per ratio; MLflow metrics of
  ``ratios[0]`` are ``b{k}.{metric}.learned_mean`` …, those of the others prefixed ``r{ratio:.4g}.``;
  ``b{k}`` is the boundary ``L_k → L_{k+1}`` (1-based).

References
----------
E. Oja (1989), Int. J. Neural Syst. 1, 61–68; T. D. Sanger (1989), Neural Networks 2, 459–473; R. Linsker
(1988), Self-organization in a perceptual network, Computer 21(3), 105–117; M. Plumbley (1993), Efficient
information transfer and anti-Hebbian neural networks, Neural Networks 6, 823–833.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import Tensor

from hal9.core import (
    ConnectivityConfig,
    HierarchyConfig,
    Network,
    RateConfig,
    build_network,
    check_device,
    csr_matrix,
    designed_sizes,
    rate_params,
    run,
    synapses_of,
)
from hal9.experiments._tracking import MlflowRef, log_run
from hal9.experiments.learning import mean_interval
from hal9.learn import OjaSubspaceConfig, SangerConfig, load_digits_split, make_plasticity
from hal9.metrics import compression_boundaries, reconstruction_r2

__all__ = [
    "BOUNDARY_METRICS",
    "CONDITIONS",
    "KEEP_METRICS",
    "BoundaryStats",
    "CompressionSummary",
    "LearnedCompressionConfig",
    "RatioResult",
    "SeedRecord",
    "Stats",
    "load_inputs",
    "measure",
    "norm_matched",
    "run_and_log",
    "run_learned_compression",
    "train_hierarchy",
]

#: The three hierarchies compared per seed.
CONDITIONS = ("learned", "random", "norm_matched")
#: What a boundary keeps (higher = keeps more): the metrics of the yes/no answer.
KEEP_METRICS = ("mi_corrected", "mi_null_subtracted", "reconstruction_r2")
#: Every per-boundary metric reported (``upper_pr``, ``pr_ratio``: descriptive).
BOUNDARY_METRICS = (*KEEP_METRICS, "upper_pr", "pr_ratio", "subspace_alignment")
#: Training steps per :func:`~hal9.core.run` call (bounds the memory of the input and noise tensors).
_TRAIN_CHUNK = 512
_TRAIN_STREAM, _TEST_STREAM = 1, 2


class LearnedCompressionConfig(BaseModel):
    """What :func:`run_learned_compression` trains and measures (flattens into MLflow params).

    See the module docstring for the design; units: ``noise_sd`` in input standard deviations, ``lr`` per
    step, sizes in neurons.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: Literal["digits", "gaussian"] = "digits"
    base_size: int = Field(64, ge=2, le=4096, description="L1 size (64 for digits)")
    n_layers: int = Field(4, ge=2, le=9)
    ratios: tuple[Annotated[float, Field(gt=1.0, allow_inf_nan=False)], ...] = Field((math.e,), min_length=1)
    fan_in: int | None = Field(None, ge=1, description="bottom-up fan-in; None: the whole source layer")
    gain: float = Field(1.0, gt=0.0, allow_inf_nan=False, description="build_network gain (weights gain/√F)")
    rule: Literal["oja_subspace", "sanger"] = "oja_subspace"
    lr: float = Field(0.01, gt=0.0, le=1.0, allow_inf_nan=False)
    train_steps: int = Field(4000, ge=1)
    batch: int = Field(32, ge=1)
    noise_sd: float = Field(0.3, gt=0.0, allow_inf_nan=False, description="σ of the layer noise, > 0")
    n_components: int = Field(10, ge=1)
    n_surrogates: int = Field(10, ge=0)
    seeds: tuple[Annotated[int, Field(ge=0)], ...] = Field(tuple(range(10)), min_length=2)
    split_seed: int = Field(0, ge=0)
    test_fraction: float = Field(0.25, gt=0.0, lt=1.0)
    data_seed: int = Field(0, ge=0)
    n_train: int = Field(4096, ge=2, description="gaussian: training samples")
    n_test: int = Field(1024, ge=2, description="gaussian: held-out samples")
    spectrum_decay: float = Field(8.0, gt=0.0, allow_inf_nan=False, description="gaussian: λ_i ∝ e^(−i/ℓ)")
    device: str = "cpu"
    dtype: Literal["float32", "float64"] = "float64"

    @field_validator("ratios", "seeds")
    @classmethod
    def _distinct(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"the values must be distinct, got {v}")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        return check_device(v)

    @model_validator(mode="after")
    def _consistent(self) -> LearnedCompressionConfig:
        if self.data == "digits" and self.base_size != 64:
            raise ValueError(f"base_size must be 64 with data='digits' (8×8 pixels), got {self.base_size}")
        n_test = math.ceil(1797 * self.test_fraction) if self.data == "digits" else self.n_test
        if n_test < 4 * self.n_components:
            raise ValueError(
                f"n_test/test_fraction give {n_test} held-out samples; n_components={self.n_components} "
                f"needs at least {4 * self.n_components}"
            )
        return self

    def torch_dtype(self) -> torch.dtype:
        return torch.float64 if self.dtype == "float64" else torch.float32


class Stats(TypedDict):
    """Mean, sample sd and 95 % t interval over seeds."""

    mean: float
    sd: float
    ci95: tuple[float, float]


class BoundaryStats(TypedDict):
    """One boundary: metric → ``{learned, random, norm_matched, diff_random, diff_norm_matched}`` stats."""

    boundary: int
    lower_size: int
    upper_size: int
    metrics: dict[str, dict[str, Stats]]


class SeedRecord(TypedDict):
    """One seed: relative weight change ``‖W − W₀‖/‖W₀‖``; per boundary, metric → condition → value."""

    seed: int
    weight_change: float
    boundaries: list[dict[str, dict[str, float]]]
    end_to_end_r2: dict[str, float]


class RatioResult(TypedDict):
    """One ratio: sizes, per-seed records, stats (conditions and paired differences), verdict, answer."""

    ratio: float
    sizes: list[int]
    synapses: int
    seeds: list[SeedRecord]
    boundaries: list[BoundaryStats]
    end_to_end_r2: dict[str, Stats]
    verdict: dict[str, dict[str, str]]
    answer: str


class CompressionSummary(TypedDict):
    """What :func:`run_learned_compression` returns (JSON-ready; NaN where a value is undefined)."""

    config: dict[str, Any]
    results: list[RatioResult]
    answer: str
    seconds: float
    mlflow: MlflowRef | None
    figures: list[str]


def _stream_seed(seed: int, stream: int) -> int:
    """An independent 32-bit seed for ``(seed, stream)`` (NumPy ``SeedSequence``)."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def load_inputs(cfg: LearnedCompressionConfig) -> tuple[Tensor, Tensor]:
    """``(x_train, x_test)``, ``(n, base_size)`` float64 CPU, centred on the training mean and scaled so the
    mean per-feature training variance is 1."""
    if cfg.data == "digits":
        split = load_digits_split(test_fraction=cfg.test_fraction, seed=cfg.split_seed, dtype=torch.float64)
        x_train, x_test = split.x_train, split.x_test
    else:
        n = cfg.base_size
        gen = torch.Generator(device="cpu").manual_seed(cfg.data_seed)
        q, r = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
        q = q * torch.sign(torch.diagonal(r))  # Haar-distributed orthogonal basis
        lam = torch.exp(-torch.arange(n, dtype=torch.float64) / cfg.spectrum_decay)
        mix = q * (lam / lam.mean()).sqrt()  # columns: √λ_i q_i
        x_train = torch.randn(cfg.n_train, n, generator=gen, dtype=torch.float64) @ mix.T
        x_test = torch.randn(cfg.n_test, n, generator=gen, dtype=torch.float64) @ mix.T
    mean = x_train.mean(0)
    scale = math.sqrt(float(x_train.var(0).mean()))
    return (x_train - mean) / scale, (x_test - mean) / scale


def _hierarchy(cfg: LearnedCompressionConfig, ratio: float) -> HierarchyConfig:
    sizes = designed_sizes(cfg.base_size, cfg.n_layers, ratio)
    conn = ConnectivityConfig(
        within=False,
        bottom_up=True,
        feedback=False,
        fan_in_up=cfg.base_size if cfg.fan_in is None else cfg.fan_in,
        fan_in_policy="clip",
        init="normal",
        gain=cfg.gain,
    )
    return HierarchyConfig(sizes=sizes, n_layers=cfg.n_layers, connectivity=conn)


def _params(cfg: LearnedCompressionConfig, sizes: tuple[int, ...]) -> Any:
    neuron = RateConfig(tau=1.0, dt=1.0, activation="linear", bias=0.0)
    return rate_params(neuron, sizes, device=cfg.device, dtype=cfg.torch_dtype())


def _noise(
    gen: torch.Generator, lead: tuple[int, ...], sizes: tuple[int, ...], sd: float, dev: Any, dtype: Any
) -> dict[int, Tensor]:
    """``{k: (*lead, n_k)}`` i.i.d. ``N(0, sd²)`` for every layer above L1, drawn in float64 on the CPU."""
    return {
        k: (sd * torch.randn(*lead, n, generator=gen, dtype=torch.float64)).to(device=dev, dtype=dtype)
        for k, n in enumerate(sizes)
        if k > 0
    }


def _with_weight(network: Network, weight: Tensor) -> Network:
    return Network(network.sizes, weight, network.labels)


def train_hierarchy(cfg: LearnedCompressionConfig, network: Network, x_train: Tensor, seed: int) -> Network:
    """``network`` after ``cfg.train_steps`` steps of ``cfg.rule`` on i.i.d. training batches plus noise.

    ``x_train`` ``(n_train, n_1)`` float64 CPU; batches and noise are drawn on the CPU from the generator of
    ``(seed, training stream)`` and cast, so a seed gives the same stream on every device. Raises
    ``ValueError`` when the weights stop being finite (lower ``lr``).
    """
    sizes, dev, dtype = network.sizes, network.device, network.dtype
    rule_cfg = OjaSubspaceConfig(lr=cfg.lr) if cfg.rule == "oja_subspace" else SangerConfig(lr=cfg.lr)
    plast = make_plasticity(rule_cfg, n_neurons=network.n_neurons, batch=cfg.batch, device=dev, dtype=dtype)
    params = _params(cfg, sizes)
    gen = torch.Generator(device="cpu").manual_seed(_stream_seed(seed, _TRAIN_STREAM))
    net, state, done = network, None, 0
    while done < cfg.train_steps:
        t = min(_TRAIN_CHUNK, cfg.train_steps - done)
        idx = torch.randint(x_train.shape[0], (t, cfg.batch), generator=gen)
        inputs = x_train[idx].to(device=dev, dtype=dtype)
        noise = _noise(gen, (t, cfg.batch), sizes, cfg.noise_sd, dev, dtype)
        res = run(net, params, inputs, state=state, layer_inputs=noise, plasticity=plast, means=False)
        assert res.weight is not None
        net, state = _with_weight(network, res.weight), res.final_state
        plast = dataclasses.replace(plast, state=res.plasticity_state)
        done += t
    if not bool(torch.isfinite(net.weight.values()).all()):
        raise ValueError(f"training diverged (non-finite weights) with lr={cfg.lr}; lower lr")
    return net


def norm_matched(random_weight: Tensor, learned_weight: Tensor) -> Tensor:
    """``random_weight`` with every row rescaled to the L2 norm of the same row of ``learned_weight``.

    Both ``(N, N)`` sparse CSR with the same structure (``ValueError`` otherwise); a zero random row stays 0.
    ``O(nnz)``.
    """
    syn = synapses_of(random_weight)
    if not (
        torch.equal(random_weight.crow_indices(), learned_weight.crow_indices())
        and torch.equal(random_weight.col_indices(), learned_weight.col_indices())
    ):
        raise ValueError("random_weight and learned_weight must have the same CSR structure")
    n = int(random_weight.shape[0])
    rv, lv = random_weight.values(), learned_weight.values()

    def norms(v: Tensor) -> Tensor:
        return torch.zeros(n, dtype=v.dtype, device=v.device).index_add_(0, syn.post, v * v).sqrt()

    r_norm, l_norm = norms(rv), norms(lv)
    scale = torch.where(r_norm > 0, l_norm / r_norm.clamp_min(torch.finfo(rv.dtype).tiny), 0.0)
    return csr_matrix(random_weight.crow_indices(), random_weight.col_indices(), rv * scale[syn.post], n)


def _alignment(net: Network, lower: int, acts: Tensor) -> float:
    """``‖W U‖_F² / ‖W‖_F²`` of the synapses onto layer ``lower + 1``; ``U`` ``(N, m)`` holds the top
    ``m = n_{lower+1}`` eigenvectors of the covariance of ``acts`` ``(samples, n_lower)`` in ``lower``'s rows.
    One sparse × dense product, ``O(nnz · m)``."""
    n_up = net.sizes[lower + 1]
    xc = acts - acts.mean(0)
    _, vecs = torch.linalg.eigh(xc.T @ xc)
    u = torch.zeros(net.n_neurons, n_up, dtype=acts.dtype, device=acts.device)
    off = net.offsets
    u[off[lower] : off[lower + 1]] = vecs.flip(1)[:, :n_up]
    proj = (net.weight @ u)[off[lower + 1] : off[lower + 2]]
    crow = net.weight.crow_indices()
    rows = net.weight.values()[int(crow[off[lower + 1]]) : int(crow[off[lower + 2]])]
    total = float(rows.square().sum())
    return float(proj.square().sum()) / total if total > 0 else math.nan


def measure(
    cfg: LearnedCompressionConfig,
    net: Network,
    x_test: Tensor,
    noise: dict[int, Tensor],
    ratio: float,
    seed: int,
) -> tuple[list[dict[str, float]], float, dict[int, Tensor]]:
    """Steady-state activity of every layer for each held-out sample, and its boundary metrics.

    ``x_test`` ``(n_test, n_1)`` and ``noise[k]`` ``(n_test, n_k)`` (frozen per sample, ``k ≥ 1``) on the
    network's device and dtype; each sample is held for ``n_layers`` steps and the last step recorded.
    Returns the per-boundary :data:`BOUNDARY_METRICS` (bottom-up), ``end_to_end_r2`` and the activity
    ``{k: (n_test, n_k)}``.
    """
    k_layers, sizes = net.n_layers, net.sizes
    inputs = x_test.unsqueeze(0).expand(k_layers, -1, -1)
    extra = {k: v.unsqueeze(0).expand(k_layers, -1, -1) for k, v in noise.items()}
    params = _params(cfg, sizes)
    res = run(net, params, inputs, layer_inputs=extra, record=range(k_layers), every=k_layers, means=False)
    acts = {k: res.recordings[k][0].contiguous() for k in range(k_layers)}
    reports = compression_boundaries(
        {k: a.unsqueeze(1) for k, a in acts.items()},
        sizes,
        target_ratio=ratio,
        n_components=cfg.n_components,
        n_surrogates=cfg.n_surrogates,
        seed=seed,
    )
    rows = [
        {m: float(getattr(r, m)) for m in BOUNDARY_METRICS[:-1]}
        | {"subspace_alignment": _alignment(net, r.lower, acts[r.lower])}
        for r in reports
    ]
    end_to_end = reconstruction_r2(acts[k_layers - 1], acts[0], ridge=1e-3)
    return rows, end_to_end, acts


def _stats(values: list[float]) -> Stats:
    if any(math.isnan(v) for v in values):
        return {"mean": math.nan, "sd": math.nan, "ci95": (math.nan, math.nan)}
    mean, sd, ci = mean_interval(values)
    return {"mean": mean, "sd": sd, "ci95": ci}


def _condition_stats(per_seed: list[dict[str, float]]) -> dict[str, Stats]:
    out = {c: _stats([s[c] for s in per_seed]) for c in CONDITIONS}
    for c in CONDITIONS[1:]:
        out[f"diff_{c}"] = _stats([s["learned"] - s[c] for s in per_seed])
    return out


def _verdict(boundaries: list[BoundaryStats], control: str) -> dict[str, str]:
    out = {}
    for m in KEEP_METRICS:
        cis = [b["metrics"][m][f"diff_{control}"]["ci95"] for b in boundaries]
        above, below = all(lo > 0 for lo, _ in cis), all(hi < 0 for _, hi in cis)
        out[m] = "yes" if above else "no" if below else "inconclusive"
    return out


_WORDS = {"yes": "YES", "no": "NO (the control keeps more)", "inconclusive": "not shown (an interval has 0)"}


def _answer(result: RatioResult, n_seeds: int) -> str:
    sizes = "→".join(map(str, result["sizes"]))
    lines = [f"ratio {result['ratio']:.4g} ({sizes}), {n_seeds} seeds, paired 95 % t intervals:"]
    for control in CONDITIONS[1:]:
        v = result["verdict"][control]
        parts = "; ".join(f"{m}: {_WORDS[v[m]]}" for m in KEEP_METRICS)
        lines.append(f"  learned keeps more than {control} at every boundary — {parts}")
    for b in result["boundaries"]:
        cells = []
        for m in KEEP_METRICS:
            d = b["metrics"][m]["diff_random"]
            cells.append(f"{m} {d['mean']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]")
        lines.append(f"  b{b['boundary']} (learned − random): " + ", ".join(cells))
    e2e = result["end_to_end_r2"]
    lines.append(
        f"  end-to-end R² of L1 from the top layer: learned {e2e['learned']['mean']:.3f}, random "
        f"{e2e['random']['mean']:.3f}, difference {e2e['diff_random']['mean']:+.3f} "
        f"[{e2e['diff_random']['ci95'][0]:+.3f}, {e2e['diff_random']['ci95'][1]:+.3f}]"
    )
    return "\n".join(lines)


def _run_ratio(
    cfg: LearnedCompressionConfig, ratio: float, x_train: Tensor, x_test: Tensor, progress: bool
) -> RatioResult:
    hcfg = _hierarchy(cfg, ratio)
    dev, dtype = torch.device(cfg.device), cfg.torch_dtype()
    x_test_d = x_test.to(device=dev, dtype=dtype)
    seeds: list[SeedRecord] = []
    iterator: Any = cfg.seeds
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"ratio {ratio:.3g}", unit="seed", leave=False)
    sizes, synapses = hcfg.layer_sizes(), 0
    for seed in iterator:
        net0 = build_network(hcfg, seed=seed, device=dev, dtype=dtype)
        synapses = net0.n_synapses
        learned = train_hierarchy(cfg, net0, x_train, seed)
        nets = {
            "learned": learned,
            "random": net0,
            "norm_matched": _with_weight(net0, norm_matched(net0.weight, learned.weight)),
        }
        gen = torch.Generator(device="cpu").manual_seed(_stream_seed(seed, _TEST_STREAM))
        noise = _noise(gen, (x_test.shape[0],), sizes, cfg.noise_sd, dev, dtype)
        per = {name: measure(cfg, net, x_test_d, noise, ratio, seed)[:2] for name, net in nets.items()}
        v0, v1 = net0.weight.values(), learned.weight.values()
        seeds.append(
            {
                "seed": seed,
                "weight_change": float((v1 - v0).norm() / v0.norm()),
                "boundaries": [
                    {m: {c: per[c][0][b][m] for c in CONDITIONS} for m in BOUNDARY_METRICS}
                    for b in range(len(sizes) - 1)
                ],
                "end_to_end_r2": {c: per[c][1] for c in CONDITIONS},
            }
        )
    boundaries: list[BoundaryStats] = [
        {
            "boundary": b + 1,
            "lower_size": sizes[b],
            "upper_size": sizes[b + 1],
            "metrics": {
                m: _condition_stats([s["boundaries"][b][m] for s in seeds]) for m in BOUNDARY_METRICS
            },
        }
        for b in range(len(sizes) - 1)
    ]
    result: RatioResult = {
        "ratio": ratio,
        "sizes": list(sizes),
        "synapses": synapses,
        "seeds": seeds,
        "boundaries": boundaries,
        "end_to_end_r2": _condition_stats([s["end_to_end_r2"] for s in seeds]),
        "verdict": {c: _verdict(boundaries, c) for c in CONDITIONS[1:]},
        "answer": "",
    }
    result["answer"] = _answer(result, len(seeds))
    return result


def run_learned_compression(cfg: LearnedCompressionConfig, *, progress: bool = False) -> CompressionSummary:
    """Train, measure and compare for every ratio and seed of ``cfg``; the summary (no figure, no MLflow)."""
    t0 = time.perf_counter()
    x_train, x_test = load_inputs(cfg)
    results = [_run_ratio(cfg, r, x_train, x_test, progress) for r in cfg.ratios]
    return {
        "config": cfg.model_dump(mode="json"),
        "results": results,
        "answer": "\n".join(r["answer"] for r in results),
        "seconds": time.perf_counter() - t0,
        "mlflow": None,
        "figures": [],
    }


_FIG_METRICS = ("mi_corrected", "mi_null_subtracted", "reconstruction_r2", "upper_pr")
_UNITS = {"mi_corrected": "nats", "mi_null_subtracted": "nats", "reconstruction_r2": "R²", "upper_pr": "PR"}


def _figure(summary: CompressionSummary, outputs: Path) -> Path:
    import matplotlib.pyplot as plt

    from hal9.viz import save_figure

    results = summary["results"]
    fig, axes = plt.subplots(
        len(results), len(_FIG_METRICS), figsize=(3.2 * len(_FIG_METRICS), 2.8 * len(results)), squeeze=False
    )
    width = 0.27
    for row, res in zip(axes, results, strict=True):
        for ax, m in zip(row, _FIG_METRICS, strict=True):
            x = np.arange(len(res["boundaries"]))
            for i, c in enumerate(CONDITIONS):
                st = [b["metrics"][m][c] for b in res["boundaries"]]
                mean = np.array([s["mean"] for s in st])
                err = np.array([[s["mean"] - s["ci95"][0], s["ci95"][1] - s["mean"]] for s in st]).T
                ax.bar(x + (i - 1) * width, mean, width, yerr=err, capsize=2, label=c)
            ax.set_xticks(x, [f"L{b['boundary']}→L{b['boundary'] + 1}" for b in res["boundaries"]])
            ax.set_title(f"{m} (ratio {res['ratio']:.3g})", fontsize=9)
            ax.set_ylabel(_UNITS[m])
    axes[0][0].legend(fontsize=7)
    fig.suptitle("learned (local rule) vs random hierarchies: mean ± 95 % t interval over seeds", fontsize=10)
    fig.tight_layout()
    path = outputs / "learned_compression.png"
    save_figure(fig, path)
    plt.close(fig)
    return path


def _metrics(summary: CompressionSummary) -> dict[str, float]:
    out: dict[str, float] = {}
    for i, res in enumerate(summary["results"]):
        prefix = "" if i == 0 else f"r{res['ratio']:.4g}."
        for b in res["boundaries"]:
            for m, st in b["metrics"].items():
                key = f"{prefix}b{b['boundary']}.{m}"
                out.update({f"{key}.{c}_mean": st[c]["mean"] for c in CONDITIONS})
                for c, tag in (("diff_random", "diff"), ("diff_norm_matched", "norm_diff")):
                    out[f"{key}.{tag}_mean"] = st[c]["mean"]
                    out[f"{key}.{tag}_ci_low"], out[f"{key}.{tag}_ci_high"] = st[c]["ci95"]
        for c in CONDITIONS:
            out[f"{prefix}end_to_end_r2.{c}_mean"] = res["end_to_end_r2"][c]["mean"]
        out[f"{prefix}weight_change_mean"] = float(np.mean([s["weight_change"] for s in res["seeds"]]))
    out["seconds"] = summary["seconds"]
    return out


def run_and_log(
    cfg: LearnedCompressionConfig,
    *,
    outputs: Path | None = None,
    experiment: str | None = "hal9-learned-compression",
    tracking_uri: str | None = None,
    progress: bool = False,
) -> CompressionSummary:
    """:func:`run_learned_compression`, the bar figure in ``outputs`` (none when ``None``) and one MLflow run
    (none when ``experiment`` is ``None``): the config as params, :func:`_metrics` as metrics, the figure."""
    summary = run_learned_compression(cfg, progress=progress)
    figures = [] if outputs is None else [_figure(summary, outputs)]
    summary["figures"] = [str(f) for f in figures]
    if experiment is not None:
        name, metrics = f"learned-compression-{cfg.data}-{cfg.rule}", _metrics(summary)
        summary["mlflow"] = log_run(
            experiment,
            config=cfg,
            run_name=name,
            tracking_uri=tracking_uri,
            metrics=metrics,
            artifacts=figures,
        )
    return summary
