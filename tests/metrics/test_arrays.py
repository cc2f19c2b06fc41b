"""Array-like inputs: every public array function of hal9.metrics (except lz/pci/compression) accepts numpy
arrays and nested lists, gives exactly the tensor result, and names the argument when the input is bad."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from hal9 import metrics
from hal9.core import as_tensor
from hal9.metrics.gaussian import check_covariance, check_stable, conditional_cov, lagged_cov
from hal9.metrics.partitions import mask_to_partition
from hal9.metrics.similarity import layer_samples
from tests.metrics._systems import spd, stable

F64 = torch.float64
A = stable(3, 1, 0.7)
Q = spd(3, 2)
COV = spd(4, 3)
X = torch.randn(60, 3, generator=torch.Generator().manual_seed(4), dtype=F64)
Y = torch.randn(60, 2, generator=torch.Generator().manual_seed(5), dtype=F64)
MASKS = torch.tensor([[True, False, False], [True, True, False]])


def _forms(t: torch.Tensor) -> list[Any]:
    """The same values as a numpy array and as nested lists."""
    return [t.numpy(), t.tolist()]


# name → (function, tensor arguments); array-likes are substituted for every tensor argument at once.
CASES: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
    "integrated_information": (lambda a, q: metrics.integrated_information(a, q, measure="r"), (A, Q)),
    "integrated_information/star": (
        lambda a, q: metrics.integrated_information(a, q, measure="star", partition=[0, 1, 2]),
        (A, Q),
    ),
    "integrated_information_from_data": (
        lambda x: metrics.integrated_information_from_data(x, measure="si"),
        (X,),
    ),
    "stationary_cov": (metrics.stationary_cov, (A, Q)),
    "var1_covariances": (metrics.var1_covariances, (A, Q)),
    "lagged_cov": (lagged_cov, (A, Q)),
    "sample_covariances": (metrics.sample_covariances, (X,)),
    "gaussian_entropy": (metrics.gaussian_entropy, (COV,)),
    "gaussian_mi": (lambda c: metrics.gaussian_mi(c, [0, 2], [1]), (COV,)),
    "conditional_cov": (conditional_cov, (COV[:2, :2], COV[:2, 2:], COV[2:, 2:])),
    "check_stable": (check_stable, (A,)),
    "check_covariance": (check_covariance, (Q,)),
    "phi_geometric": (lambda a, q: metrics.phi_geometric(a, q, ((0, 1), (2,))), (A, Q)),
    "phi_geometric_batch": (metrics.phi_geometric_batch, (A, Q, MASKS)),
    "phi_star": (lambda a, q: metrics.phi_star(a, q, ((0,), (1,), (2,))), (A, Q)),
    "phi_star_batch": (metrics.phi_star_batch, (A, Q, MASKS)),
    "mismatched_information": (
        lambda a, q: metrics.mismatched_information(a, q, ((0,), (1, 2)), 0.5),
        (A, Q),
    ),
    "multi_information": (metrics.multi_information, (COV,)),
    "neural_complexity": (metrics.neural_complexity, (COV,)),
    "linear_cka": (metrics.linear_cka, (X, Y)),
    "layer_cka_matrix": (lambda x, y: metrics.layer_cka_matrix({1: x, 2: y}), (X, Y)),
    "adjacent_alignment": (metrics.adjacent_alignment, (COV,)),
    "layer_samples": (lambda x: layer_samples("rec", x), (X,)),
    "mask_to_partition": (mask_to_partition, (MASKS[1],)),
}


def _assert_same(a: Any, b: Any) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape
        assert torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0))
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _assert_same(getattr(a, f.name), getattr(b, f.name))
    elif isinstance(a, tuple | list):
        assert type(a) is type(b) and len(a) == len(b)
        for u, v in zip(a, b, strict=True):
            _assert_same(u, v)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("form", ["numpy", "list"])
def test_array_likes_give_the_tensor_result(name: str, form: str) -> None:
    fn, args = CASES[name]
    expected = fn(*args)
    converted = [_forms(a)[0 if form == "numpy" else 1] for a in args]
    _assert_same(expected, fn(*converted))


def test_the_issue_example() -> None:
    # Formerly "A must be an (n, n) tensor, got (3, 3)".
    res = metrics.integrated_information(np.eye(3) * 0.5, measure="wms")
    ref = metrics.integrated_information(torch.eye(3, dtype=F64) * 0.5, measure="wms")
    assert res == ref
    assert res.value == pytest.approx(0.0, abs=1e-14)  # independent AR(1) nodes: Φ_WMS = 0


def test_dtype_and_device_rules() -> None:
    f32 = COV.float()
    assert metrics.multi_information(f32).dtype == torch.float32  # tensors keep their dtype
    assert metrics.multi_information(f32.numpy()).dtype == torch.float64  # non-tensors become float64
    assert as_tensor(np.arange(3), "v").dtype == F64
    assert as_tensor(np.arange(3), "v", dtype=torch.int64).dtype == torch.int64
    t = torch.zeros(2, dtype=torch.float16)
    assert as_tensor(t, "v") is t
    sigma, lag = metrics.var1_covariances(A.float(), Q.numpy())  # numpy noise_cov follows A's dtype
    assert sigma.dtype == lag.dtype == torch.float32


BAD = [
    ([[1.0, 2.0], [3.0]], "rectangular array"),
    ([["a", "b"], ["c", "d"]], "array of numbers"),
    ([[1.0, None], [0.0, 1.0]], "array of numbers"),
    ("abc", "array of numbers, got str"),
    (None, "array of numbers, got NoneType"),
    (np.array([[1 + 2j, 0], [0, 1]]), "must be real"),
    (np.array([[True, False], [False, True]]), "numeric \\(not boolean\\)"),
]


@pytest.mark.parametrize(("bad", "match"), BAD)
def test_as_tensor_rejects_bad_input_naming_it(bad: object, match: str) -> None:
    with pytest.raises(ValueError, match=f"^my_arg .*{match}"):
        as_tensor(bad, "my_arg")


def test_as_tensor_checks_ndim_and_bool() -> None:
    with pytest.raises(ValueError, match=r"^v must be 2-D, got shape \(3,\)"):
        as_tensor([1.0, 2.0, 3.0], "v", ndim=2)
    with pytest.raises(ValueError, match=r"^v must be 2-D or 3-D, got shape \(\)"):
        as_tensor(torch.tensor(1.0), "v", ndim=(2, 3))
    with pytest.raises(ValueError, match=r"^m must be boolean"):
        as_tensor([0, 1], "m", dtype=torch.bool)


RAGGED = [[0.5, 0.0, 0.0], [0.0, 0.5]]
NAMED = [
    (lambda: metrics.integrated_information(RAGGED, measure="wms"), "A"),
    (lambda: metrics.integrated_information(A, RAGGED, measure="wms"), "noise_cov"),
    (lambda: metrics.integrated_information_from_data(RAGGED, measure="wms"), "x"),
    (lambda: metrics.stationary_cov(A, RAGGED), "noise_cov"),
    (lambda: metrics.var1_covariances(RAGGED), "A"),
    (lambda: metrics.sample_covariances(RAGGED), "x"),
    (lambda: metrics.gaussian_entropy(RAGGED), "cov"),
    (lambda: metrics.gaussian_mi(RAGGED, [0], [1]), "cov"),
    (lambda: conditional_cov(Q[:1, :1], RAGGED, Q[1:, 1:]), "cov_xy"),
    (lambda: lagged_cov(A, RAGGED), "sigma"),
    (lambda: metrics.phi_geometric(RAGGED), "A"),
    (lambda: metrics.phi_geometric_batch(A, Q, [[True, False], [False]]), "masks"),
    (lambda: metrics.phi_star(A, RAGGED, ((0,), (1, 2))), "noise_cov"),
    (lambda: metrics.phi_star_batch(A, None, [[1, 0, 0]]), "masks"),
    (lambda: metrics.mismatched_information(RAGGED), "A"),
    (lambda: metrics.multi_information(RAGGED), "cov"),
    (lambda: metrics.neural_complexity(RAGGED), "cov"),
    (lambda: metrics.linear_cka(X, RAGGED), "y"),
    (lambda: metrics.layer_cka_matrix({1: X, 2: RAGGED}), r"recordings\[2\]"),
    (lambda: metrics.adjacent_alignment(RAGGED), "cka_matrix"),
    (lambda: mask_to_partition([0.0, 1.0]), "mask"),
]


@pytest.mark.parametrize(("call", "arg"), NAMED)
def test_bad_array_arguments_are_named(call: Callable[[], Any], arg: str) -> None:
    with pytest.raises(ValueError, match=f"^{arg} must be"):
        call()


def test_shape_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"^A must be an \(n, n\) matrix, got shape \(3,\)"):
        metrics.integrated_information([0.1, 0.2, 0.3], measure="wms")
    with pytest.raises(ValueError, match=r"^x must be a \(T, n\) or \(B, T, n\) array, got shape \(5,\)"):
        metrics.integrated_information_from_data(np.zeros(5), measure="wms")
    with pytest.raises(ValueError, match=r"^noise_cov must have shape \(3, 3\)"):
        metrics.phi_geometric(A, np.eye(2), ((0,), (1, 2)))
    with pytest.raises(ValueError, match=r"^cov_xy must be \(\.\.\., 1, 2\)"):
        conditional_cov(Q[:1, :1], np.zeros((2, 2)), Q[1:, 1:])
    with pytest.raises(ValueError, match=r"^cka_matrix must be a square \(K, K\) matrix"):
        metrics.adjacent_alignment(np.zeros((2, 3)))
