"""Renamed public names keep working for one release and warn (hal9.core.deprecation)."""

from enum import StrEnum

import pytest

from hal9.core import REMOVED_IN, RenamingEnumType, module_aliases, renamed, renamed_value
from hal9.selforg import EventKind


def normalize(x: float) -> float:
    return x / 2


def test_renamed_function_warns_and_behaves_the_same() -> None:
    normalise = renamed("normalise", normalize)
    with pytest.deprecated_call(
        match=rf"'normalise' is deprecated and will be removed in hal9 {REMOVED_IN}; use 'normalize'"
    ):
        assert normalise(3.0) == normalize(3.0)
    assert normalise.__name__ == "normalise"


def test_module_aliases_serve_old_names_and_refuse_unknown_ones() -> None:
    getattr_ = module_aliases({"__name__": "pkg.mod", "normalize": normalize}, {"normalise": "normalize"})
    with pytest.deprecated_call(match=r"'pkg\.mod\.normalise' is deprecated .* use 'pkg\.mod\.normalize'"):
        assert getattr_("normalise") is normalize
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        getattr_("nope")


def test_renamed_value_maps_old_spellings_only() -> None:
    aliases = {"normalised": "normalized"}
    with pytest.deprecated_call(match="value of criterion 'normalised'"):
        assert renamed_value("normalised", aliases, field="criterion") == "normalized"
    assert renamed_value("min", aliases, field="criterion") == "min"
    assert renamed_value(3, aliases, field="criterion") == 3


class Kind(StrEnum, metaclass=RenamingEnumType):
    __renamed__ = {"COLOUR": "COLOR"}  # noqa: RUF012 - a test enum
    COLOR = "color"
    SIZE = "size"


def test_enum_members_and_values_resolve_with_a_warning() -> None:
    assert list(Kind) == [Kind.COLOR, Kind.SIZE]  # the old name is not a member
    with pytest.deprecated_call(match=r"'Kind\.COLOUR' is deprecated"):
        assert Kind.COLOUR is Kind.COLOR
    with pytest.deprecated_call(match="Kind value 'colour'"):
        assert Kind("colour") is Kind.COLOR
    assert Kind("size") is Kind.SIZE
    with pytest.raises(ValueError, match="'zzz' is not a valid Kind"):
        Kind("zzz")
    with pytest.raises(AttributeError):
        _ = Kind.ZZZ


def test_event_kind_british_spelling_is_an_alias() -> None:
    with pytest.deprecated_call():
        assert EventKind.HIERARCHY_STABILISED is EventKind.HIERARCHY_STABILIZED  # type: ignore[attr-defined]
    with pytest.deprecated_call():
        assert EventKind("hierarchy_stabilised") is EventKind.HIERARCHY_STABILIZED


def test_renamed_keys_read_old_names_and_survive_copies() -> None:
    import copy
    import dataclasses
    import json
    import pickle

    from hal9.core import RenamedKeys

    d = RenamedKeys({"utilization_mean": 0.5}, {"utilisation_mean": "utilization_mean"})
    with pytest.deprecated_call(match="'utilisation_mean' is deprecated"):
        assert d["utilisation_mean"] == 0.5
    with pytest.deprecated_call(match="'utilisation_mean' is deprecated"):
        assert d.get("utilisation_mean") == 0.5
    assert d.get("nope", 3) == 3 and "utilisation_mean" not in d
    assert json.loads(json.dumps(d)) == {"utilization_mean": 0.5}
    with pytest.raises(KeyError):
        _ = d["nope"]
    for clone in (copy.copy(d), copy.deepcopy(d), pickle.loads(pickle.dumps(d))):
        assert dict(clone) == dict(d)

    @dataclasses.dataclass
    class Holder:
        metrics: dict

    assert dataclasses.asdict(Holder(d)) == {"metrics": {"utilization_mean": 0.5}}


def test_built_in_neuron_models_cannot_be_unregistered() -> None:
    from hal9.core import unregister_neuron_model

    with pytest.raises(ValueError, match="built-in neuron model 'rate' cannot be unregistered"):
        unregister_neuron_model("rate")


def test_the_old_import_paths_of_the_neuron_configs_warn() -> None:
    import importlib
    import sys

    from hal9.core import RateConfig

    with pytest.deprecated_call(match="hal9.core.config.RateConfig"):
        from hal9.core.config import RateConfig as Old
    assert Old is RateConfig
    sys.modules.pop("hal9.core.dynamics", None)
    with pytest.deprecated_call(match="hal9.core.dynamics is deprecated"):
        importlib.import_module("hal9.core.dynamics")
