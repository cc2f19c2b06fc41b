import pytest
import torch
from pydantic import ValidationError

from hal9.core import adjacency_violation
from hal9.selforg.events import EventKind
from hal9.selforg.organizer import OrganizeConfig, SelfOrganizer


@pytest.fixture(scope="module")
def fitted() -> SelfOrganizer:
    return SelfOrganizer(OrganizeConfig(neurons=1500, k=10, n_null=2, seed=3)).fit()


def test_pipeline_results_and_events(fitted: SelfOrganizer) -> None:
    org = fitted
    lay = org.layering_
    assert 2 <= lay.n_layers <= 9
    assert int(lay.sizes.sum()) == 1500
    # layers are ordered by mean speed, fastest first (L1 reflexive)
    speeds = lay.feature_means[:, 0]
    assert bool((speeds[:-1] >= speeds[1:]).all())
    net = org.conversion_.network
    assert net.n_neurons == 1500 and adjacency_violation(net.weight, net.labels) == 0.0
    kinds = [e.kind for e in org.events.events]
    assert kinds[:2] == [EventKind.NEURONS_ADDED, EventKind.DISCOVERY_DONE]
    assert kinds.count(EventKind.LAYER_EMERGED) == lay.n_layers
    assert kinds[-1] == EventKind.HIERARCHY_STABILIZED
    assert org.events.events[1].data["edges"] == 1500 * 10
    s = org.summary()
    assert s["n_layers"] == lay.n_layers and "rewired/modularity" in s["null"]
    assert set(org.timings_) == {"population", "discovery", "layering", "substrate"}


def test_real_graph_beats_rewired_null_on_modularity(fitted: SelfOrganizer) -> None:
    # a kNN graph of features is modular; the rewiring null is not (caveat: so is any kNN point cloud —
    # see docs/self_organization.md)
    stat = fitted.null_.stats["rewired/modularity"]
    assert stat.real > stat.mean + 3 * max(stat.sd, 1e-3)


def test_removal_heals_and_layers_stay_stable(fitted: SelfOrganizer) -> None:
    # its own organizer (remove() changes it); without the null model the layering is the same as fitted's
    org = SelfOrganizer(OrganizeConfig(neurons=1500, k=10, n_null=0, seed=3)).fit()
    assert torch.equal(org.layering_.labels, fitted.layering_.labels)
    st = org.remove(0.1, seed=0)
    assert st.heal is not None
    assert st.removed == 150 and st.heal.graph.n == 1350 and st.added == 0
    # like add(), remove() leaves the organizer describing the new population
    assert org.graph_ is st.heal.graph and org.layering_ is st.layering and org.population_.n == 1350
    assert org.conversion_.network.n_neurons == 1350 and org.summary()["neurons"] == 1350
    assert torch.equal(org.population_.features, fitted.population_.features[st.heal.survivors])
    assert st.heal.bypass_edges > 0
    assert st.ari > 0.8
    src, dst, _ = st.heal.graph.edges()
    assert bool(((st.heal.labels[src] - st.heal.labels[dst]).abs() <= 1).all())
    kinds = [e.kind for e in org.events.events]
    assert EventKind.NEURON_REMOVED in kinds and EventKind.HEALED in kinds


