import pytest
from pydantic import ValidationError

from hal9.core import ConnectivityConfig, HierarchyConfig, LIFConfig, RateConfig


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"base_size": 10, "n_layers": 0}, "n_layers"),
        ({"base_size": 10, "n_layers": 10}, "n_layers"),
        ({"base_size": 10, "ratio": 1.0}, "ratio"),
        ({"base_size": 10, "ratio": float("inf")}, "ratio"),
        ({"base_size": 0}, "base_size"),
        ({"sizes": (3, 0), "n_layers": 2}, "sizes"),
        ({"sizes": (3, -1), "n_layers": 2}, "sizes"),
        ({"sizes": (3, 2, 1), "n_layers": 2}, "sizes"),
        ({"base_size": 10, "sizes": (10,), "n_layers": 1}, "base_size or sizes"),
        ({}, "base_size or sizes"),
        ({"base_size": 10, "colour": 3}, "colour"),
    ],
)
def test_hierarchy_config_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        HierarchyConfig(**kwargs)


@pytest.mark.parametrize(
    ("model", "kwargs", "field"),
    [
        (ConnectivityConfig, {"fan_in_within": -1}, "fan_in_within"),
        (ConnectivityConfig, {"fan_in_policy": "maybe"}, "fan_in_policy"),
        (ConnectivityConfig, {"gain": float("nan")}, "gain"),
        (RateConfig, {"tau": -1.0}, "tau"),
        (RateConfig, {"tau": (1.0, 0.0)}, "tau"),
        (RateConfig, {"dt": 0.0}, "dt"),
        (RateConfig, {"activation": "softplus"}, "activation"),
        (LIFConfig, {"tau_mem": 0.0}, "tau_mem"),
        (LIFConfig, {"v_th": 0.0, "v_reset": 0.0}, "v_th"),
        (LIFConfig, {"refractory": -1.0}, "refractory"),
    ],
)
def test_neuron_and_connectivity_errors_name_the_field(model: type, kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        model(**kwargs)


def test_layer_sizes_resolution() -> None:
    assert HierarchyConfig(base_size=1000, n_layers=4, ratio=2.0).layer_sizes() == (1000, 500, 250, 125)
    assert HierarchyConfig(sizes=(5, 4), n_layers=2).layer_sizes() == (5, 4)


def test_configs_are_frozen_and_dump() -> None:
    cfg = HierarchyConfig(base_size=100, n_layers=3)
    with pytest.raises(ValidationError):
        cfg.base_size = 3  # type: ignore[misc]
    dumped = cfg.model_dump()
    assert dumped["connectivity"]["fan_in_within"] == 16
    assert HierarchyConfig.model_validate(dumped) == cfg


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("tpu", r"device must be 'cpu' or 'cuda\[:i\]', got 'tpu'"),
        ("bogus", r"device must be 'cpu' or 'cuda\[:i\]', got 'bogus'"),
        (3, r"device must be 'cpu' or 'cuda\[:i\]', got 3"),
    ],
)
def test_bad_device_gives_one_message_everywhere(device: object, message: str) -> None:
    from hal9.core import (
        HierarchyNetwork,
        RateConfig,
        build_network,
        check_device,
        rate_params,
        resolve_device,
    )

    cfg = HierarchyConfig(base_size=50, n_layers=2)
    for call in (
        lambda: resolve_device(device),
        lambda: check_device(device),  # type: ignore[arg-type]
        lambda: build_network(cfg, device=device),  # type: ignore[arg-type]
        lambda: rate_params(RateConfig(), (3, 2), device=device),  # type: ignore[arg-type]
        lambda: HierarchyNetwork(cfg, device=device),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError, match=message):
            call()


def test_cuda_device_beyond_the_machine_is_refused() -> None:
    import torch

    from hal9.core import resolve_device

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    wanted = f"cuda:{count}"  # one past the last device (cuda:0 on a machine without CUDA)
    expected = "no CUDA device is available" if count == 0 else f"only {count} CUDA device"
    with pytest.raises(ValueError, match=expected):
        resolve_device(wanted)
    assert resolve_device(None) == torch.device("cpu") and resolve_device("cpu").type == "cpu"
