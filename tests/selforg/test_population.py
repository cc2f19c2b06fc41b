import pytest
import torch

from hal9.core.sampling import make_generator
from hal9.selforg.population import Population, primordial_population, validate_population


def test_columns_ranges_and_accessors() -> None:
    pop = primordial_population(50_000, seed=3)
    assert pop.feature_names == ("speed", "complexity", "energy")
    assert pop.features.shape == (50_000, 3) and pop.features.dtype == torch.float32 and pop.n == 50_000
    for col in (pop.speed, pop.complexity):
        assert float(col.min()) >= 0.1 and float(col.max()) < 1.0
        # U[0.1, 1): mean 0.55, sd 0.9/sqrt(12) ≈ 0.26 → standard error of the mean ≈ 0.0012
        assert abs(float(col.double().mean()) - 0.55) < 0.006
        assert abs(float(col.double().std()) - 0.9 / 12**0.5) < 0.006
    assert torch.equal(pop.energy, torch.ones(50_000))
    # speed and complexity are independent draws, not the same column
    assert abs(float(torch.corrcoef(torch.stack([pop.speed, pop.complexity]))[0, 1])) < 0.03


def test_seed_and_generator_determinism() -> None:
    a = primordial_population(100, seed=7)
    b = primordial_population(100, generator=make_generator(7))
    c = primordial_population(100, seed=8)
    assert torch.equal(a.features, b.features)
    assert not torch.equal(a.features, c.features)
    with pytest.raises(ValueError, match="seed or generator"):
        primordial_population(100, seed=1, generator=make_generator(1))


def test_energy_tensor_extra_features_and_dtype() -> None:
    e = torch.linspace(0.0, 1.0, 10)
    pop = primordial_population(
        10,
        seed=0,
        dtype=torch.float64,
        energy=e,
        extra_features={"size": lambda n, g: torch.rand(n, generator=g) + 5.0},
    )
    assert pop.feature_names == ("speed", "complexity", "energy", "size")
    assert pop.dtype == torch.float64
    assert torch.equal(pop.energy, e.double())
    assert float(pop.feature("size").min()) >= 5.0
    # the extra sampler draws after s and c, so the base columns do not change
    base = primordial_population(10, seed=0, dtype=torch.float64, energy=e)
    assert torch.equal(pop.features[:, :3], base.features)


def test_bad_arguments() -> None:
    for n in (0, 1, -3, True, 2.5):
        with pytest.raises(ValueError, match="n must"):
            primordial_population(n)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="energy"):
        primordial_population(5, energy=torch.ones(4))
    with pytest.raises(ValueError, match=r"extra_features\['x'\]"):
        primordial_population(5, extra_features={"x": lambda n, g: torch.zeros(n + 1)})
    with pytest.raises(ValueError, match="already a feature"):
        primordial_population(5, extra_features={"speed": lambda n, g: torch.zeros(n)})
    with pytest.raises(ValueError, match="floating"):
        primordial_population(5, dtype=torch.int64)
    with pytest.raises(ValueError, match="no feature named"):
        primordial_population(5).feature("mass")


def test_population_structure_and_validation() -> None:
    with pytest.raises(ValueError, match=r"\(N, F\)"):
        Population(torch.zeros(4), ("a",))
    with pytest.raises(ValueError, match="names"):
        Population(torch.zeros(4, 2), ("a",))
    with pytest.raises(ValueError, match="distinct"):
        Population(torch.zeros(4, 2), ("a", "a"))
    with pytest.raises(ValueError, match="n >= 2"):
        Population(torch.zeros(1, 2), ("a", "b"))
    x = torch.rand(6, 3)
    x[4, 1] = float("nan")
    pop = Population(x, ("speed", "complexity", "energy"))  # structurally fine
    with pytest.raises(ValueError, match=r"non-finite.*complexity.*neuron 4"):
        validate_population(pop)
    x[4, 1] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        validate_population(pop)
    good = primordial_population(6)
    assert validate_population(good) is good
    moved = good.to(dtype=torch.float64)
    assert moved.dtype == torch.float64 and moved.feature_names == good.feature_names
