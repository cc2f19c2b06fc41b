"""Local plasticity rules on the sparse ±1 weights: configs, the factory for ``run`` and whole-matrix updates.

Every rule updates the ``(nnz,)`` values of a CSR weight matrix ``W`` (``W[i, j]``: synapse from neuron ``j``
onto neuron ``i``) in CSR order, from the presynaptic activity ``x = pre`` ``(batch, n_pre)`` and the
postsynaptic activity ``y = post`` ``(batch, n_post)`` of one step. ``⟨·⟩`` is the mean over the batch.

==========================  ==========================================================================
config                      update (η = ``lr``)
==========================  ==========================================================================
:class:`HebbConfig`         ``Δw_ij = η (⟨y_i x_j⟩ − λ w_ij)``
:class:`OjaConfig`          ``Δw_ij = η ⟨y_i (x_j − y_i w_ij)⟩``                     (Oja 1982)
:class:`OjaSubspaceConfig`  ``Δw_ij = η ⟨y_i (x_j − Σ_k y_k w_kj)⟩``                  (Oja 1989)
:class:`SangerConfig`       ``Δw_ij = η ⟨y_i (x_j − Σ_{k ≤ i} y_k w_kj)⟩``            (Sanger 1989)
:class:`BCMConfig`          ``Δw_ij = η ⟨y_i (y_i − θ_i) x_j⟩``, sliding ``θ``         (BCM 1982)
:class:`STDPConfig`         ``Δw_ij = η (A+ ⟨x̃_j s_i⟩ − A− ⟨ỹ_i s_j⟩)``, traces       (Song et al. 2000)
==========================  ==========================================================================

The sums over ``k`` run over the postsynaptic neurons that have a synapse from ``j`` (the structural
pattern). The update functions themselves (``hebb_update`` …, ``update(values, synapses, pre, post, state,
params) -> (values, state)`` with ``params`` the config) live in :mod:`hal9.learn._rules` and are exported
by :mod:`hal9.learn`; :func:`plasticity` wraps one into a :class:`hal9.core.plasticity.Plasticity` for
``run(..., plasticity=...)``, and :func:`apply_rule` applies one to a whole CSR matrix.

References
----------
* E. Oja (1982), A simplified neuron model as a principal component analyzer. J. Math. Biol. 15, 267–273.
* E. Oja (1989), Neural networks, principal components, and subspaces. Int. J. Neural Syst. 1, 61–68.
* T. D. Sanger (1989), Optimal unsupervised learning in a single-layer linear feedforward neural network.
  Neural Networks 2, 459–473.
* E. Bienenstock, L. Cooper, P. Munro (1982), Theory for the development of neuron selectivity.
  J. Neurosci. 2, 32–48; N. Intrator, L. Cooper (1992), Objective function formulation of the BCM theory
  of visual cortical plasticity. Neural Networks 5, 3–17.
* S. Song, K. Miller, L. Abbott (2000), Competitive Hebbian learning through spike-timing-dependent
  synaptic plasticity. Nat. Neurosci. 3, 919–926; A. Morrison, M. Diesmann, W. Gerstner (2008),
  Phenomenological models of synaptic plasticity based on spike timing. Biol. Cybern. 98, 459–478.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from pydantic import Field, model_validator
from torch import Tensor

from hal9.core import MIN_NORMAL, FrozenConfig, Plasticity, resolve_device, synapses_of

__all__ = [
    "BCMConfig",
    "HebbConfig",
    "OjaConfig",
    "OjaSubspaceConfig",
    "PlasticityConfig",
    "STDPConfig",
    "SangerConfig",
    "apply_rule",
    "init_state",
    "make_plasticity",
]


class PlasticityConfig(FrozenConfig):
    """Base of the rule configs: the learning rate ``lr`` (η), finite and > 0.

    ``lr`` is per step: each call of a rule changes a weight by ``lr`` times the batch-mean of its
    per-sample update (no ``dt`` factor).
    """

    lr: float = Field(0.01, gt=0.0, allow_inf_nan=False, description="learning rate η per step, > 0")


class HebbConfig(PlasticityConfig):
    """Hebbian rule with weight decay: ``Δw_ij = η (⟨y_i x_j⟩ − λ w_ij)``.

    With ``decay`` ``λ > 0`` and a stationary correlation the weights relax to the fixed point
    ``w*_ij = ⟨y_i x_j⟩ / λ`` (geometrically, factor ``1 − ηλ`` per step; requires ``ηλ < 2``). With
    ``λ = 0`` it is plain Hebb, ``Δw_ij = η ⟨y_i x_j⟩``, which grows without bound under a positive
    correlation.
    """

    decay: float = Field(0.0, ge=0.0, allow_inf_nan=False, description="λ ≥ 0; 0: no decay")

    @model_validator(mode="after")
    def _stable_decay(self) -> HebbConfig:
        if self.lr * self.decay >= 2.0:
            raise ValueError(
                f"lr * decay must be < 2 (the decay step w ← (1 − lr·decay)·w diverges otherwise), "
                f"got lr={self.lr}, decay={self.decay}"
            )
        return self


class OjaConfig(PlasticityConfig):
    """Oja's single-neuron rule (Oja 1982): ``Δw_ij = η ⟨y_i (x_j − y_i w_ij)⟩``.

    For a linear neuron ``y_i = Σ_j w_ij x_j`` on zero-mean inputs the row ``w_i`` converges to the unit-norm
    first principal component of the inputs it sees (up to sign).
    """


class OjaSubspaceConfig(PlasticityConfig):
    """Oja's subspace rule (Oja 1989): ``Δw_ij = η ⟨y_i (x_j − Σ_k y_k w_kj)⟩``.

    For ``y = W x`` the rows of ``W`` converge to an orthonormal basis of the principal subspace of the
    inputs (any rotation within it). ``k`` runs over the postsynaptic neurons with a synapse from ``j``.
    """


class SangerConfig(PlasticityConfig):
    """Sanger's generalized Hebbian algorithm (Sanger 1989): ``Δw_ij = η ⟨y_i (x_j − Σ_{k ≤ i} y_k w_kj)⟩``.

    For ``y = W x`` row ``i`` converges to the ``i``-th principal component (up to sign), ordered by the
    postsynaptic neuron index: ``k ≤ i`` runs over the neurons with a synapse from ``j`` and an index at most
    ``i``.
    """


class BCMConfig(PlasticityConfig):
    """BCM rule, Intrator & Cooper (1992) form: ``Δw_ij = η ⟨y_i (y_i − θ_i) x_j⟩``.

    The threshold slides towards the second moment of the output:
    ``θ_i ← θ_i + (dt / τ_θ)(⟨y_i²⟩ − θ_i)`` (explicit Euler; ``dt ≤ τ_θ`` so it never overshoots).
    The weights use the threshold *before* the step's update. State: ``θ`` ``(n_post,)``.
    """

    tau_theta: float = Field(100.0, ge=MIN_NORMAL, allow_inf_nan=False, description="τ_θ, time unit of dt")
    dt: float = Field(1.0, ge=MIN_NORMAL, allow_inf_nan=False, description="step length")
    theta_init: float = Field(0.0, ge=0.0, allow_inf_nan=False, description="initial θ")

    @model_validator(mode="after")
    def _no_overshoot(self) -> BCMConfig:
        if self.dt > self.tau_theta:
            raise ValueError(
                f"dt must be ≤ tau_theta (the threshold update overshoots otherwise), "
                f"got dt={self.dt}, tau_theta={self.tau_theta}"
            )
        return self


class STDPConfig(PlasticityConfig):
    """Pair-based STDP with all-to-all traces (Song, Miller & Abbott 2000; Morrison et al. 2008).

    Each step, with spikes ``s_pre`` ``(batch, n_pre)`` and ``s_post`` ``(batch, n_post)``:

    1. decay the traces: ``x̃ = x · exp(−dt/τ+)``, ``ỹ = y · exp(−dt/τ−)``;
    2. ``Δw_ij = η (A+ ⟨x̃_j s_post_i⟩ − A− ⟨ỹ_i s_pre_j⟩)``, then clamp to ``[w_min, w_max]`` if given;
    3. add the step's spikes: ``x = x̃ + s_pre``, ``y = ỹ + s_post``.

    The weight update sees only spikes of *earlier* steps, so a pre spike ``Δt = n·dt`` before a post spike
    gives ``+η A+ exp(−Δt/τ+)``, a post spike ``Δt`` before a pre spike ``−η A− exp(−Δt/τ−)``, and
    coincident spikes no change. ``lr`` (default 1) scales both amplitudes.
    """

    lr: float = Field(1.0, gt=0.0, allow_inf_nan=False, description="overall factor η on A+ and A−")
    a_plus: float = Field(0.005, ge=0.0, allow_inf_nan=False, description="A+, potentiation amplitude")
    a_minus: float = Field(0.00525, ge=0.0, allow_inf_nan=False, description="A−, depression amplitude")
    tau_plus: float = Field(20.0, ge=MIN_NORMAL, allow_inf_nan=False, description="τ+ of the pre trace")
    tau_minus: float = Field(20.0, ge=MIN_NORMAL, allow_inf_nan=False, description="τ− of the post trace")
    dt: float = Field(1.0, ge=MIN_NORMAL, allow_inf_nan=False, description="step length, unit of τ±")
    w_min: float | None = Field(None, allow_inf_nan=False, description="hard lower bound (None: none)")
    w_max: float | None = Field(None, allow_inf_nan=False, description="hard upper bound (None: none)")

    @model_validator(mode="after")
    def _ordered_bounds(self) -> STDPConfig:
        if self.w_min is not None and self.w_max is not None and self.w_min > self.w_max:
            raise ValueError(f"w_min ({self.w_min}) must be ≤ w_max ({self.w_max})")
        return self


def _rule(config: object) -> Any:
    """The ``Rule`` (name, update, init) of ``config``'s type; ``ValueError`` for anything else."""
    from hal9.learn._rules import RULES  # the rules import these configs: resolved at call time

    kind: Any = type(config)
    rule = RULES.get(kind)
    if rule is None:
        names = ", ".join(sorted(c.__name__ for c in RULES))
        raise ValueError(f"config must be one of {names}, got {type(config).__name__}")
    return rule


