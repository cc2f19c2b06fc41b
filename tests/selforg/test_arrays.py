"""numpy arrays and nested lists are accepted wherever hal9.selforg takes arrays, with the tensor results."""

import numpy as np
import pytest
import torch

from hal9.selforg import (
    Population,
    adjusted_rand_index,
    discover,
    emergent_layers,
    extend_graph,
    modularity,
    permute_features,
    primordial_population,
    remove_and_heal,
    to_network,
)


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    pop = primordial_population(300, seed=0)
    graph = discover(pop, 8, seed=0)
    layering = emergent_layers(graph, pop.features, feature_names=pop.feature_names)
    return pop, graph, layering


def test_array_likes_give_the_tensor_results(setup) -> None:  # type: ignore[no-untyped-def]
    pop, graph, layering = setup
    labels = layering.labels
    feats_np = pop.features.numpy()
    for conv in (np.asarray, lambda t: np.asarray(t).tolist()):
        lay = emergent_layers(graph, conv(feats_np), feature_names=pop.feature_names)
        assert torch.equal(lay.labels, labels)
        assert modularity(graph, conv(labels.numpy())) == modularity(graph, labels)
        assert adjusted_rand_index(conv(labels.numpy()), conv(labels.numpy())) == 1.0
        assert torch.equal(permute_features(conv(feats_np), 3), permute_features(pop.features.double(), 3))
        assert (
            to_network(graph, conv(labels.numpy())).network.n_synapses
            == to_network(graph, labels).network.n_synapses
        )
        healed = remove_and_heal(graph, conv(labels.numpy()), conv(np.arange(5)))
        assert torch.equal(
            healed.graph.neighbors, remove_and_heal(graph, labels, torch.arange(5)).graph.neighbors
        )
    new = primordial_population(20, seed=1)
    grown = extend_graph(graph, feats_np, new.features.numpy().tolist())
    assert torch.equal(
        grown.neighbors, extend_graph(graph, pop.features.double(), new.features.double()).neighbors
    )
    p = Population(feats_np, list(pop.feature_names))
    assert p.features.dtype == torch.float64 and p.feature_names == pop.feature_names


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda g, f: emergent_layers(g, [["a", "b"]]), "features must be an array of numbers"),
        (lambda g, f: modularity(g, [[0, 1]]), "labels must be 1-D"),
        (lambda g, f: adjusted_rand_index([0, 1], None), "b must be an array of numbers"),
        (lambda g, f: Population([[1.0], [2.0, 3.0]], ("x",)), "features must be a rectangular array"),
    ],
)
def test_bad_array_likes_name_the_argument(setup, call, match: str) -> None:  # type: ignore[no-untyped-def]
    pop, graph, _ = setup
    with pytest.raises(ValueError, match=match):
        call(graph, pop.features)
