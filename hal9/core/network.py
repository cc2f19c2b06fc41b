"""Sparse hierarchical networks: projections between adjacent layers assembled into one CSR matrix."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Literal

import torch
from torch import Tensor

from hal9.core.config import ConnectivityConfig, HierarchyConfig, resolve_device
from hal9.core.propagation import EventPlan, EventStructure, event_plan, event_structure
from hal9.core.rules import check_adjacent
from hal9.core.sampling import make_generator, sample_distinct

__all__ = [
    "Network",
    "Projection",
    "available_memory",
    "build_network",
    "build_projection",
    "check_build_fits",
    "csr_matrix",
    "expected_synapses",
]

ProjectionKind = Literal["within", "bottom_up", "feedback"]
_INT32_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class Projection:
    """Synapses from every neuron of ``target`` layer to ``fan_in`` partners in ``source`` layer.

    Attributes
    ----------
    target, source : int
        0-based layer indices with ``|target − source| ≤ 1``.
    sources : Tensor
        ``(n_target, fan_in)`` int64 **local** indices into the source layer, sorted per row.
    """

    target: int
    source: int
    kind: ProjectionKind
    sources: Tensor

    @property
    def fan_in(self) -> int:
        return int(self.sources.shape[1])


def build_projection(
    sizes: tuple[int, ...],
    target: int,
    source: int,
    fan_in: int,
    *,
    generator: torch.Generator,
    policy: Literal["error", "clip"] = "error",
    field: str = "fan_in",
) -> Projection:
    """Draw a projection ``source → target`` between layers that obey the ±1 rule.

    Raises
    ------
    ValueError
        If the layers are not adjacent (``|target − source| > 1``), or ``fan_in`` exceeds the source
        layer size with ``policy="error"``.
    """
    check_adjacent(target, source, len(sizes))
    n_src = sizes[source]
    if fan_in > n_src:
        if policy == "error":
            raise ValueError(
                f"{field}={fan_in} exceeds the size of source layer L{source + 1} ({n_src} neurons); "
                "lower it or set fan_in_policy='clip'"
            )
        fan_in = n_src
    kind: ProjectionKind = "within" if source == target else ("bottom_up" if source < target else "feedback")
    return Projection(target, source, kind, sample_distinct(sizes[target], n_src, fan_in, generator))


def csr_matrix(crow: Tensor, col: Tensor, values: Tensor, n: int) -> Tensor:
    """Build an ``(n, n)`` sparse CSR tensor without torch's beta-state warning (hal9 relies on CSR).

    Indices are stored as int32 whenever ``n`` and ``nnz`` fit: the CPU (MKL) sparse kernels otherwise
    convert int64 indices to int32 on *every* product, an ``O(nnz)`` copy per simulation step.
    """
    if max(n, int(col.numel())) < _INT32_LIMIT:
        crow, col = crow.to(torch.int32), col.to(torch.int32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(crow, col, values, (n, n), check_invariants=False)


@dataclass(frozen=True)
class Network:
    """A built hierarchy: sizes, layer labels and one sparse weight matrix.

    ``weight[i, j]`` is the synapse from neuron ``j`` onto neuron ``i``; neurons are numbered layer by
    layer (L1 first). Only entries with ``|label_i − label_j| ≤ 1`` exist.

    Shape
    -----
    * ``weight``: ``(N, N)`` sparse CSR, ``nnz = Σ_i F_i``
    * ``labels``: ``(N,)`` int64 layer index per neuron
    * ``values``: ``(nnz,)`` or ``None``: the tensor ``weight`` was built from when it carries a
      gradient (a module's parameter). :func:`hal9.core.run` then differentiates through ``values``
      directly: torch's backward through the CSR constructor and ``weight.values()`` forms the dense
      ``N × N`` gradient first (40 GB at 100k neurons), which this path never does.
    """

    sizes: tuple[int, ...]
    weight: Tensor
    labels: Tensor
    values: Tensor | None = None
    _structures: dict[str, EventStructure] = dataclass_field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        v = self.values
        if v is None:
            return
        w = self.weight.values()
        if not isinstance(v, Tensor) or v.shape != w.shape or v.dtype != w.dtype or v.device != w.device:
            what = f"{tuple(v.shape)} {v.dtype} on {v.device}" if isinstance(v, Tensor) else type(v).__name__
            raise ValueError(
                f"values must be the ({w.numel()},) {w.dtype} synaptic values on {w.device} that weight "
                f"was built from, got {what}"
            )
        # the same tensor (a module's parameter, as csr_matrix keeps it) or, checked, equal values
        if v.data_ptr() != w.data_ptr() and not torch.equal(v.detach(), w.detach()):
            raise ValueError("values differ from weight.values(): pass the tensor weight was built from")

    def grad_values(self) -> Tensor:
        """The synaptic values to differentiate through: ``values`` when given, else
        ``weight.values()`` (whose backward is dense, ``O(N²)`` memory; see the class notes)."""
        return self.values if self.values is not None else self.weight.values()

    def event_plan(self) -> EventPlan:
        """The CSC form of ``weight`` with its current values, for event-driven propagation
        (:func:`hal9.core.event_drive`).

        The sparsity structure (one sort, ``O(nnz log nnz)``) is made once and cached; each call checks
        it against the matrix's indices and gathers the current values, ``O(nnz)`` — index and value
        tensors can change in place without any version counter showing it (an optimizer step on a
        module's weights, ``reset_parameters``), so nothing is trusted that is not checked.
        """
        plan = event_plan(self.weight, self._structures.get("event"))
        if plan.structure is not None:
            self._structures["event"] = plan.structure
        return plan

    def event_structure(self) -> EventStructure:
        """The sparsity structure of ``weight`` in CSC form (no values): cached like
        :meth:`event_plan`'s and checked against the matrix on each call, ``O(nnz)``."""
        cached = self._structures.get("event")
        if cached is None or not cached.matches(self.weight):
            cached = self._structures["event"] = event_structure(self.weight)
        return cached

    @property
    def n_layers(self) -> int:
        return len(self.sizes)

    @property
    def n_neurons(self) -> int:
        return sum(self.sizes)

    @property
    def n_synapses(self) -> int:
        return int(self.weight.values().numel())

    @property
    def offsets(self) -> tuple[int, ...]:
        """Start index of each layer, plus ``N`` at the end (length ``K + 1``)."""
        out = [0]
        for s in self.sizes:
            out.append(out[-1] + s)
        return tuple(out)

    @property
    def device(self) -> torch.device:
        return self.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.weight.dtype

    def layer_slice(self, k: int) -> slice:
        """Slice of the neuron axis that holds layer ``k`` (0-based)."""
        if not 0 <= k < self.n_layers:
            raise ValueError(f"layer index must be in 0..{self.n_layers - 1}, got {k}")
        off = self.offsets
        return slice(off[k], off[k + 1])

    def edges(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(targets, sources, weights)``, each ``(nnz,)``."""
        crow = self.weight.crow_indices()
        rows = torch.repeat_interleave(torch.arange(self.n_neurons, device=crow.device), crow.diff().long())
        return rows, self.weight.col_indices().long(), self.weight.values()

    def layer_connectivity(self) -> Tensor:
        """``(K, K)`` float64 matrix: total ``|w|`` from source layer ``j`` onto target layer ``i``."""
        tgt, src, w = self.edges()
        k = self.n_layers
        flat = self.labels[tgt] * k + self.labels[src]
        out = torch.zeros(k * k, dtype=torch.float64, device=w.device)
        out.index_add_(0, flat, w.detach().abs().to(torch.float64))
        return out.view(k, k)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Network:
        """Copy to another device and/or floating dtype."""
        w = self.weight
        crow, col, vals = w.crow_indices(), w.col_indices(), w.values()
        dev = torch.device(device) if device is not None else w.device
        vals = vals.to(device=dev, dtype=dtype or vals.dtype)
        weight = csr_matrix(crow.to(dev), col.to(dev), vals, self.n_neurons)
        return Network(self.sizes, weight, self.labels.to(dev))


def _projections(
    cfg: HierarchyConfig, sizes: tuple[int, ...], gen: torch.Generator
) -> list[list[Projection]]:
    c: ConnectivityConfig = cfg.connectivity
    per_target: list[list[Projection]] = []
    for t in range(len(sizes)):
        projs = []
        wanted = [
            (c.within, t, c.fan_in_within, "connectivity.fan_in_within"),
            (c.bottom_up and t > 0, t - 1, c.fan_in_up, "connectivity.fan_in_up"),
            (c.feedback and t + 1 < len(sizes), t + 1, c.fan_in_down, "connectivity.fan_in_down"),
        ]
        for enabled, s, fan_in, field in wanted:
            if enabled and fan_in > 0:
                projs.append(
                    build_projection(sizes, t, s, fan_in, generator=gen, policy=c.fan_in_policy, field=field)
                )
        per_target.append(projs)
    return per_target


#: Peak bytes per synapse while :func:`build_network` assembles a float32 network, plus ``2 × (itemsize − 4)``
#: for wider dtypes (measured with ``ru_maxrss``: 39.4 B at 100,001 neurons / 2.19 M synapses, 33.9 B at
#: 1,000,000 / 21.9 M; the int64 draws and sort keys, the CSR and the values).
BUILD_BYTES_PER_SYNAPSE = 40
#: Bytes per neuron of the same build (row pointers, labels, counts).
BUILD_BYTES_PER_NEURON = 24


def expected_synapses(config: HierarchyConfig) -> int:
    """The number of synapses :func:`build_network` draws for ``config`` (exact, without drawing them).

    Raises the same ``ValueError`` as the build when a fan-in exceeds its source layer under
    ``fan_in_policy="error"``.
    """
    sizes = config.layer_sizes()
    c = config.connectivity
    total = 0
    for t, n_t in enumerate(sizes):
        for enabled, s, fan_in, field in (
            (c.within, t, c.fan_in_within, "connectivity.fan_in_within"),
            (c.bottom_up and t > 0, t - 1, c.fan_in_up, "connectivity.fan_in_up"),
            (c.feedback and t + 1 < len(sizes), t + 1, c.fan_in_down, "connectivity.fan_in_down"),
        ):
            if not enabled or fan_in <= 0:
                continue
            if fan_in > sizes[s] and c.fan_in_policy == "error":
                raise ValueError(
                    f"{field}={fan_in} exceeds the size of source layer L{s + 1} ({sizes[s]} neurons); "
                    "lower it or set fan_in_policy='clip'"
                )
            total += n_t * min(fan_in, sizes[s])
    return total


def available_memory(device: torch.device) -> int | None:
    """Bytes free for new tensors on ``device``; ``None`` when unknown.

    CUDA: the driver's free memory plus what torch's caching allocator holds unused. CPU (Linux): the
    smaller of ``MemAvailable`` and the room left under the process's cgroup memory limit (v2
    ``memory.max − memory.current``, or v1 ``memory.limit_in_bytes − memory.usage_in_bytes``), so a
    container limited below the node's memory is judged by its limit.
    """
    if device.type == "cuda":
        free = int(torch.cuda.mem_get_info(device)[0])
        return free + int(torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    candidates = [v for v in (_meminfo_available(), _cgroup_room()) if v is not None]
    return min(candidates) if candidates else None


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (no limit) and garbage: unknown


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cgroup_room() -> int | None:
    for limit_path, usage_path in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        limit, usage = _read_int(limit_path), _read_int(usage_path)
        if limit is not None and usage is not None and limit < 2**60:  # v1 "no limit" is ~2**63
            return max(0, limit - usage)
    return None


def check_build_fits(config: HierarchyConfig, device: torch.device, dtype: torch.dtype) -> int:
    """Estimated peak bytes of building ``config``; ``ValueError`` with the estimate if it cannot fit.

    The estimate is ``nnz · (BUILD_BYTES_PER_SYNAPSE + 2·(itemsize − 4)) + N · BUILD_BYTES_PER_NEURON``.
    """
    n = sum(config.layer_sizes())
    nnz = expected_synapses(config)
    itemsize = torch.empty((), dtype=dtype).element_size()
    need = nnz * (BUILD_BYTES_PER_SYNAPSE + 2 * max(0, itemsize - 4)) + n * BUILD_BYTES_PER_NEURON
    free = available_memory(device)
    if free is not None and need > free:
        raise ValueError(
            f"building this network needs about {need / 2**30:.1f} GiB ({n:,} neurons, {nnz:,} synapses) "
            f"but {device} has {free / 2**30:.1f} GiB available; use fewer neurons or smaller fan-ins"
        )
    return need


def build_network(
    config: HierarchyConfig,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Network:
    """Build a sparse hierarchy from ``config``.

    Each target layer's projections (within, bottom-up, feedback) are drawn with ``generator`` (or a
    new one seeded with ``seed``), concatenated per row, sorted by presynaptic index and assembled
    directly into CSR: no COO sort and never an ``N × N`` dense tensor.

    Parameters
    ----------
    config : HierarchyConfig
    seed, generator
        Randomness; the same seed gives bitwise-identical networks on the same device.
    device, dtype
        Where the network lives; ``dtype`` must be floating point.

    Raises
    ------
    ValueError
        Before drawing anything, when the estimated peak memory (:func:`check_build_fits`) exceeds what
        the device has available.

    Notes
    -----
    Time and memory ``O(nnz) = O(Σ_i F_i)``; peak about 40 bytes per synapse in float32.

    Examples
    --------
    >>> net = build_network(HierarchyConfig(base_size=200, n_layers=3), seed=0)
    >>> net.sizes, net.n_synapses
    ((200, 74, 27), 6432)
    """
    if not isinstance(config, HierarchyConfig):
        raise ValueError(f"config must be a HierarchyConfig, got {type(config).__name__}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be floating point, got {dtype}")
    gen = make_generator(seed, generator, device)
    dev = gen.device if device is None else resolve_device(device)
    if gen.device.type != dev.type:
        raise ValueError(f"generator is on {gen.device} but device={dev}")
    check_build_fits(config, dev, dtype)
    sizes = config.layer_sizes()
    offsets = [0]
    for s in sizes:
        offsets.append(offsets[-1] + s)
    c = config.connectivity
    cols, vals, row_counts = [], [], []
    for t, projs in enumerate(_projections(config, sizes, gen)):
        n_t = sizes[t]
        if not projs:
            row_counts.append(torch.zeros(n_t, dtype=torch.int64, device=dev))
            continue
        block = torch.cat([p.sources + offsets[p.source] for p in projs], dim=1)
        block = block.sort(dim=1).values  # source layers occupy disjoint ranges: no duplicates
        f_tot = block.shape[1]
        if c.init == "normal":
            w = torch.randn(block.shape, generator=gen, device=dev, dtype=dtype)
        elif c.init == "uniform":
            w = (torch.rand(block.shape, generator=gen, device=dev, dtype=dtype) * 2 - 1) * math.sqrt(3.0)
        else:
            w = torch.ones(block.shape, device=dev, dtype=dtype)
        cols.append(block.reshape(-1))
        vals.append((w * (c.gain / math.sqrt(f_tot))).reshape(-1))
        row_counts.append(torch.full((n_t,), f_tot, dtype=torch.int64, device=dev))
    n = offsets[-1]
    crow = torch.zeros(n + 1, dtype=torch.int64, device=dev)
    torch.cumsum(torch.cat(row_counts), 0, out=crow[1:])
    col = torch.cat(cols) if cols else torch.zeros(0, dtype=torch.int64, device=dev)
    val = torch.cat(vals) if vals else torch.zeros(0, dtype=dtype, device=dev)
    labels = torch.repeat_interleave(
        torch.arange(len(sizes), device=dev), torch.tensor(sizes, device=dev, dtype=torch.int64)
    )
    return Network(sizes, csr_matrix(crow, col, val, n), labels)
