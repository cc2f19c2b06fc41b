"""``nn.Module`` wrapper around the functional core: one generic module for every neuron model.

:class:`HierarchyNetwork` holds the sparse ±1 connectivity (CSR buffers), learnable synaptic weight
values and per-neuron biases, and the model's main time constant as a buffer; it runs any registered
neuron model (:mod:`hal9.core.neurons`) through :func:`~hal9.core.run`. :class:`RateNetwork` and
:class:`LIFNetwork` are the same module with a default neuron config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, get_args

import torch
from pydantic import BaseModel
from torch import Tensor, nn

from hal9.core.config import HierarchyConfig
from hal9.core.network import Network, build_network, csr_matrix
from hal9.core.neurons import LIFConfig, RateConfig, neuron_model
from hal9.core.propagation import Propagation
from hal9.core.runner import RunResult, run

__all__ = ["LEARNABLE", "HierarchyNetwork", "LIFNetwork", "Learnable", "RateNetwork"]

#: Neuron parameters a :class:`HierarchyNetwork` can learn besides the weights and biases.
Learnable = Literal["time_constant", "threshold"]
LEARNABLE: tuple[str, ...] = get_args(Learnable)


class HierarchyNetwork(nn.Module):
    """A hierarchy of any registered neuron model with learnable sparse weights and biases.

    ``drive = W a + b + I`` feeds the model's step (rate: ``τ dx/dt = −x + f(drive)``; LIF/ALIF: the
    membrane equation); gradients flow through the CSR weight values (only the existing synapses: the
    sparsity pattern is structural), the biases and, with ``learnable``, the time constants and spike
    thresholds. Spiking models pass gradients through their spikes with the surrogate derivative of
    their config (:mod:`hal9.core.neurons.surrogate`); the forward pass is the exact threshold.

    Parameters
    ----------
    config : HierarchyConfig
        Layer sizes and connectivity.
    neuron : pydantic config of a registered neuron model
        :class:`~hal9.core.RateConfig` (default), :class:`~hal9.core.LIFConfig`,
        :class:`~hal9.core.ALIFConfig`, …; its type selects the model.
    learnable : sequence of {"time_constant", "threshold"}
        Neuron parameters to learn: ``"time_constant"`` makes ``time_constant`` a parameter (clamped
        to ``≥ dt`` in :meth:`neuron_params`, so ``dt/τ ≤ 1``); ``"threshold"`` adds a ``(N,)``
        parameter ``threshold`` (spiking models only).
    seed, generator
        Randomness of the connectivity and weights (give at most one).
    device, dtype
        Where and in which floating dtype the tensors live (default CPU, float32).

    Attributes
    ----------
    weight_values : nn.Parameter
        ``(nnz,)`` synaptic weights in CSR order (``crow_indices``, ``col_indices`` are buffers).
    bias : nn.Parameter
        ``(N,)`` per-neuron bias ``b``.
    time_constant : Tensor
        ``(N,)`` buffer (a parameter with ``learnable=["time_constant"]``): the model's main time
        constant (``tau`` or ``tau_mem``), per neuron.
    threshold : nn.Parameter or None
        ``(N,)`` per-neuron spike thresholds with ``learnable=["threshold"]``, else ``None``.

    Shape
    -----
    * Input: ``(T, batch, n_1)``
    * Output: :class:`~hal9.core.RunResult` (``final_state`` tensors ``(batch, N)``)

    Examples
    --------
    >>> import torch
    >>> from hal9.core import ALIFConfig
    >>> m = HierarchyNetwork(HierarchyConfig(base_size=200, n_layers=3), ALIFConfig(v_th=0.5), seed=0)
    >>> out = m(torch.ones(5, 2, 200), record=[0])
    >>> out.recordings[0].shape, type(out.final_state).__name__
    (torch.Size([5, 2, 200]), 'ALIFState')
    """

    crow_indices: Tensor
    col_indices: Tensor
    labels: Tensor
    time_constant: Tensor
    #: The neuron config type a subclass is fixed to (``None``: any registered model, default rate).
    neuron_type: ClassVar[type[BaseModel] | None] = None

    def __init__(
        self,
        config: HierarchyConfig,
        neuron: BaseModel | None = None,
        *,
        learnable: Sequence[Learnable] = (),
        seed: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        fixed = type(self).neuron_type
        self.neuron_config = neuron if neuron is not None else (fixed or RateConfig)()
        if fixed is not None and type(self.neuron_config) is not fixed:
            raise ValueError(
                f"neuron must be a {fixed.__name__} for {type(self).__name__}, got "
                f"{type(self.neuron_config).__name__} (use HierarchyNetwork for any model)"
            )
        self.model = neuron_model(self.neuron_config)
        if type(self.neuron_config) is not self.model.config_type:  # a params or state, not a config
            raise ValueError(f"neuron must be a neuron config, got {type(self.neuron_config).__name__}")
        self.sizes = config.layer_sizes()
        net = build_network(
            config, seed=seed, generator=generator, device=device, dtype=dtype or torch.float32
        )
        w = net.weight
        self.register_buffer("crow_indices", w.crow_indices().clone())
        self.register_buffer("col_indices", w.col_indices().clone())
        self.register_buffer("labels", net.labels.clone())
        self.weight_values = nn.Parameter(w.values().clone())
        params = self._config_params(net.device, net.dtype)
        self.bias = nn.Parameter(params.bias.clone())
        self.learnable = self._check_learnable(learnable)
        tau = getattr(params, self.model.time_constant).clone()
        if "time_constant" in self.learnable:
            self.time_constant = nn.Parameter(tau)
        else:
            self.register_buffer("time_constant", tau)
        self.threshold: nn.Parameter | None = None
        if "threshold" in self.learnable:
            self.threshold = nn.Parameter(self._config_threshold(params))

    def _check_learnable(self, learnable: Sequence[str] | None) -> tuple[str, ...]:
        if learnable is None:
            return ()
        if isinstance(learnable, str):
            raise ValueError(f"learnable must be a sequence of names, got the string {learnable!r}")
        names = tuple(dict.fromkeys(learnable))
        for name in names:
            if name not in LEARNABLE:
                raise ValueError(f"learnable entries must be in {LEARNABLE}, got {name!r}")
        if "threshold" in names and self.model.threshold is None:
            raise ValueError(
                f"learnable 'threshold': the {self.model.name!r} neuron model has no spike threshold"
            )
        return names

    def _config_threshold(self, params: Any) -> Tensor:
        assert self.model.threshold is not None
        value = getattr(params, self.model.threshold)
        return torch.full_like(params.bias, float(value)) if not isinstance(value, Tensor) else value.clone()

    def _config_params(self, device: torch.device, dtype: torch.dtype) -> Any:
        return self.model.make_params(self.neuron_config, self.sizes, device=device, dtype=dtype)

    def reset_parameters(self, *, seed: int | None = None, generator: torch.Generator | None = None) -> None:
        """Redraw the connectivity and weights (see :func:`~hal9.core.build_network`) and reset the biases
        and time constants from the configs, **in place**: the parameter and buffer tensors stay the same
        objects, so an optimizer built on ``parameters()`` keeps valid references."""
        dev, dtype = self.bias.device, self.bias.dtype
        net = build_network(self.config, seed=seed, generator=generator, device=dev, dtype=dtype)
        w = net.weight
        if w.values().shape != self.weight_values.shape:  # pragma: no cover - fan-ins fix the count
            raise ValueError(
                f"the redrawn network has {w.values().numel()} synapses, "
                f"the module {self.weight_values.numel()}"
            )
        params = self._config_params(dev, dtype)
        with torch.no_grad():
            self.crow_indices.copy_(w.crow_indices())
            self.col_indices.copy_(w.col_indices())
            self.labels.copy_(net.labels)
            self.weight_values.copy_(w.values())
            self.bias.copy_(params.bias)
            self.time_constant.copy_(getattr(params, self.model.time_constant))
            if self.threshold is not None:
                self.threshold.copy_(self._config_threshold(params))

    def network(self) -> Network:
        """The current :class:`~hal9.core.Network`; its weight values are this module's parameter.

        Gradients flow from the network's outputs into ``weight_values``.
        """
        weight = csr_matrix(self.crow_indices, self.col_indices, self.weight_values, sum(self.sizes))
        return Network(self.sizes, weight, self.labels, self.weight_values)

    def neuron_params(self) -> Any:
        """The model's params container with this module's ``bias`` and ``time_constant`` tensors."""
        params = self._config_params(self.bias.device, self.bias.dtype)
        tau = self.time_constant
        if "time_constant" in self.learnable:
            tau = tau.clamp_min(params.dt)
        fields: dict[str, Any] = {self.model.time_constant: tau, "bias": self.bias}
        if self.threshold is not None and self.model.threshold is not None:
            fields[self.model.threshold] = self.threshold
        return params._replace(**fields)

    def forward(
        self,
        inputs: Tensor,
        state: Any = None,
        *,
        layer_inputs: Mapping[int, Tensor] | None = None,
        record: Sequence[int] = (),
        every: int = 1,
        propagation: Propagation = "auto",
    ) -> RunResult:
        """Run the hierarchy on ``inputs`` of shape ``(T, batch, n_1)``; see :func:`~hal9.core.run`.

        Event-driven propagation (spiking models) sorts the synapses by source on each call
        (``O(nnz log nnz)``), since the module builds its network afresh; pass ``propagation="dense"``
        for short runs of large modules.
        """
        return run(
            self.network(),
            self.neuron_params(),
            inputs,
            state=state,
            layer_inputs=layer_inputs,
            record=record,
            every=every,
            propagation=propagation,
        )

    def extra_repr(self) -> str:
        learn = f", learnable={list(self.learnable)}" if self.learnable else ""
        return f"model={self.model.name}, sizes={self.sizes}, synapses={self.weight_values.numel()}{learn}"


class RateNetwork(HierarchyNetwork):
    """:class:`HierarchyNetwork` of leaky rate neurons (default :class:`~hal9.core.RateConfig`).

    ``τ_i dx_i/dt = −x_i + f(Σ_j W_ij x_j + b_i + I_i)``; gradients flow through the CSR weight values.

    Shape
    -----
    * Input: ``(T, batch, n_1)``
    * Output: :class:`~hal9.core.RunResult` with ``final_state.x`` of shape ``(batch, N)``

    Examples
    --------
    >>> import torch
    >>> m = RateNetwork(HierarchyConfig(base_size=200, n_layers=3), RateConfig(), seed=0)
    >>> out = m(torch.ones(5, 2, 200), record=[2])
    >>> out.recordings[2].shape
    torch.Size([5, 2, 27])
    """

    neuron_type = RateConfig


class LIFNetwork(HierarchyNetwork):
    """:class:`HierarchyNetwork` of leaky integrate-and-fire neurons (default :class:`~hal9.core.LIFConfig`).

    Shape
    -----
    * Input: ``(T, batch, n_1)``
    * Output: :class:`~hal9.core.RunResult`; recordings hold spikes (0/1)
    """

    neuron_type = LIFConfig
