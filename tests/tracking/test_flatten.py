"""flatten_config: nested configs -> flat ``str -> str`` MLflow params."""

from __future__ import annotations

import enum

import numpy as np
import pydantic
import pytest
import torch

from hal9.tracking import flatten_config


class Rule(enum.Enum):
    HEBB = "hebb"


class Connectivity(pydantic.BaseModel):
    fan_in: int = 8
    sigma: float = 0.25
    rule: Rule = Rule.HEBB


class Layer(pydantic.BaseModel):
    size: int


class Config(pydantic.BaseModel):
    name: str = "sweep"
    sizes: tuple[int, ...] = (128, 64, 32)
    tags: list[str] = ["a,b", "c"]
    dt: float = 1e-3
    use_gpu: bool = False
    seed: int | None = None
    connectivity: Connectivity = Connectivity()
    layers: list[Layer] = [Layer(size=3), Layer(size=2)]
    extra: dict[str, object] = {}


def test_nested_model_flattens_to_exact_dict() -> None:
    assert flatten_config(Config()) == {
        "name": "sweep",
        "sizes": "[128,64,32]",
        "tags": '["a,b","c"]',
        "dt": "0.001",
        "use_gpu": "False",
        "seed": "None",
        "connectivity.fan_in": "8",
        "connectivity.sigma": "0.25",
        "connectivity.rule": "hebb",
        "layers.0.size": "3",
        "layers.1.size": "2",
        "extra": "{}",
    }


def test_key_order_follows_field_order() -> None:
    assert list(flatten_config(Connectivity())) == ["fan_in", "sigma", "rule"]


def test_mapping_with_arrays_tensors_and_numpy_scalars() -> None:
    config = {
        "a": {"b": {"c": np.float32(0.5)}},
        "w": np.array([[1, 2], [3, 4]]),
        "t": torch.tensor([1.5, 2.0]),
        "n": np.int64(7),
        "inf": [float("inf"), float("nan")],
        3: "int key",
    }
    assert flatten_config(config) == {  # type: ignore[arg-type]
        "a.b.c": "0.5",
        "w": "[[1,2],[3,4]]",
        "t": "[1.5,2.0]",
        "n": "7",
        "inf": "[inf,nan]",
        "3": "int key",
    }


def test_long_values_are_truncated_with_a_marker() -> None:
    flat = flatten_config({"long": "x" * 10_000, "edge": "y" * 6000})
    assert len(flat["long"]) == 6000
    assert flat["long"].endswith("...[truncated]")
    assert flat["long"].startswith("x" * 5000)
    assert flat["edge"] == "y" * 6000


def test_colliding_keys_raise() -> None:
    with pytest.raises(ValueError, match=r"'a\.b' appears twice"):
        flatten_config({"a.b": 1, "a": {"b": 2}})


@pytest.mark.parametrize("key", ["bad$key", "", "a/../b"])
def test_invalid_keys_are_named(key: str) -> None:
    with pytest.raises(ValueError, match="param key"):
        flatten_config({key: 1})


def test_rejects_other_types() -> None:
    with pytest.raises(TypeError, match=r"pydantic\.BaseModel or a Mapping"):
        flatten_config([("a", 1)])  # type: ignore[arg-type]


def test_empty_config() -> None:
    assert flatten_config({}) == {}
