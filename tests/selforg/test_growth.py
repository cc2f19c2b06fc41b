import pytest
import torch

from hal9.selforg.discovery import discover
from hal9.selforg.growth import extend_graph
from hal9.selforg.population import Population, primordial_population


def test_extension_equals_exact_rediscovery() -> None:
    full = primordial_population(700, seed=4)
    old = Population(full.features[:600], full.feature_names)
    g_old = discover(old, 9, mode="exact")
    grown = extend_graph(g_old, old.features, full.features[600:])
    ref = discover(full, 9, mode="exact")
    assert torch.equal(grown.neighbors, ref.neighbors)
    assert torch.equal(grown.weights, ref.weights)


def test_bad_input() -> None:
    pop = primordial_population(50, seed=0)
    g = discover(pop, 4)
    with pytest.raises(ValueError, match="old_features"):
        extend_graph(g, pop.features[:10], pop.features[:5])
    with pytest.raises(ValueError, match="new_features"):
        extend_graph(g, pop.features, pop.features[:5, :2])
    with pytest.raises(ValueError, match="NaN"):
        extend_graph(g, pop.features, torch.full((2, 3), float("nan")))