def test_deterministic_under_seed() -> None:
    a = SelfOrganizer(OrganizeConfig(neurons=600, k=8, n_null=0, seed=1)).fit()
    b = SelfOrganizer(OrganizeConfig(neurons=600, k=8, n_null=0, seed=1)).fit()
    assert torch.equal(a.graph_.neighbors, b.graph_.neighbors)
    assert torch.equal(a.layering_.labels, b.layering_.labels)
    assert a.null_ is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"neurons": 1}, "neurons"),
        ({"neurons": 10, "k": 10}, "k"),
        ({"n_layers": 10}, "n_layers"),
        ({"k": 0}, "k"),
        ({"mode": "fast"}, "mode"),
        ({"n_null": 1}, "n_null"),
    ],
)
def test_bad_config(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        OrganizeConfig(**kwargs)


def test_remove_needs_fit_and_valid_fraction(fitted: SelfOrganizer) -> None:
    with pytest.raises(ValueError, match="fit"):
        SelfOrganizer(OrganizeConfig(neurons=100, k=5)).remove(0.1)
    with pytest.raises(ValueError, match="fraction"):
        fitted.remove(1.5)


def test_add_neurons_incrementally() -> None:
    org = SelfOrganizer(OrganizeConfig(neurons=800, k=8, n_null=0, seed=2)).fit()
    n_events = len(org.events)
    st = org.add(80)
    assert org.graph_.n == 880 and org.population_.n == 880
    assert int(org.layering_.sizes.sum()) == 880 and org.conversion_.network.n_neurons == 880
    assert org.layering_ is st.layering and st.heal is None and (st.added, st.removed) == (80, 0)
    assert -1.0 <= st.ari <= 1.0 and st.n_layers_before >= 2
    kinds = [e.kind for e in org.events.events[n_events:]]
    assert kinds[:2] == [EventKind.NEURONS_ADDED, EventKind.DISCOVERY_DONE]
    assert org.events.events[n_events + 1].data["mode"] == "incremental"
    # a second add draws other neurons (the default seed moves with each add/remove)
    org.add(80)
    first, second = org.population_.features[800:880], org.population_.features[880:960]
    assert not torch.equal(first, second)
    with pytest.raises(ValueError, match="count"):
        org.add(0)
    with pytest.raises(ValueError, match="seed"):
        org.add(5, seed=-1)


def test_stability_separates_a_new_k_from_moved_layers() -> None:
    from sklearn.metrics import adjusted_rand_score

    from hal9.selforg.layering import emergent_layers

    org = SelfOrganizer(OrganizeConfig(neurons=3000, k=16, n_null=0, seed=0)).fit()
    features = org.population_.features
    st = org.remove(0.1)
    assert st.heal is not None
    # this seeded case changes the data-chosen K (2 → 3): the same-K ARI is computed by a second layering
    assert (st.n_layers_before, st.layering.n_layers) == (2, 3)
    same_k = emergent_layers(
        st.heal.graph, features[st.heal.survivors], n_layers=2, criterion=org.config.criterion
    )
    want = adjusted_rand_score(st.heal.labels.numpy(), same_k.labels.numpy())
    assert st.ari_same_k == pytest.approx(want, abs=1e-12)
    assert st.ari == pytest.approx(adjusted_rand_score(st.heal.labels.numpy(), st.layering.labels.numpy()))
    assert st.ari_same_k > st.ari
    last = [e for e in org.events.events if e.kind == EventKind.HIERARCHY_STABILIZED][-1]
    assert last.data["ari_same_k"] == st.ari_same_k


def test_layering_seed_does_not_depend_on_the_null_model() -> None:
    # the layering of fit() uses config.seed whether or not the null model runs
    a = SelfOrganizer(OrganizeConfig(neurons=600, k=8, n_null=0, seed=5)).fit()
    b = SelfOrganizer(OrganizeConfig(neurons=600, k=8, n_null=2, seed=5)).fit()
    assert torch.equal(a.layering_.labels, b.layering_.labels)


def test_every_method_that_needs_a_fit_says_so() -> None:
    org = SelfOrganizer(OrganizeConfig(neurons=100, k=5))
    for call, name in ((lambda: org.summary(), "summary"), (lambda: org.add(3), "add")):
        with pytest.raises(ValueError, match=rf"not fitted: call fit\(\) before {name}\(\)"):
            call()


def test_kernel_accepts_a_callable_and_device_is_validated() -> None:
    from hal9.selforg import gaussian_kernel

    kern = gaussian_kernel(0.2)
    by_name = SelfOrganizer(
        OrganizeConfig(neurons=300, k=6, n_null=0, kernel="gaussian", bandwidth=0.2)
    ).fit()
    by_callable = SelfOrganizer(OrganizeConfig(neurons=300, k=6, n_null=0, kernel=kern)).fit()
    assert torch.equal(by_name.graph_.neighbors, by_callable.graph_.neighbors)
    name = OrganizeConfig(kernel=kern).model_dump()["kernel"]  # MLflow params get a name, not a function
    assert name == "hal9.selforg.kernels.gaussian_kernel(bandwidth=0.2, columns=(0, 1))"
    with pytest.raises(ValidationError, match="kernel"):
        OrganizeConfig(kernel="cosine")
    with pytest.raises(ValidationError, match="device"):
        OrganizeConfig(device="tpu")
