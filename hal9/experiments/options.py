"""Option lists of the recipes, read from where they are declared (each list is declared once).

The CLI's ``--measure`` / ``--criterion`` / ``--kernel`` choices and the service's job schemas derive from
:func:`measure_names`, :func:`criterion_names` and :func:`kernel_names`, so a measure registered with
:func:`hal9.metrics.register_measure` is offered everywhere without another list to update. The scheduler
names are :data:`hal9.tactical.SCHEDULERS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

__all__ = ["criterion_aliases", "criterion_names", "kernel_names", "literal_of", "measure_names"]


def measure_names() -> tuple[str, ...]:
    """Names :func:`hal9.metrics.integrated_information` accepts: :func:`hal9.metrics.measure_names`.

    The built-in measures (``hal9.metrics.Measure``), then the registered ones in registration order; read
    at every call, so a measure registered later is included.

    Examples
    --------
    >>> measure_names()[:6]
    ('mi', 'wms', 'r', 'si', 'geometric', 'star')
    """
    from hal9.metrics import measure_names as registered

    return registered()


def criterion_names() -> tuple[str, ...]:
    """Criteria of the minimum-information-bipartition search: ``get_args(hal9.metrics.Criterion)``.

    Examples
    --------
    >>> criterion_names()
    ('min', 'normalized')
    """
    from hal9.metrics import Criterion

    return tuple(get_args(Criterion))


def criterion_aliases() -> Mapping[str, str]:
    """Old spellings of criteria still accepted (old → new): :data:`hal9.metrics.CRITERION_ALIASES`.

    Examples
    --------
    >>> dict(criterion_aliases())
    {'normalised': 'normalized'}
    """
    from hal9.metrics import CRITERION_ALIASES

    return CRITERION_ALIASES


def kernel_names() -> tuple[str, ...]:
    """The named compatibility kernels of self-organization: :data:`hal9.selforg.KERNELS`.

    Examples
    --------
    >>> kernel_names()
    ('hal9', 'gaussian')
    """
    from hal9.selforg import KERNELS

    return tuple(KERNELS)


def literal_of(names: Sequence[str]) -> Any:
    """``typing.Literal[*names]``, built at run time for a pydantic field (its JSON schema is an ``enum``).

    Parameters
    ----------
    names : sequence of str
        The allowed values, at least one.

    Raises
    ------
    ValueError
        If ``names`` is empty.

    Examples
    --------
    >>> get_args(literal_of(("min", "normalized")))
    ('min', 'normalized')
    """
    values = tuple(names)
    if not values:
        raise ValueError("names must not be empty")
    return Literal[values]