def init_state(
    config: PlasticityConfig,
    *,
    n_pre: int,
    n_post: int,
    batch: int,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Any:
    """The initial state of ``config``'s rule: ``None`` (Hebb, Oja, subspace, Sanger), ``θ`` ``(n_post,)``
    filled with ``theta_init`` (BCM), or zero traces :class:`~hal9.learn.STDPState` (``(batch, n_pre)``,
    ``(batch, n_post)``) (STDP).

    Raises ``ValueError`` naming ``n_pre``/``n_post``/``batch`` (must be ≥ 0, batch ≥ 1), ``device`` or
    ``dtype`` (must be floating point).
    """
    rule = _rule(config)
    for name, v, low in (("n_pre", n_pre, 0), ("n_post", n_post, 0), ("batch", batch, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an integer ≥ {low}, got {v!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating point torch.dtype, got {dtype}")
    dev = resolve_device(device)
    return None if rule.init is None else rule.init(config, n_pre, n_post, batch, dev, dtype)


def make_plasticity(
    config: PlasticityConfig,
    *,
    n_neurons: int,
    batch: int,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Plasticity:
    """The :class:`~hal9.core.plasticity.Plasticity` of ``config``'s rule for ``run(..., plasticity=...)``.

    Parameters
    ----------
    config : PlasticityConfig
        One of :class:`HebbConfig`, :class:`OjaConfig`, :class:`OjaSubspaceConfig`, :class:`SangerConfig`,
        :class:`BCMConfig`, :class:`STDPConfig`; it picks the rule and is passed as its ``params``.
    n_neurons : int
        ``N`` of the network's ``(N, N)`` weight matrix (sizes the state).
    batch : int
        Batch size of the run (the STDP traces are per sample).
    device, dtype
        Where the state lives; must match the weights and activities of the run.

    Returns
    -------
    Plasticity
        ``update`` the rule's pure update, ``params`` the config, ``state`` from :func:`init_state`, ``name``
        the rule's name (``"hebb"``, ``"oja"``, ``"oja_subspace"``, ``"sanger"``, ``"bcm"``, ``"stdp"``).
    """
    rule = _rule(config)
    state = init_state(config, n_pre=n_neurons, n_post=n_neurons, batch=batch, device=device, dtype=dtype)
    return Plasticity(update=rule.update, params=config, state=state, name=rule.name)


def apply_rule(
    weight: Tensor, pre: Tensor, post: Tensor, config: PlasticityConfig, state: Any = None
) -> tuple[Tensor, Any]:
    """One step of ``config``'s rule on a whole sparse CSR matrix ``(n_post, n_pre)``.

    Parameters
    ----------
    weight : Tensor
        ``(n_post, n_pre)`` sparse CSR (rectangular allowed); ``ValueError`` for any other layout.
    pre, post : Tensor
        ``(batch, n_pre)`` presynaptic and ``(batch, n_post)`` postsynaptic activity, dtype and device of
        ``weight``.
    config : PlasticityConfig
        The rule and its parameters.
    state : optional
        The rule's state; ``None``: :func:`init_state` for this matrix and batch.

    Returns
    -------
    (weight, state)
        A new CSR tensor with the *same* ``crow_indices``/``col_indices`` tensors and the updated values
        (nothing outside the structure can appear), and the rule's new state. Inputs are not modified.
    """
    from hal9.learn._rules import check_step

    rule = _rule(config)
    synapses = synapses_of(weight)
    values = weight.values()
    check_step(values, synapses, pre, post)
    if state is None:
        state = init_state(
            config,
            n_pre=synapses.n_pre,
            n_post=synapses.n_post,
            batch=int(pre.shape[0]),
            device=values.device,
            dtype=values.dtype,
        )
    new_values, new_state = rule.update(values, synapses, pre, post, state, config)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        out = torch.sparse_csr_tensor(
            weight.crow_indices(),
            weight.col_indices(),
            new_values,
            tuple(weight.shape),
            check_invariants=False,
        )
    return out, new_state
