"""Measurements shared by the hierarchy-claims recipes (:mod:`hal9.experiments.hierarchy_claims`).

One noise-driven simulation of a :class:`hal9.core.Network` (:func:`simulate_noise_driven`), one set of
per-boundary measurements of its recorded activity (:func:`hierarchy_metrics`), and the test of a peak in
aggregated sweep rows (:func:`peak_test`).

Φ of a boundary ``L_k → L_{k+1}``. Each layer's recorded activity ``(S, n_k)`` is projected on its top
``d`` principal components (scores ``Z_k``, ``(S, d)``); a VAR(1) is fitted to the ``2d``-dimensional
series ``X_t = [Z_k(t), Z_{k+1}(t)]`` by least squares, ``Â = C Σ_past⁻¹`` with ``C = Cov(X_t, X_{t−1})``,
``Σ̂_E = Σ_present − C Σ_past⁻¹ Cᵀ`` (the plug-in estimator of
:func:`hal9.metrics.integrated_information_from_data`), and Φ is evaluated over the fixed bipartition
``{components of L_k | components of L_{k+1}}`` (:func:`boundary_partition`): Φ_WMS from the sample
covariances, Φ* from the fitted model (Barrett & Seth 2011; Oizumi et al. 2016). Both parts are
invariant to invertible linear maps inside a part, so the scaling of the scores does not matter.

Null of Φ. The same Φ after circularly shifting ``Z_{k+1}`` in time by a random lag in ``[S/4, 3S/4]``
(:func:`shift_null`): each layer keeps its own autocorrelation (so the within-part terms are unchanged)
while the alignment between the layers is destroyed. ``Φ − null`` is what the coupling across the
boundary adds; it is the number to compare between conditions. Adjacent-layer CKA gets the same null
(:func:`shifted_cka`, same lags): linear CKA of unrelated layers is far from 0 when neurons outnumber
samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

from hal9.core import Network, RateConfig, rate_params, run
from hal9.metrics import integrated_information_from_data, report

__all__ = [
    "boundary_partition",
    "boundary_phi",
    "centred_gram",
    "circular_lags",
    "hierarchy_metrics",
    "layer_components",
    "peak_test",
    "shift_null",
    "shifted_cka",
    "simulate_noise_driven",
    "stream_seed",
]

#: Φ measures evaluated per boundary (names of :func:`hal9.metrics.measure_names`) → metric prefix.
PHI_MEASURES: dict[str, str] = {"wms": "phi_wms", "star": "phi_star"}
#: Components whose variance is below this fraction of the first one's count as degenerate.
_RANK_TOL = 1e-10
#: Steps simulated per call of :func:`hal9.core.run` (bounds the input held in memory).
SEGMENT_STEPS = 1000


def stream_seed(seed: int, stream: int) -> int:
    """An independent 32-bit seed for ``(seed, stream)`` (NumPy ``SeedSequence``)."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def simulate_noise_driven(
    network: Network,
    neuron: RateConfig,
    *,
    steps: int,
    burn_in: int,
    record_every: int,
    noise: float,
    layer_noise: float = 0.0,
    seed: int,
) -> dict[int, Tensor]:
    """Drive L1 with i.i.d. Gaussian noise (and every other layer with weaker private noise); record all.

    ``I[t, i] ~ N(0, noise²)`` into every L1 neuron and ``N(0, layer_noise²)`` into every neuron of
    L2..LK, drawn on the CPU from generators seeded with ``stream_seed(seed, 1)`` (L1) and
    ``stream_seed(seed, 4)`` (the others), then moved to the network's device, so a seed gives the same
    input on every device and the L1 input does not depend on ``layer_noise``. Without private noise an
    upper layer is a deterministic function of the L1 history; if the signal reaching it has died out, its
    VAR(1) innovations vanish and Φ diverges. ``burn_in`` steps from rest are simulated and discarded; then
    ``steps`` steps are recorded every ``record_every`` steps with :func:`hal9.core.run`, in segments of
    about :data:`SEGMENT_STEPS` steps (state carried over), so the input in memory stays
    ``O(SEGMENT_STEPS · N)`` whatever ``steps`` is.

    Returns
    -------
    dict of int to Tensor
        Layer index → ``(steps // record_every, n_k)`` float64 CPU activity (rates).
    """
    params = rate_params(neuron, network.sizes, device=network.device, dtype=network.dtype)
    gen = torch.Generator(device="cpu").manual_seed(stream_seed(seed, 1))
    gen_up = torch.Generator(device="cpu").manual_seed(stream_seed(seed, 4))
    dev, dtype = network.device, network.dtype

    def inputs(n_steps: int) -> tuple[Tensor, dict[int, Tensor]]:
        """The next ``n_steps`` of input: L1 drive and the private noise of L2..LK.

        Drawn one step at a time (torch's CPU ``randn`` is not prefix-consistent), so the input, and
        hence the result, does not depend on how the steps are split into segments.
        """
        n1, upper = network.sizes[0], network.sizes[1:] if layer_noise > 0 else ()
        drive = torch.stack([torch.randn(1, n1, generator=gen, dtype=torch.float64) for _ in range(n_steps)])
        per_step = [
            [torch.randn(1, n, generator=gen_up, dtype=torch.float64) for n in upper] for _ in range(n_steps)
        ]
        extra = {
            k: (layer_noise * torch.stack([step[k - 1] for step in per_step])).to(device=dev, dtype=dtype)
            for k in range(1, len(upper) + 1)
        }
        return (noise * drive).to(device=dev, dtype=dtype), extra

    state = None
    for start in range(0, burn_in, SEGMENT_STEPS):
        drive, extra = inputs(min(SEGMENT_STEPS, burn_in - start))
        state = run(network, params, drive, state=state, layer_inputs=extra, means=False).final_state
    # segments of a multiple of record_every steps record exactly what one long run would
    segment = max(1, SEGMENT_STEPS // record_every) * record_every
    chunks: dict[int, list[Tensor]] = {k: [] for k in range(network.n_layers)}
    for start in range(0, steps, segment):
        drive, extra = inputs(min(segment, steps - start))
        res = run(
            network,
            params,
            drive,
            state=state,
            layer_inputs=extra,
            record=range(network.n_layers),
            every=record_every,
            means=False,
        )
        state = res.final_state
        for k, v in res.recordings.items():
            chunks[k].append(v[:, 0].detach().to("cpu", torch.float64))
    return {k: torch.cat(v) for k, v in chunks.items()}


def layer_components(x: Tensor, d: int, *, name: str = "layer") -> Tensor:
    """Scores ``(S, d)`` of the top ``d`` principal components of ``(S, n)`` activity ``x``, float64.

    ``X̃ = U Σ Vᵀ`` (thin SVD of the column-centred activity), scores ``U_{:, :d} Σ_{:d}``. Raises
    ``ValueError`` naming ``components`` when ``x`` has fewer than ``d`` neurons or fewer than ``d``
    non-degenerate components (variance ``σ_i²`` below ``1e-10 σ_1²``: silent or collinear neurons).
    Cost ``O(S · n · min(S, n))``.
    """
    if x.ndim != 2:
        raise ValueError(f"{name} must be (samples, neurons), got shape {tuple(x.shape)}")
    if x.shape[1] < d:
        raise ValueError(f"components={d} exceeds the {x.shape[1]} neurons of {name}")
    xc = x.to(torch.float64)
    xc = xc - xc.mean(0)
    u, sv, _ = torch.linalg.svd(xc, full_matrices=False)
    kept = int((sv.square() > _RANK_TOL * sv[0].square()).sum()) if float(sv[0]) > 0 else 0
    if kept < d:
        raise ValueError(
            f"components={d}: {name} has only {kept} non-degenerate principal components "
            "(silent or collinear activity)"
        )
    return u[:, :d] * sv[:d]


def boundary_partition(d_lower: int, d_upper: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The bipartition ``{0..d_lower−1 | d_lower..d_lower+d_upper−1}``: lower layer's components | upper's."""
    if d_lower < 1 or d_upper < 1:
        raise ValueError(f"each layer needs at least one component, got {d_lower} and {d_upper}")
    return tuple(range(d_lower)), tuple(range(d_lower, d_lower + d_upper))


def boundary_phi(lower: Tensor, upper: Tensor, *, boundary: str = "boundary") -> dict[str, float]:
    """Φ_WMS and Φ* (nats) of the VAR(1) fitted to ``[lower, upper]`` across ``{lower | upper}``.

    Parameters
    ----------
    lower, upper : Tensor
        ``(S, d_lower)`` and ``(S, d_upper)`` component scores of the same ``S`` time points.
    boundary : str
        Name used in error messages (e.g. ``"L1-L2"``).

    Returns
    -------
    dict
        ``{"phi_wms": Φ_WMS, "phi_star": Φ*}`` (see the module docstring).

    Raises
    ------
    ValueError
        The fitted VAR(1) is not stationary (``ρ(Â) ≥ 1``, which Φ* needs): the recorded samples are too
        close together for the layers' time scale (raise ``record_every``).
    """
    if lower.shape[0] != upper.shape[0]:
        raise ValueError(
            f"{boundary}: lower and upper must share samples, got {lower.shape[0]}, {upper.shape[0]}"
        )
    x = torch.cat([lower, upper], dim=1).to(torch.float64)
    part = boundary_partition(lower.shape[1], upper.shape[1])
    out: dict[str, float] = {}
    for measure, key in PHI_MEASURES.items():
        try:
            res = integrated_information_from_data(x, measure=measure, partition=part)
        except torch.linalg.LinAlgError as exc:
            raise ValueError(
                f"{boundary}: the covariance of the components is singular ({exc}); a layer's activity is "
                "(nearly) a deterministic function of the other's: give it private noise (layer_noise)"
            ) from None
        except ValueError as exc:
            raise ValueError(
                f"{boundary}: Φ ({measure}) of the fitted VAR(1) failed: {exc}; samples that close in time "
                "make the top components nearly a random walk, raise record_every"
            ) from None
        assert not isinstance(res, list)
        out[key] = float(res.value)
    return out


def circular_lags(samples: int, n: int, generator: torch.Generator) -> list[int]:
    """``n`` lags drawn uniformly from ``[S/4, 3S/4]`` (``S = samples``) for circular-shift surrogates."""
    lo, hi = max(1, samples // 4), max(1, samples - samples // 4)
    return [int(v) for v in torch.randint(lo, hi + 1, (n,), generator=generator)]


def shift_null(
    lower: Tensor, upper: Tensor, lags: Sequence[int], *, boundary: str = "boundary"
) -> dict[str, float]:
    """Mean :func:`boundary_phi` over circular time shifts of ``upper`` by each of ``lags``.

    Each layer keeps its own dynamics; only the alignment across the boundary is destroyed.
    Returns ``{"phi_wms": …, "phi_star": …}`` (nats).
    """
    if not lags:
        raise ValueError("lags must not be empty")
    vals = [boundary_phi(lower, upper.roll(int(lag), 0), boundary=boundary) for lag in lags]
    return {key: math.fsum(v[key] for v in vals) / len(vals) for key in PHI_MEASURES.values()}


def centred_gram(x: Tensor) -> Tensor:
    """``(S, S)`` Gram matrix ``X̃X̃ᵀ`` of the column-centred ``(S, n)`` activity, float64."""
    xc = x.to(torch.float64)
    xc = xc - xc.mean(0)
    return xc @ xc.T


def shifted_cka(gram_x: Tensor, gram_y: Tensor, lag: int) -> float:
    """Linear CKA of ``X`` with ``Y`` circularly shifted by ``lag`` samples, from centred Gram matrices.

    ``CKA = ⟨K_X, P K_Y Pᵀ⟩_F / (‖K_X‖_F ‖K_Y‖_F)`` with ``P`` the shift permutation (Kornblith et al.
    2019, eq. 4): shifting the rows of ``Y`` permutes its Gram matrix, and centring commutes with
    permutations, so each surrogate costs ``O(S²)``. ``lag = 0`` is :func:`hal9.metrics.linear_cka`.
    """
    ky = gram_y.roll((lag, lag), (0, 1))
    denom = float(torch.linalg.matrix_norm(gram_x) * torch.linalg.matrix_norm(gram_y))
    return float((gram_x * ky).sum()) / denom if denom > 0 else math.nan


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def hierarchy_metrics(
    recordings: Mapping[int, Tensor],
    sizes: Sequence[int],
    *,
    components: int,
    n_surrogates: int,
    seed: int,
    target_ratio: float = math.e,
) -> dict[str, float]:
    """Every measurement of one recorded hierarchy, per boundary ``Lk-Lk+1`` and as ``.mean`` over boundaries.

    Parameters
    ----------
    recordings : mapping int → Tensor
        Layer index → ``(S, n_k)`` activity of every layer ``0..K−1`` (:func:`simulate_noise_driven`).
    sizes : sequence of int
        ``Network.sizes``.
    components : int
        ``d``, principal components per layer for Φ.
    n_surrogates : int
        Circular-shift surrogates of the Φ null (≥ 1).
    seed : int
        Seeds the surrogate lags (Φ null and the MI null of :func:`hal9.metrics.report`).
    target_ratio : float
        ``r*`` of :func:`hal9.metrics.compression_efficiency` (default e, HAL9's claim).

    Returns
    -------
    dict of str to float
        Per boundary ``b = "Lk-Lk+1"`` and ``.mean`` over boundaries:

        * ``phi_wms.b``, ``phi_star.b`` — Φ of the boundary VAR(1) (nats, module docstring);
          ``phi_wms_null.b``, ``phi_star_null.b`` — their circular-shift null; ``*_excess.b`` = Φ − null;
        * ``cka.b`` — linear CKA of the two layers (:func:`hal9.metrics.linear_cka` via
          :func:`hal9.metrics.report`), ``cka_null.b`` its mean over the same circular shifts as Φ's null
          (:func:`shifted_cka`; CKA of unrelated layers is far from 0 when neurons outnumber samples),
          ``cka_excess.b`` = CKA − null; ``cka.non_adjacent_mean`` (≥ 3 layers) as another reference;
        * ``pr_efficiency.b`` — :func:`hal9.metrics.compression_efficiency` of the measured effective
          compression ``PR(L_k)/PR(L_{k+1})`` (participation ratios) w.r.t. ``target_ratio``, and
          ``pr_ratio.b`` itself;
        * ``width_ratio.b``, ``width_efficiency.b`` — the same for the neuron counts ``n_k/n_{k+1}``
          (a property of the design, not of the activity: in a designed hierarchy of ratio ``r`` it is
          ``min(r/r*, r*/r)`` by construction);
        * ``mi_null_subtracted.b`` — Gaussian MI of the layers' top components minus its circular-shift null
          (nats, :class:`hal9.metrics.BoundaryReport`);

        and per layer ``lz.Lk`` — mean normalised LZ76 of median-binarised activity (as
        :func:`hal9.metrics.report`), with ``lz.mean``.

    Raises
    ------
    ValueError
        A metric is not finite (a silent layer), a layer has fewer than ``components`` components, or a
        fitted VAR(1) is not stationary — each message names the layer or boundary.
    """
    layers = sorted(recordings)
    if layers != list(range(len(sizes))):
        raise ValueError(f"recordings must hold every layer 0..{len(sizes) - 1}, got {layers}")
    if n_surrogates < 1:
        raise ValueError(f"n_surrogates must be >= 1, got {n_surrogates}")
    names = [f"L{k + 1}" for k in layers]
    scores = [layer_components(recordings[k], components, name=names[k]) for k in layers]
    gen = torch.Generator(device="cpu").manual_seed(stream_seed(seed, 2))
    samples = scores[0].shape[0]
    grams = [centred_gram(recordings[k]) for k in layers]
    rep = _report_of(recordings, sizes, seed=seed, target_ratio=target_ratio)
    out: dict[str, float] = {}
    for bnd in rep.boundaries:
        k = bnd.lower
        b = f"{names[k]}-{names[k + 1]}"
        lags = circular_lags(samples, n_surrogates, gen)
        phi = boundary_phi(scores[k], scores[k + 1], boundary=b)
        null = shift_null(scores[k], scores[k + 1], lags, boundary=b)
        for key in PHI_MEASURES.values():
            out[f"{key}.{b}"] = phi[key]
            out[f"{key}_null.{b}"] = null[key]
            out[f"{key}_excess.{b}"] = phi[key] - null[key]
        cka = float(rep.alignment.adjacent[(k, k + 1)])
        cka_null = _mean([shifted_cka(grams[k], grams[k + 1], lag) for lag in lags])
        out |= {f"cka.{b}": cka, f"cka_null.{b}": cka_null, f"cka_excess.{b}": cka - cka_null}
        for field in ("pr_efficiency", "pr_ratio", "width_ratio", "width_efficiency", "mi_null_subtracted"):
            out[f"{field}.{b}"] = float(getattr(bnd, field))
    per_boundary = dict(out)
    for prefix in sorted({key.split(".")[0] for key in per_boundary}):
        out[f"{prefix}.mean"] = _mean([v for key, v in per_boundary.items() if key.split(".")[0] == prefix])
    if len(layers) >= 3:
        out["cka.non_adjacent_mean"] = float(rep.alignment.non_adjacent_mean)
    for k, v in rep.lempel_ziv.items():
        out[f"lz.{names[k]}"] = float(v)
    out["lz.mean"] = _mean([float(v) for v in rep.lempel_ziv.values()])
    bad = sorted(key for key, v in out.items() if not math.isfinite(v))
    if bad:
        raise ValueError(f"non-finite metrics {bad} (a silent layer?); lz/cka/pr need activity that varies")
    return out


def _report_of(
    recordings: Mapping[int, Tensor], sizes: Sequence[int], *, seed: int, target_ratio: float
) -> Any:
    """:func:`hal9.metrics.report` of ``(S, n_k)`` recordings (no Φ on a neuron subset; that is ours)."""
    from hal9.core import RunResult

    recs = {k: v[:, None] for k, v in recordings.items()}  # (S, batch = 1, n_k)
    s = next(iter(recs.values())).shape[0]
    res = RunResult(
        final_state=cast(Any, None),  # report reads the recordings only
        recordings=recs,
        layer_means=torch.empty(0, 1, len(sizes), dtype=torch.float64),
        times=torch.arange(1, s + 1, dtype=torch.float64),
        steps=s,
        every=1,
    )
    return report(res, tuple(sizes), target_ratio=target_ratio, phi_neurons=None, seed=seed)


def peak_test(
    rows: Sequence[Mapping[str, Any]], metric: str, at: float = math.e, param: str = "ratio"
) -> dict[str, Any]:
    """Is ``metric`` at ``param = at`` above the 95 % CIs of both neighbouring parameter values?

    Parameters
    ----------
    rows : sequence of dict
        Aggregate rows ``{"params": {param: value, …}, "n": int, "metrics": {name: {"mean", "sd",
        "ci_low", "ci_high"}}}`` as :func:`hal9.experiments.sweep.aggregate.aggregate` returns them.
    metric : str
        Metric name, e.g. ``"phi_wms_excess.mean"``.
    at : float
        The parameter value tested (matched with ``math.isclose``, relative tolerance 1e-9).
    param : str
        The parameter axis.

    Returns
    -------
    dict
        ``metric``, ``param``, ``at``, ``n_at``, ``mean_at``, ``ci_at`` (``[low, high]``), ``lower`` and
        ``higher`` (the nearest parameter values below and above ``at`` that have the metric, each
        ``{"value", "n", "mean", "ci_high"}``, or ``None``), ``peak`` (``True`` only when both neighbours
        exist, have a finite CI, and ``mean_at`` exceeds both ``ci_high``) and ``reason`` (one line).

    Raises
    ------
    ValueError
        No row has ``param = at`` with ``metric``, or two rows do (ambiguous: other parameters differ).
    """
    points: list[tuple[float, Mapping[str, Any]]] = []
    for row in rows:
        value = row["params"].get(param)
        if isinstance(value, bool) or not isinstance(value, int | float) or metric not in row["metrics"]:
            continue
        points.append((float(value), row))
    here = [r for v, r in points if math.isclose(v, at, rel_tol=1e-9)]
    if len(here) != 1:
        what = "no row" if not here else f"{len(here)} rows"
        raise ValueError(f"{what} with {param}={at} and metric {metric!r}; need exactly one")
    stats_at = here[0]["metrics"][metric]

    def side(rows_side: list[tuple[float, Mapping[str, Any]]]) -> dict[str, Any] | None:
        if not rows_side:
            return None
        value, row = rows_side[0]
        s = row["metrics"][metric]
        return {"value": value, "n": int(row["n"]), "mean": float(s["mean"]), "ci_high": float(s["ci_high"])}

    below = sorted(
        (p for p in points if p[0] < at and not math.isclose(p[0], at, rel_tol=1e-9)), key=lambda p: -p[0]
    )
    above = sorted(
        (p for p in points if p[0] > at and not math.isclose(p[0], at, rel_tol=1e-9)), key=lambda p: p[0]
    )
    lower, higher = side(below), side(above)
    mean_at = float(stats_at["mean"])
    out: dict[str, Any] = {
        "metric": metric,
        "param": param,
        "at": at,
        "n_at": int(here[0]["n"]),
        "mean_at": mean_at,
        "ci_at": [float(stats_at["ci_low"]), float(stats_at["ci_high"])],
        "lower": lower,
        "higher": higher,
        "peak": False,
    }
    missing = [name for name, s in (("lower", lower), ("higher", higher)) if s is None]
    if missing:
        out["reason"] = f"no {' and no '.join(missing)} neighbour of {param}={at:g} with {metric}"
        return out
    assert lower is not None and higher is not None
    if not (math.isfinite(lower["ci_high"]) and math.isfinite(higher["ci_high"]) and math.isfinite(mean_at)):
        out["reason"] = "a neighbour's confidence interval is undefined (fewer than 2 seeds)"
        return out
    out["peak"] = mean_at > lower["ci_high"] and mean_at > higher["ci_high"]
    out["reason"] = (
        f"mean at {param}={at:g} is {mean_at:.6g}; CI upper bounds {lower['ci_high']:.6g} at "
        f"{lower['value']:g} and {higher['ci_high']:.6g} at {higher['value']:g}: "
        + ("above both" if out["peak"] else "not above both")
    )
    return out
