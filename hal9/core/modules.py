"""``nn.Module`` wrappers around the functional core, with learnable synaptic weights and biases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from hal9.core.config import HierarchyConfig, LIFConfig, RateConfig
from hal9.core.dynamics import LIFParams, LIFState, RateParams, RateState, lif_params, rate_params
from hal9.core.network import Network, build_network, csr_matrix
from hal9.core.runner import RunResult, run

__all__ = ["LIFNetwork", "RateNetwork"]


class _HierarchyModule(nn.Module):
    crow_indices: Tensor
    col_indices: Tensor
    labels: Tensor
    time_constant: Tensor

    def __init__(
        self,
        config: HierarchyConfig,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.sizes = config.layer_sizes()
        n = sum(self.sizes)
        fdtype = dtype or torch.float32
        self.register_buffer("crow_indices", torch.zeros(n + 1, dtype=torch.int32, device=device))
        self.register_buffer("col_indices", torch.zeros(0, dtype=torch.int32, device=device))
        self.register_buffer("labels", torch.zeros(n, dtype=torch.int64, device=device))
        self.register_buffer("time_constant", torch.empty(n, device=device, dtype=fdtype))
        self.weight_values = nn.Parameter(torch.empty(0, device=device, dtype=fdtype))
        self.bias = nn.Parameter(torch.empty(n, device=device, dtype=fdtype))
        self.reset_parameters(seed=seed, generator=generator)

    def _neuron_bias_tau(self) -> tuple[float, float | tuple[float, ...]]:
        raise NotImplementedError  # pragma: no cover - abstract

    def reset_parameters(self, *, seed: int | None = None, generator: torch.Generator | None = None) -> None:
        """Redraw the connectivity and weights (see :func:`~hal9.core.build_network`) and reset biases."""
        dev, dtype = self.bias.device, self.bias.dtype
        net = build_network(self.config, seed=seed, generator=generator, device=dev, dtype=dtype)
        w = net.weight
        self.crow_indices = w.crow_indices().clone()
        self.col_indices = w.col_indices().clone()
        self.labels = net.labels
        self.weight_values = nn.Parameter(w.values().clone())
        bias, tau = self._neuron_bias_tau()
        with torch.no_grad():
            self.bias.fill_(bias)
            per_layer = torch.tensor(tau if isinstance(tau, tuple) else (tau,) * len(self.sizes), dtype=dtype)
            self.time_constant.copy_(per_layer.repeat_interleave(torch.tensor(self.sizes)).to(dev))

    def network(self) -> Network:
        """The current :class:`~hal9.core.Network`; its weight values are this module's parameter.

        Gradients flow from the network's outputs into ``weight_values``.
        """
        n = sum(self.sizes)
        weight = csr_matrix(self.crow_indices, self.col_indices, self.weight_values, n)
        return Network(self.sizes, weight, self.labels)

    def forward(
        self,
        inputs: Tensor,
        state: RateState | LIFState | None = None,
        *,
        layer_inputs: Mapping[int, Tensor] | None = None,
        record: Sequence[int] = (),
        every: int = 1,
    ) -> RunResult:
        """Run the hierarchy on ``inputs`` of shape ``(T, batch, n_1)``; see :func:`~hal9.core.run`."""
        return run(
            self.network(),
            self.neuron_params(),
            inputs,
            state=state,
            layer_inputs=layer_inputs,
            record=record,
            every=every,
        )

    def neuron_params(self) -> RateParams | LIFParams:
        raise NotImplementedError  # pragma: no cover - abstract

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, synapses={self.weight_values.numel()}"


class RateNetwork(_HierarchyModule):
    """Hierarchy of leaky rate neurons with learnable sparse weights and biases.

    ``τ_i dx_i/dt = −x_i + f(Σ_j W_ij x_j + b_i + I_i)``; gradients flow through the CSR weight values.

    Shape:
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

    def __init__(
        self,
        config: HierarchyConfig,
        neuron: RateConfig | None = None,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.neuron_config = neuron or RateConfig()
        super().__init__(config, seed=seed, generator=generator, device=device, dtype=dtype)

    def _neuron_bias_tau(self) -> tuple[float, float | tuple[float, ...]]:
        return self.neuron_config.bias, self.neuron_config.tau

    def neuron_params(self) -> RateParams:
        p = rate_params(self.neuron_config, self.sizes, device=self.bias.device, dtype=self.bias.dtype)
        return p._replace(tau=self.time_constant, bias=self.bias)


class LIFNetwork(_HierarchyModule):
    """Hierarchy of leaky integrate-and-fire neurons (weights stored as a parameter; spikes are not
    differentiable, so train it with a surrogate gradient of your own or use it for simulation).

    Shape:
        * Input: ``(T, batch, n_1)``
        * Output: :class:`~hal9.core.RunResult`; recordings hold spikes (0/1)
    """

    def __init__(
        self,
        config: HierarchyConfig,
        neuron: LIFConfig | None = None,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.neuron_config = neuron or LIFConfig()
        super().__init__(config, seed=seed, generator=generator, device=device, dtype=dtype)

    def _neuron_bias_tau(self) -> tuple[float, float | tuple[float, ...]]:
        return self.neuron_config.bias, self.neuron_config.tau_mem

    def neuron_params(self) -> LIFParams:
        p = lif_params(self.neuron_config, self.sizes, device=self.bias.device, dtype=self.bias.dtype)
        return p._replace(tau_mem=self.time_constant, bias=self.bias)
