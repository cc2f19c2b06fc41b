"""Flatten nested configurations into MLflow parameters (flat ``str -> str`` maps)."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pydantic
import torch

from hal9.tracking._values import MAX_PARAM_VALUE_LENGTH, truncate, validate_key

__all__ = ["flatten_config"]


def flatten_config(config: pydantic.BaseModel | Mapping[str, Any]) -> dict[str, str]:
    """Flatten a nested configuration into MLflow parameters.

    Nested pydantic models and mappings become dotted keys (``connectivity.fan_in``). Lists and tuples
    of scalars are rendered compactly (``[128,64,32]``); lists that contain models or mappings are
    flattened with their index as a key part (``layers.0.size``). Every value is converted to ``str``,
    because MLflow stores parameters as strings; values longer than 6000 characters (MLflow's limit)
    are truncated and end with ``...[truncated]``.

    Parameters
    ----------
    config : pydantic.BaseModel or Mapping[str, Any]
        The configuration. Models are read with ``model_dump()``, so excluded fields stay excluded.

    Returns
    -------
    dict[str, str]
        Flat parameters, keys in the order the fields are declared.

    Raises
    ------
    TypeError
        If ``config`` is neither a pydantic model nor a mapping.
    ValueError
        If two entries flatten to the same key (``{"a.b": 1, "a": {"b": 2}}``), or a key is not a valid
        MLflow name (letters, digits, ``_ - . / :`` and spaces, at most 250 characters).

    Notes
    -----
    Scalars are rendered with ``str`` (``True``, ``0.1``, ``None``); enum members by their value; strings
    inside lists are JSON-quoted so that ``["a,b"]`` and ``["a", "b"]`` stay distinct. Cost is linear in
    the number of leaves.

    Examples
    --------
    >>> import pydantic
    >>> class Conn(pydantic.BaseModel):
    ...     fan_in: int = 8
    ...     sigma: float = 0.5
    >>> class Cfg(pydantic.BaseModel):
    ...     sizes: tuple[int, ...] = (128, 64)
    ...     connectivity: Conn = Conn()
    >>> flatten_config(Cfg())
    {'sizes': '[128,64]', 'connectivity.fan_in': '8', 'connectivity.sigma': '0.5'}
    >>> flatten_config({"lr": 1e-3, "opt": {"name": "adam"}})
    {'lr': '0.001', 'opt.name': 'adam'}
    """
    if isinstance(config, pydantic.BaseModel):
        tree: Mapping[str, Any] = config.model_dump(mode="python")
    elif isinstance(config, Mapping):
        tree = config
    else:
        raise TypeError(
            f"config must be a pydantic.BaseModel or a Mapping, got {type(config).__name__}; "
            "wrap plain values in a dict, e.g. {'lr': 0.01}"
        )
    out: dict[str, str] = {}
    _flatten_into(out, "", tree)
    return out


def _flatten_into(out: dict[str, str], prefix: str, node: Any) -> None:
    if isinstance(node, pydantic.BaseModel):
        node = node.model_dump(mode="python")
    if isinstance(node, Mapping):
        if not node and prefix:
            _put(out, prefix, "{}")
        for key, value in node.items():
            _flatten_into(out, f"{prefix}.{key}" if prefix else str(key), value)
    elif isinstance(node, list | tuple) and any(isinstance(v, Mapping | pydantic.BaseModel) for v in node):
        for index, value in enumerate(node):
            _flatten_into(out, f"{prefix}.{index}", value)
    else:
        _put(out, prefix, render_value(node))


def _put(out: dict[str, str], key: str, value: str) -> None:
    validate_key(key, what="param")
    if key in out:
        raise ValueError(f"config key {key!r} appears twice after flattening (a dotted key and a nested one)")
    out[key] = truncate(value, MAX_PARAM_VALUE_LENGTH)


def render_value(value: Any) -> str:
    """Render one leaf value as the string MLflow stores (compact for sequences and arrays)."""
    if isinstance(value, enum.Enum):
        return render_value(value.value)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return "[" + ",".join(_render_item(v) for v in items) + "]"
    return str(value)


def _render_item(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else render_value(value)
